package cli

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/wire"
)

// The fake's signatures and MACs are HMAC-SHA-256 under the key id, of
// the algorithm, message type and message: enough to see that every flag
// reached the request.
func fakeTag(keyID string, parts ...string) []byte {
	m := hmac.New(sha256.New, []byte(keyID))
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

func fakeInvalid(typ, msg string) error {
	err := connect.NewError(connect.CodeInvalidArgument, errors.New(msg))
	err.Meta().Set(wire.ErrorTypeHeader, typ)
	return err
}

func (f *fakeKMS) Sign(_ context.Context, req *kmsv1.SignRequest) (*kmsv1.SignResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.key(req.KeyId)
	if err != nil {
		return nil, err
	}
	return &kmsv1.SignResponse{KeyId: k.Arn, SigningAlgorithm: req.SigningAlgorithm,
		Signature: fakeTag(k.KeyId, req.SigningAlgorithm, req.MessageType, string(req.Message))}, nil
}

func (f *fakeKMS) Verify(_ context.Context, req *kmsv1.VerifyRequest) (*kmsv1.VerifyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.key(req.KeyId)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(req.Signature, fakeTag(k.KeyId, req.SigningAlgorithm, req.MessageType, string(req.Message))) {
		return nil, fakeInvalid(wire.KMSInvalidSignature, "The signature is not valid.")
	}
	return &kmsv1.VerifyResponse{KeyId: k.Arn, SignatureValid: true, SigningAlgorithm: req.SigningAlgorithm}, nil
}

func (f *fakeKMS) GetPublicKey(_ context.Context, req *kmsv1.GetPublicKeyRequest) (*kmsv1.GetPublicKeyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.key(req.KeyId)
	if err != nil {
		return nil, err
	}
	return &kmsv1.GetPublicKeyResponse{KeyId: k.Arn, PublicKey: []byte("public key of " + k.KeyId), KeySpec: "ECC_NIST_P256",
		CustomerMasterKeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY", SigningAlgorithms: []string{"ECDSA_SHA_256"}}, nil
}

func (f *fakeKMS) GenerateMac(_ context.Context, req *kmsv1.GenerateMacRequest) (*kmsv1.GenerateMacResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.key(req.KeyId)
	if err != nil {
		return nil, err
	}
	return &kmsv1.GenerateMacResponse{KeyId: k.Arn, MacAlgorithm: req.MacAlgorithm, Mac: fakeTag(k.KeyId, req.MacAlgorithm, string(req.Message))}, nil
}

func (f *fakeKMS) VerifyMac(_ context.Context, req *kmsv1.VerifyMacRequest) (*kmsv1.VerifyMacResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.key(req.KeyId)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(req.Mac, fakeTag(k.KeyId, req.MacAlgorithm, string(req.Message))) {
		return nil, fakeInvalid(wire.KMSInvalidMac, "The MAC is not valid.")
	}
	return &kmsv1.VerifyMacResponse{KeyId: k.Arn, MacValid: true, MacAlgorithm: req.MacAlgorithm}, nil
}

// `trent kms sign|verify|get-public-key|generate-mac|verify-mac` take the
// AWS CLI's flags: --message as text (or fileb://), --message-type,
// --signing-algorithm, --signature and --mac in base64; a bad signature
// or MAC exits with AWS's error name.
func TestSignVerifyMacVerbs(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.run(t, "kms", "create-key")
	run := func(args ...string) string {
		t.Helper()
		code, out, stderr := fx.run(t, append([]string{"kms"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		return strings.TrimSpace(out)
	}
	sig := run("sign", "--key-id", key1, "--message", "hello", "--message-type", "RAW", "--signing-algorithm", "ECDSA_SHA_256",
		"--output", "text", "--query", "Signature")
	if want := base64.StdEncoding.EncodeToString(fakeTag(key1, "ECDSA_SHA_256", "RAW", "hello")); sig != want {
		t.Fatalf("sign printed %q, want %q", sig, want)
	}
	if got := run("verify", "--key-id", key1, "--message", "hello", "--message-type", "RAW", "--signing-algorithm", "ECDSA_SHA_256",
		"--signature", sig, "--output", "text", "--query", "SignatureValid"); got != "True" {
		t.Fatalf("verify printed %q", got)
	}
	code, _, stderr := fx.run(t, "kms", "verify", "--key-id", key1, "--message", "hellO", "--message-type", "RAW",
		"--signing-algorithm", "ECDSA_SHA_256", "--signature", sig)
	if code == 0 || !strings.Contains(stderr, "KMSInvalidSignatureException") {
		t.Fatalf("verify of another message: exit %d: %s", code, stderr)
	}
	if got := run("get-public-key", "--key-id", key1, "--output", "text", "--query", "PublicKey"); got != base64.StdEncoding.EncodeToString([]byte("public key of "+key1)) {
		t.Fatalf("get-public-key printed %q", got)
	}
	mac := run("generate-mac", "--key-id", key1, "--message", "hello", "--mac-algorithm", "HMAC_SHA_256", "--output", "text", "--query", "Mac")
	if got := run("verify-mac", "--key-id", key1, "--message", "hello", "--mac-algorithm", "HMAC_SHA_256", "--mac", mac,
		"--output", "text", "--query", "MacValid"); got != "True" {
		t.Fatalf("verify-mac printed %q", got)
	}
	code, _, stderr = fx.run(t, "kms", "verify-mac", "--key-id", key1, "--message", "hello", "--mac-algorithm", "HMAC_SHA_256", "--mac", sig)
	if code == 0 || !strings.Contains(stderr, "KMSInvalidMacException") {
		t.Fatalf("verify-mac of a wrong MAC: exit %d: %s", code, stderr)
	}
}
