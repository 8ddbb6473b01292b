package awsapi_test

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/trentkms/trent/awsapi"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/wire"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// sdkEnv is a real service behind the AWS endpoint, with SDK clients for
// the account root and for user bob.
type sdkEnv struct {
	srv  *server
	root *awskms.Client
	bob  *awskms.Client
}

func newSDKEnv(t testing.TB) *sdkEnv {
	t.Helper()
	srv := newServer(t, newService(t), awsapi.Options{})
	return &sdkEnv{srv: srv, root: srv.sdk(rootKeyID, rootSecret), bob: srv.sdk(bobKeyID, bobSecret)}
}

func (e *sdkEnv) createKey(t testing.TB, desc string) *types.KeyMetadata {
	t.Helper()
	out, err := e.root.CreateKey(context.Background(), &awskms.CreateKeyInput{Description: aws.String(desc)})
	if err != nil {
		t.Fatal(err)
	}
	return out.KeyMetadata
}

// wantAPIError checks that err is an API error with the given code, and
// that the SDK did not retry it.
func (e *sdkEnv) wantAPIError(t *testing.T, err error, code string, before int64) smithy.APIError {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("got error code %s (%v), want %s", ae.ErrorCode(), err, code)
	}
	if n := e.srv.requests.Load() - before; n != 1 {
		t.Errorf("the SDK sent %d requests for a %s, want 1 (no retry)", n, code)
	}
	return ae
}

func TestSDKCreateDescribeKey(t *testing.T) {
	t.Parallel()
	e := newSDKEnv(t)
	ctx := context.Background()
	start := time.Now()
	m := e.createKey(t, "sdk key")
	if m.KeyState != types.KeyStateEnabled || !m.Enabled || m.KeySpec != types.KeySpecSymmetricDefault ||
		m.KeyUsage != types.KeyUsageTypeEncryptDecrypt || m.Origin != types.OriginTypeAwsKms ||
		m.KeyManager != types.KeyManagerTypeCustomer || aws.ToString(m.Description) != "sdk key" ||
		aws.ToString(m.AWSAccountId) != account || m.MultiRegion == nil || *m.MultiRegion {
		t.Fatalf("unexpected metadata %+v", m)
	}
	if want := "arn:aws:kms:us-east-1:111122223333:key/" + aws.ToString(m.KeyId); aws.ToString(m.Arn) != want {
		t.Fatalf("Arn %s, want %s", aws.ToString(m.Arn), want)
	}
	if c := aws.ToTime(m.CreationDate); c.Before(start.Add(-time.Second)) || c.After(time.Now().Add(time.Second)) {
		t.Fatalf("CreationDate %v is not now", c)
	}
	if len(m.EncryptionAlgorithms) != 1 || m.EncryptionAlgorithms[0] != types.EncryptionAlgorithmSpecSymmetricDefault {
		t.Fatalf("EncryptionAlgorithms %v", m.EncryptionAlgorithms)
	}
	for _, id := range []string{aws.ToString(m.KeyId), aws.ToString(m.Arn)} {
		out, err := e.root.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.KeyMetadata.KeyId) != aws.ToString(m.KeyId) || !aws.ToTime(out.KeyMetadata.CreationDate).Equal(aws.ToTime(m.CreationDate)) {
			t.Fatalf("DescribeKey(%s) = %+v", id, out.KeyMetadata)
		}
		rid, ok := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
		if !ok || !uuidRE.MatchString(rid) {
			t.Fatalf("request id %q is not a UUID", rid)
		}
	}
}

