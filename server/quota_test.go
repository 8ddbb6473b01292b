package server_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"connectrpc.com/connect"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
	"google.golang.org/protobuf/proto"

	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/server"
	"github.com/trentkms/trent/wire"
)

// TestRequestQuotas: a node started with --request-quotas answers a call
// over its account's quota ThrottlingException, through Connect (code
// resource_exhausted, the AWS name in Trent-Error-Type) and through the
// AWS endpoint (HTTP 400, which the AWS SDKs retry), counting both
// protocols in one bucket and leaving other operations alone; a reload
// (SIGHUP's Reload) lifts the quota without a restart. The rates are so
// low that the one-second bucket refills nothing during the test.
func TestRequestQuotas(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.RequestQuotas = "CreateKey=0.001,cryptographic=0.001"
	s, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	c := kmsVia(s, adminHTTP(t, dir))
	iamc := iamv1connect.NewIdentityServiceClient(adminHTTP(t, dir), "https://"+s.APIAddr())
	ak, err := iamc.CreateAccessKey(ctx, &iamv1.CreateAccessKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	aws := awsClient(t, s, dir, ak.AccessKey.AccessKeyId, ak.AccessKey.SecretAccessKey)

	throttled := func(t *testing.T, err error) {
		t.Helper()
		var ce *connect.Error
		var ae smithy.APIError
		switch {
		case errors.As(err, &ce):
			if ce.Code() != connect.CodeResourceExhausted || ce.Meta().Get(wire.ErrorTypeHeader) != wire.Throttling {
				t.Fatalf("got %v (%s), want ThrottlingException", err, ce.Meta().Get(wire.ErrorTypeHeader))
			}
		case errors.As(err, &ae):
			if ae.ErrorCode() != wire.Throttling {
				t.Fatalf("got %v, want ThrottlingException", err)
			}
		default:
			t.Fatalf("got %v, want ThrottlingException", err)
		}
	}

	key, err := c.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatalf("the first CreateKey is within the quota: %v", err)
	}
	keyID := key.KeyMetadata.KeyId
	_, err = c.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	throttled(t, err)
	_, err = aws.CreateKey(ctx, &awskms.CreateKeyInput{})
	throttled(t, err) // the AWS endpoint counts in the same account's bucket

	// The group: one call of the cryptographic operations, whichever.
	if _, err := aws.Encrypt(ctx, &awskms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("the first cryptographic call is within the quota: %v", err)
	}
	_, err = c.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: keyID, NumberOfBytes: proto.Int32(32)})
	throttled(t, err)
	// An operation under no quota.
	for range 5 {
		if _, err := c.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: keyID}); err != nil {
			t.Fatalf("DescribeKey is under no quota: %v", err)
		}
	}
	// A throttled call changed nothing.
	keys, err := c.ListKeys(ctx, &kmsv1.ListKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Keys) != 1 {
		t.Fatalf("%d keys after one CreateKey within the quota and two over it", len(keys.Keys))
	}

	next := cfg
	next.RequestQuotas = "cryptographic=0.001"
	applied, _, err := s.Reload(next)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(applied, []string{"--request-quotas"}) {
		t.Fatalf("reload applied %v", applied)
	}
	if _, err := c.CreateKey(ctx, &kmsv1.CreateKeyRequest{}); err != nil {
		t.Fatalf("CreateKey after its quota was lifted: %v", err)
	}
	_, err = c.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x")})
	throttled(t, err) // the unchanged quota kept its spent bucket

	next.RequestQuotas = "CreateKey=fast"
	if _, _, err := s.Reload(next); err == nil {
		t.Fatal("an invalid quota was reloaded")
	}
	if _, err := c.CreateKey(ctx, &kmsv1.CreateKeyRequest{}); err != nil {
		t.Fatalf("an invalid reload changed the quotas: %v", err)
	}
}
