package iam_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/trentkms/trent/awsapi"
	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/iam"
	"github.com/trentkms/trent/identity"
)

// awsCredentials adapts AccessKeys to the AWS endpoint: the same lookup,
// with iam's sentinel translated to awsapi's. The server wires this.
type awsCredentials struct{ keys *iam.AccessKeys }

var _ awsapi.Credentials = awsCredentials{}

func (c awsCredentials) Lookup(ctx context.Context, id string) ([]byte, identity.Principal, error) {
	secret, p, err := c.keys.Lookup(ctx, id)
	if errors.Is(err, iam.ErrUnknownAccessKey) {
		err = awsapi.ErrUnknownAccessKey
	}
	return secret, p, err
}

// whoAmI answers ListKeys with the caller's ARN as the only key id.
type whoAmI struct {
	kmsv1connect.UnimplementedKeyManagementServiceHandler
}

func (whoAmI) ListKeys(ctx context.Context, _ *kmsv1.ListKeysRequest) (*kmsv1.ListKeysResponse, error) {
	p, _ := identity.FromContext(ctx)
	return &kmsv1.ListKeysResponse{Keys: []*kmsv1.KeyListEntry{{KeyId: p.ARN}}}, nil
}

// TestAccessKeysAuthenticateSigV4 signs AWS requests with a key made by
// CreateAccessKey (with the AWS SDK's signer) and sends them to the AWS
// endpoint, which verifies them with the derived secret.
func TestAccessKeysAuthenticateSigV4(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bob := e.createUser(t, "bob")
	r, err := e.svc.CreateAccessKey(e.root, &iamv1.CreateAccessKeyRequest{UserName: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	k := r.AccessKey
	h := awsapi.NewHandler(whoAmI{}, awsCredentials{e.svc.AccessKeys()}, awsapi.Options{Region: "us-east-1", Now: func() time.Time { return e.now }})

	call := func(keyID, secret string) (int, string) {
		body := []byte("{}")
		req := httptest.NewRequest(http.MethodPost, "https://kms.us-east-1.amazonaws.com/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
		sum := sha256.Sum256(body)
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret},
			req, hex.EncodeToString(sum[:]), "kms", "us-east-1", e.now)
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code, w.Body.String()
	}

	if code, body := call(k.AccessKeyId, k.SecretAccessKey); code != http.StatusOK || !strings.Contains(body, bob.Arn) {
		t.Fatalf("signed with the new key: %d %s", code, body)
	}
	if code, body := call(k.AccessKeyId, strings.Repeat("x", 40)); code != http.StatusBadRequest || !strings.Contains(body, "InvalidSignatureException") {
		t.Fatalf("wrong secret: %d %s", code, body)
	}
	if code, body := call("AKIAUNKNOWNUNKNOWN00", k.SecretAccessKey); code != http.StatusBadRequest || !strings.Contains(body, "UnrecognizedClient") {
		t.Fatalf("unknown key: %d %s", code, body)
	}
	if _, err := e.svc.DeleteAccessKey(e.root, &iamv1.DeleteAccessKeyRequest{UserName: "bob", AccessKeyId: k.AccessKeyId}); err != nil {
		t.Fatal(err)
	}
	if code, body := call(k.AccessKeyId, k.SecretAccessKey); code != http.StatusBadRequest || !strings.Contains(body, "UnrecognizedClient") {
		t.Fatalf("deleted key: %d %s", code, body)
	}
}