func TestSDKEnableDisableUpdateDescription(t *testing.T) {
	t.Parallel()
	e := newSDKEnv(t)
	ctx := context.Background()
	id := e.createKey(t, "before").KeyId
	describe := func() *types.KeyMetadata {
		t.Helper()
		out, err := e.root.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: id})
		if err != nil {
			t.Fatal(err)
		}
		return out.KeyMetadata
	}
	if _, err := e.root.UpdateKeyDescription(ctx, &awskms.UpdateKeyDescriptionInput{KeyId: id, Description: aws.String("after")}); err != nil {
		t.Fatal(err)
	}
	if d := aws.ToString(describe().Description); d != "after" {
		t.Fatalf("description %q", d)
	}
	if _, err := e.root.DisableKey(ctx, &awskms.DisableKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	if m := describe(); m.KeyState != types.KeyStateDisabled || m.Enabled {
		t.Fatalf("after DisableKey: state %s enabled %v", m.KeyState, m.Enabled)
	}
	before := e.srv.requests.Load()
	_, err := e.root.Encrypt(ctx, &awskms.EncryptInput{KeyId: id, Plaintext: []byte("x")})
	var de *types.DisabledException
	if !errors.As(err, &de) || !strings.Contains(de.ErrorMessage(), "is disabled") {
		t.Fatalf("Encrypt with a disabled key: %v, want DisabledException", err)
	}
	e.wantAPIError(t, err, "DisabledException", before)
	if _, err := e.root.EnableKey(ctx, &awskms.EnableKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	if m := describe(); m.KeyState != types.KeyStateEnabled || !m.Enabled {
		t.Fatalf("after EnableKey: state %s enabled %v", m.KeyState, m.Enabled)
	}
	if _, err := e.root.Encrypt(ctx, &awskms.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
}

func TestSDKEncryptDecryptWithContext(t *testing.T) {
	t.Parallel()
	e := newSDKEnv(t)
	ctx := context.Background()
	m := e.createKey(t, "")
	ec := map[string]string{"Department": "Engineering", "Project": "Alpha"}
	plaintext := []byte("attack at dawn \x00\xff")
	enc, err := e.root.Encrypt(ctx, &awskms.EncryptInput{KeyId: m.KeyId, Plaintext: plaintext, EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(enc.KeyId) != aws.ToString(m.Arn) || enc.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
		t.Fatalf("Encrypt: KeyId %s, algorithm %s", aws.ToString(enc.KeyId), enc.EncryptionAlgorithm)
	}
	dec, err := e.root.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dec.Plaintext, plaintext) || aws.ToString(dec.KeyId) != aws.ToString(m.Arn) {
		t.Fatalf("Decrypt: %q from %s", dec.Plaintext, aws.ToString(dec.KeyId))
	}

	var ice *types.InvalidCiphertextException
	before := e.srv.requests.Load()
	_, err = e.root.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"Department": "Sales"}})
	if !errors.As(err, &ice) {
		t.Fatalf("Decrypt with the wrong context: %v, want InvalidCiphertextException", err)
	}
	e.wantAPIError(t, err, "InvalidCiphertextException", before)
	if _, err := e.root.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); !errors.As(err, &ice) {
		t.Fatalf("Decrypt without the context: %v, want InvalidCiphertextException", err)
	}
	if _, err := e.root.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: []byte("not a ciphertext")}); !errors.As(err, &ice) {
		t.Fatalf("Decrypt of garbage: %v, want InvalidCiphertextException", err)
	}
}

func TestSDKDataKeysAndRandom(t *testing.T) {
	t.Parallel()
	e := newSDKEnv(t)
	ctx := context.Background()
	id := e.createKey(t, "").KeyId
	ec := map[string]string{"purpose": "test"}

	dk, err := e.root.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: id, KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	if len(dk.Plaintext) != 32 {
		t.Fatalf("GenerateDataKey AES_256: %d bytes", len(dk.Plaintext))
	}
	dec, err := e.root.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ec})
	if err != nil || !bytes.Equal(dec.Plaintext, dk.Plaintext) {
		t.Fatalf("Decrypt of the data key: %v", err)
	}

	dk16, err := e.root.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: id, NumberOfBytes: aws.Int32(16)})
	if err != nil || len(dk16.Plaintext) != 16 {
		t.Fatalf("GenerateDataKey NumberOfBytes=16: %v", err)
	}

	wp, err := e.root.GenerateDataKeyWithoutPlaintext(ctx, &awskms.GenerateDataKeyWithoutPlaintextInput{KeyId: id, KeySpec: types.DataKeySpecAes128, EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	dec, err = e.root.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: wp.CiphertextBlob, EncryptionContext: ec})
	if err != nil || len(dec.Plaintext) != 16 {
		t.Fatalf("Decrypt of the data key without plaintext: %v", err)
	}

	rnd, err := e.root.GenerateRandom(ctx, &awskms.GenerateRandomInput{NumberOfBytes: aws.Int32(64)})
	if err != nil || len(rnd.Plaintext) != 64 {
		t.Fatalf("GenerateRandom: %v", err)
	}
	before := e.srv.requests.Load()
	_, err = e.root.GenerateRandom(ctx, &awskms.GenerateRandomInput{NumberOfBytes: aws.Int32(1025)})
	e.wantAPIError(t, err, "ValidationException", before)
}

