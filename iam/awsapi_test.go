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
	"github.com/trentkms/trent/fsm"
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

// signedListKeys sends a ListKeys signed with the key to h and returns the
// status and body.
func signedListKeys(t *testing.T, h http.Handler, now time.Time, keyID, secret string) (int, string) {
	t.Helper()
	body := []byte("{}")
	req := httptest.NewRequest(http.MethodPost, "https://kms.us-east-1.amazonaws.com/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret},
		req, hex.EncodeToString(sum[:]), "kms", "us-east-1", now); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

// The access keys of a deleted user stop working on the AWS endpoint, and
// a user re-created under the same name does not inherit them.
func TestDeletedUsersAccessKeysAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(t, "bob")
	r, err := e.svc.CreateAccessKey(e.root, &iamv1.CreateAccessKeyRequest{UserName: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	k := r.AccessKey
	h := awsapi.NewHandler(whoAmI{}, awsCredentials{e.svc.AccessKeys()}, awsapi.Options{Region: "us-east-1", Now: func() time.Time { return e.now }})
	if code, body := signedListKeys(t, h, e.now, k.AccessKeyId, k.SecretAccessKey); code != http.StatusOK {
		t.Fatalf("before the delete: %d %s", code, body)
	}
	if _, err := e.svc.DeleteUser(e.root, &iamv1.DeleteUserRequest{UserName: "bob"}); err != nil {
		t.Fatal(err)
	}
	if code, body := signedListKeys(t, h, e.now, k.AccessKeyId, k.SecretAccessKey); code != http.StatusBadRequest || !strings.Contains(body, "UnrecognizedClient") {
		t.Fatalf("deleted user's key: %d %s", code, body)
	}
	e.createUser(t, "bob")
	if code, body := signedListKeys(t, h, e.now, k.AccessKeyId, k.SecretAccessKey); code != http.StatusBadRequest || !strings.Contains(body, "UnrecognizedClient") {
		t.Fatalf("re-created user's inherited key: %d %s", code, body)
	}
}

// orphanStore is a state in which an access key outlived its user, which
// DeleteUser never leaves; Lookup must not trust the key alone.
type orphanStore struct{ iam.Store }

func (orphanStore) User(string, string) (*fsm.User, bool) { return nil, false }

func TestLookupRefusesAKeyWhoseUserIsGone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(t, "bob")
	r, err := e.svc.CreateAccessKey(e.root, &iamv1.CreateAccessKeyRequest{UserName: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := iam.NewAccessKeys(orphanStore{e.fsm}, e.hsm).Lookup(context.Background(), r.AccessKey.AccessKeyId); !errors.Is(err, iam.ErrUnknownAccessKey) {
		t.Fatalf("Lookup of an orphaned user key: %v", err)
	}
	root, err := e.svc.CreateAccessKey(e.root, &iamv1.CreateAccessKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, p, err := iam.NewAccessKeys(orphanStore{e.fsm}, e.hsm).Lookup(context.Background(), root.AccessKey.AccessKeyId); err != nil || !p.IsRoot() {
		t.Fatalf("Lookup of a root key: %v %v", p, err)
	}
}