func TestSDKListKeysPagination(t *testing.T) {
	t.Parallel()
	e := newSDKEnv(t)
	ctx := context.Background()
	want := map[string]bool{}
	for range 5 {
		want[aws.ToString(e.createKey(t, "").KeyId)] = true
	}
	p := awskms.NewListKeysPaginator(e.root, &awskms.ListKeysInput{Limit: aws.Int32(2)})
	pages := 0
	got := map[string]bool{}
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if last := len(got)+len(out.Keys) == 5; out.Truncated == last || (out.NextMarker != nil) == last {
			t.Fatalf("page %d: Truncated %v NextMarker %v", pages, out.Truncated, out.NextMarker)
		}
		for _, k := range out.Keys {
			if !strings.HasSuffix(aws.ToString(k.KeyArn), ":key/"+aws.ToString(k.KeyId)) {
				t.Fatalf("entry %s %s", aws.ToString(k.KeyId), aws.ToString(k.KeyArn))
			}
			got[aws.ToString(k.KeyId)] = true
		}
	}
	if pages != 3 || len(got) != len(want) {
		t.Fatalf("%d pages, %d keys; want 3 pages, 5 keys", pages, len(got))
	}
	for id := range want {
		if !got[id] {
			t.Fatalf("key %s not listed", id)
		}
	}
	var ime *types.InvalidMarkerException
	if _, err := e.root.ListKeys(ctx, &awskms.ListKeysInput{Marker: aws.String("bogus!")}); !errors.As(err, &ime) {
		t.Fatalf("bad marker: %v, want InvalidMarkerException", err)
	}
}

func TestSDKErrors(t *testing.T) {
	t.Parallel()
	e := newSDKEnv(t)
	ctx := context.Background()
	id := e.createKey(t, "").KeyId

	t.Run("not_found", func(t *testing.T) {
		before := e.srv.requests.Load()
		_, err := e.root.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String("1234abcd-12ab-34cd-56ef-1234567890ab")})
		var nf *types.NotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("got %v, want NotFoundException", err)
		}
		e.wantAPIError(t, err, "NotFoundException", before)
	})
	t.Run("access_denied", func(t *testing.T) {
		before := e.srv.requests.Load()
		_, err := e.bob.Encrypt(ctx, &awskms.EncryptInput{KeyId: id, Plaintext: []byte("x")})
		ae := e.wantAPIError(t, err, "AccessDeniedException", before)
		if want := "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:Encrypt"; !strings.HasPrefix(ae.ErrorMessage(), want) {
			t.Fatalf("message %q", ae.ErrorMessage())
		}
	})
	t.Run("dry_run", func(t *testing.T) {
		before := e.srv.requests.Load()
		_, err := e.root.Encrypt(ctx, &awskms.EncryptInput{KeyId: id, Plaintext: []byte("x"), DryRun: aws.Bool(true)})
		var dr *types.DryRunOperationException
		if !errors.As(err, &dr) {
			t.Fatalf("got %v, want DryRunOperationException", err)
		}
		e.wantAPIError(t, err, "DryRunOperationException", before)
	})
	t.Run("wrong_secret", func(t *testing.T) {
		before := e.srv.requests.Load()
		_, err := e.srv.sdk(rootKeyID, "not-the-secret").ListKeys(ctx, &awskms.ListKeysInput{})
		ae := e.wantAPIError(t, err, "InvalidSignatureException", before)
		if !strings.HasPrefix(ae.ErrorMessage(), "The request signature we calculated does not match") {
			t.Fatalf("message %q", ae.ErrorMessage())
		}
	})
	t.Run("unknown_access_key", func(t *testing.T) {
		before := e.srv.requests.Load()
		_, err := e.srv.sdk("AKIAUNKNOWN000000000", rootSecret).ListKeys(ctx, &awskms.ListKeysInput{})
		ae := e.wantAPIError(t, err, "UnrecognizedClientException", before)
		if ae.ErrorMessage() != "The security token included in the request is invalid." {
			t.Fatalf("message %q", ae.ErrorMessage())
		}
	})
	t.Run("session_token", func(t *testing.T) {
		c := e.srv.sdk(rootKeyID, rootSecret, func(o *awskms.Options) {
			o.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: rootKeyID, SecretAccessKey: rootSecret, SessionToken: "FwoGZXIvYXdzEXAMPLE"}, nil
			})
		})
		before := e.srv.requests.Load()
		_, err := c.ListKeys(ctx, &awskms.ListKeysInput{})
		ae := e.wantAPIError(t, err, "UnrecognizedClientException", before)
		if !strings.Contains(ae.ErrorMessage(), "STS") {
			t.Fatalf("message %q does not say why", ae.ErrorMessage())
		}
	})
	t.Run("wrong_region", func(t *testing.T) {
		c := e.srv.sdk(rootKeyID, rootSecret, func(o *awskms.Options) { o.Region = "eu-west-1" })
		before := e.srv.requests.Load()
		_, err := c.ListKeys(ctx, &awskms.ListKeysInput{})
		ae := e.wantAPIError(t, err, "InvalidSignatureException", before)
		if !strings.Contains(ae.ErrorMessage(), "'eu-west-1'") || !strings.Contains(ae.ErrorMessage(), "'us-east-1'") {
			t.Fatalf("message %q", ae.ErrorMessage())
		}
	})
}

// An operation the service does not implement is reachable and answers
// UnsupportedOperationException naming it.
func TestSDKUnimplementedOperation(t *testing.T) {
	t.Parallel()
	srv := newServer(t, kmsv1connect.UnimplementedKeyManagementServiceHandler{}, awsapi.Options{})
	before := srv.requests.Load()
	_, err := srv.sdk(rootKeyID, rootSecret).CreateGrant(context.Background(), &awskms.CreateGrantInput{KeyId: aws.String("k"),
		GranteePrincipal: aws.String("arn:aws:iam::111122223333:user/bob"), Operations: []types.GrantOperation{types.GrantOperationEncrypt}})
	var uo *types.UnsupportedOperationException
	if !errors.As(err, &uo) || uo.ErrorMessage() != "CreateGrant is not implemented by this Trent version yet." {
		t.Fatalf("got %v, want UnsupportedOperationException naming CreateGrant", err)
	}
	if n := srv.requests.Load() - before; n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

// flakyService fails Encrypt with DependencyTimeoutException a few times.
type flakyService struct {
	kmsv1connect.UnimplementedKeyManagementServiceHandler
	failures int64
	calls    atomic.Int64
}

func (f *flakyService) Encrypt(context.Context, *kmsv1.EncryptRequest) (*kmsv1.EncryptResponse, error) {
	if f.calls.Add(1) <= f.failures {
		return nil, &wire.Error{Type: wire.DependencyTimeout, Message: "no quorum"}
	}
	return &kmsv1.EncryptResponse{CiphertextBlob: []byte{1}, KeyId: "k", EncryptionAlgorithm: "SYMMETRIC_DEFAULT"}, nil
}

func TestSDKRetriesServerErrors(t *testing.T) {
	t.Parallel()
	svc := &flakyService{failures: 2}
	srv := newServer(t, svc, awsapi.Options{})
	out, err := srv.sdk(rootKeyID, rootSecret).Encrypt(context.Background(), &awskms.EncryptInput{KeyId: aws.String("k"), Plaintext: []byte("x")})
	if err != nil {
		t.Fatalf("Encrypt after two 503s: %v", err)
	}
	if svc.calls.Load() != 3 || !bytes.Equal(out.CiphertextBlob, []byte{1}) {
		t.Fatalf("%d calls, want 3", svc.calls.Load())
	}
}

// An SDK whose clock is off corrects it from the Date header, which must
// therefore come from the clock that judges the signature window.
func TestSDKCorrectsClockSkew(t *testing.T) {
	t.Parallel()
	for _, skew := range []time.Duration{20 * time.Minute, -20 * time.Minute} {
		srv := newServer(t, newService(t), awsapi.Options{Now: func() time.Time { return time.Now().Add(skew) }})
		if _, err := srv.sdk(rootKeyID, rootSecret).ListKeys(context.Background(), &awskms.ListKeysInput{}); err != nil {
			t.Fatalf("server clock %v off: %v", skew, err)
		}
		if n := srv.requests.Load(); n != 2 {
			t.Fatalf("server clock %v off: %d requests, want 2 (rejected, then corrected)", skew, n)
		}
	}
}

func TestSDKGrants(t *testing.T) {
	t.Parallel()
	e := newSDKEnv(t)
	ctx := context.Background()
	m := e.createKey(t, "")
	bobARN := "arn:aws:iam::111122223333:user/bob"
	ec := map[string]string{"tenant": "a"}

	// Without a grant bob may not use the key.
	if _, err := e.bob.Encrypt(ctx, &awskms.EncryptInput{KeyId: m.Arn, Plaintext: []byte("x"), EncryptionContext: ec}); err == nil {
		t.Fatal("bob encrypted without a grant")
	}
	g, err := e.root.CreateGrant(ctx, &awskms.CreateGrantInput{
		KeyId: m.KeyId, GranteePrincipal: aws.String(bobARN), RetiringPrincipal: aws.String(bobARN), Name: aws.String("bob-tenant-a"),
		Operations:  []types.GrantOperation{types.GrantOperationEncrypt, types.GrantOperationDecrypt},
		Constraints: &types.GrantConstraints{EncryptionContextSubset: ec},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(g.GrantId) == "" || aws.ToString(g.GrantToken) == "" {
		t.Fatalf("CreateGrant: %+v", g)
	}
	enc, err := e.bob.Encrypt(ctx, &awskms.EncryptInput{KeyId: m.Arn, Plaintext: []byte("x"), EncryptionContext: ec, GrantTokens: []string{aws.ToString(g.GrantToken)}})
	if err != nil {
		t.Fatalf("bob Encrypt under the grant: %v", err)
	}
	if _, err := e.bob.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec}); err != nil {
		t.Fatalf("bob Decrypt under the grant: %v", err)
	}
	if _, err := e.bob.Encrypt(ctx, &awskms.EncryptInput{KeyId: m.Arn, Plaintext: []byte("x"), EncryptionContext: map[string]string{"tenant": "b"}}); err == nil {
		t.Fatal("bob encrypted outside the grant's constraint")
	}

	lg, err := e.root.ListGrants(ctx, &awskms.ListGrantsInput{KeyId: m.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if len(lg.Grants) != 1 || lg.Truncated {
		t.Fatalf("ListGrants: %+v", lg)
	}
	gr := lg.Grants[0]
	if aws.ToString(gr.GrantId) != aws.ToString(g.GrantId) || aws.ToString(gr.GranteePrincipal) != bobARN ||
		aws.ToString(gr.Name) != "bob-tenant-a" || len(gr.Operations) != 2 || gr.Constraints == nil ||
		gr.Constraints.EncryptionContextSubset["tenant"] != "a" || aws.ToTime(gr.CreationDate).IsZero() {
		t.Fatalf("grant entry %+v", gr)
	}
	lr, err := e.root.ListRetirableGrants(ctx, &awskms.ListRetirableGrantsInput{RetiringPrincipal: aws.String(bobARN)})
	if err != nil || len(lr.Grants) != 1 {
		t.Fatalf("ListRetirableGrants: %v %+v", err, lr)
	}

	if _, err := e.bob.RetireGrant(ctx, &awskms.RetireGrantInput{GrantToken: g.GrantToken}); err != nil {
		t.Fatalf("bob RetireGrant: %v", err)
	}
	g2, err := e.root.CreateGrant(ctx, &awskms.CreateGrantInput{KeyId: m.KeyId, GranteePrincipal: aws.String(bobARN),
		Operations: []types.GrantOperation{types.GrantOperationEncrypt}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.root.RevokeGrant(ctx, &awskms.RevokeGrantInput{KeyId: m.KeyId, GrantId: g2.GrantId}); err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	lg, err = e.root.ListGrants(ctx, &awskms.ListGrantsInput{KeyId: m.KeyId})
	if err != nil || len(lg.Grants) != 0 || lg.Truncated {
		t.Fatalf("ListGrants after retire and revoke: %v %+v", err, lg)
	}
	before := e.srv.requests.Load()
	_, err = e.root.RevokeGrant(ctx, &awskms.RevokeGrantInput{KeyId: m.KeyId, GrantId: aws.String("not-a-grant-id")})
	e.wantAPIError(t, err, "InvalidGrantIdException", before)
}

// TestSDKKeyPolicies drives GetKeyPolicy, PutKeyPolicy and ListKeyPolicies
// through the AWS SDK, which the endpoint dispatches by operation name.
func TestSDKKeyPolicies(t *testing.T) {
	t.Parallel()
	e := newSDKEnv(t)
	ctx := context.Background()
	m := e.createKey(t, "")
	got, err := e.root.GetKeyPolicy(ctx, &awskms.GetKeyPolicyInput{KeyId: m.KeyId, PolicyName: aws.String("default")})
	if err != nil {
		t.Fatal(err)
	}
	if p := aws.ToString(got.Policy); !strings.Contains(p, `"Sid" : "Enable IAM User Permissions"`) ||
		!strings.Contains(p, `"AWS" : "arn:aws:iam::111122223333:root"`) || aws.ToString(got.PolicyName) != "default" {
		t.Fatalf("default policy %q", p)
	}
	lp, err := e.root.ListKeyPolicies(ctx, &awskms.ListKeyPoliciesInput{KeyId: m.Arn})
	if err != nil || len(lp.PolicyNames) != 1 || lp.PolicyNames[0] != "default" || lp.Truncated {
		t.Fatalf("ListKeyPolicies: %v %+v", err, lp)
	}

	if _, err := e.bob.Encrypt(ctx, &awskms.EncryptInput{KeyId: m.Arn, Plaintext: []byte("x")}); err == nil {
		t.Fatal("bob encrypted under the default policy")
	}
	doc := `{"Version":"2012-10-17","Statement":[
  {"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
  {"Sid":"Bob","Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*",
   "Condition":{"StringEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/bob"}}}]}`
	if _, err := e.root.PutKeyPolicy(ctx, &awskms.PutKeyPolicyInput{KeyId: m.KeyId, Policy: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.root.GetKeyPolicy(ctx, &awskms.GetKeyPolicyInput{KeyId: m.KeyId}); err != nil || aws.ToString(got.Policy) != doc {
		t.Fatalf("GetKeyPolicy after put: %v %q", err, aws.ToString(got.Policy))
	}
	if _, err := e.bob.Encrypt(ctx, &awskms.EncryptInput{KeyId: m.Arn, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("bob Encrypt under the new policy: %v", err)
	}

	before := e.srv.requests.Load()
	_, err = e.root.PutKeyPolicy(ctx, &awskms.PutKeyPolicyInput{KeyId: m.KeyId,
		Policy: aws.String(`{"Statement":[{"Sid":"X","Effect":"Permit","Principal":"*","Action":"kms:*","Resource":"*"}]}`)})
	var mp *types.MalformedPolicyDocumentException
	if !errors.As(err, &mp) || !strings.Contains(mp.ErrorMessage(), `Statement[0] (Sid "X")`) || !strings.Contains(mp.ErrorMessage(), "Effect") {
		t.Fatalf("got %v, want MalformedPolicyDocumentException pointing at Statement[0] Effect", err)
	}
	if n := e.srv.requests.Load() - before; n != 1 {
		t.Errorf("the SDK sent %d requests, want 1", n)
	}
	_, err = e.root.PutKeyPolicy(ctx, &awskms.PutKeyPolicyInput{KeyId: m.KeyId, Policy: aws.String(
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:*","Resource":"*"}]}`)})
	if !errors.As(err, &mp) || !strings.Contains(mp.ErrorMessage(), "will not allow you to update the key policy") {
		t.Fatalf("lockout: got %v", err)
	}
	_, err = e.bob.PutKeyPolicy(ctx, &awskms.PutKeyPolicyInput{KeyId: m.Arn, Policy: aws.String(doc)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
		t.Fatalf("bob PutKeyPolicy: got %v, want AccessDeniedException", err)
	}
}
