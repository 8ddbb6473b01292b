package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"

	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/server"
)

// syncBuffer is a bytes.Buffer safe for the node's concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// TestLogsAreJSONWithRequestIDsAndNoSecrets runs a node with
// --log-format json at debug level through encrypt, decrypt (right and
// wrong context), data keys, grants, an access key, a certificate with
// its private key, and a denied call. Every line is one JSON object; the
// line about the denied call carries its audit record's request id; and
// no plaintext, data key, secret, private key or HSM key file appears in
// the log, in any encoding.
func TestLogsAreJSONWithRequestIDsAndNoSecrets(t *testing.T) {
	dir := t.TempDir()
	logs := &syncBuffer{}
	cfg := testConfig(dir)
	cfg.LogLevel, cfg.LogFormat, cfg.Testing.Stderr = "debug", "json", logs
	s, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	admin := adminHTTP(t, dir)
	kc := client(t, s, admin)
	iamc := iamv1connect.NewIdentityServiceClient(admin, "https://"+s.APIAddr())

	var secrets [][]byte
	plaintext := []byte("the plaintext is a correct horse battery staple 7f3a")
	secrets = append(secrets, plaintext)
	ck, err := kc.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keyID := ck.KeyMetadata.KeyId
	enc, err := kc.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: plaintext, EncryptionContext: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob}); err == nil {
		t.Fatal("decrypted without the encryption context")
	}
	dk, err := kc.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: keyID, KeySpec: "AES_256"})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, dk.Plaintext)
	if _, err := iamc.CreateUser(ctx, &iamv1.CreateUserRequest{UserName: "bob"}); err != nil {
		t.Fatal(err)
	}
	ak, err := iamc.CreateAccessKey(ctx, &iamv1.CreateAccessKeyRequest{UserName: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, []byte(ak.AccessKey.SecretAccessKey))
	ic, err := iamc.IssueCertificate(ctx, &iamv1.IssueCertificateRequest{UserName: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, pemBody(t, ic.PrivateKeyPem))
	g, err := kc.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: "arn:aws:iam::" + testAccount + ":user/bob",
		Operations: []string{"Decrypt"}})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, []byte(g.GrantToken))

	// bob may decrypt through the grant, not encrypt: the denial is
	// logged, with the request id of its audit record.
	pair, err := tls.X509KeyPair([]byte(ic.CertificatePem), []byte(ic.PrivateKeyPem))
	if err != nil {
		t.Fatal(err)
	}
	bob := client(t, s, httpClient(identity.ClientTLSConfig(caPool(t, dir), pair)))
	if _, err := bob.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: plaintext}); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("bob encrypted: %v", err)
	}
	recs := auditRecords(t, filepath.Join(dir, "audit"))
	denied := recs[len(recs)-1]
	if denied.EventName != "Encrypt" || denied.ErrorCode != "AccessDeniedException" || denied.RequestID == "" {
		t.Fatalf("last audit record %+v; want bob's denied Encrypt", denied)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The HSM's files (dev mode: its key file too) hold key material.
	hsmFiles := 0
	filepath.WalkDir(filepath.Join(dir, "hsm"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(path); err == nil && len(b) >= 16 {
				secrets, hsmFiles = append(secrets, b), hsmFiles+1
			}
		}
		return nil
	})
	if hsmFiles == 0 {
		t.Fatal("no HSM files in the data dir")
	}

	out := logs.Bytes()
	sawDenial, banners := false, 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Errorf("a log line is not JSON: %s", line)
			continue
		}
		if msg, _ := m["msg"].(string); strings.Contains(msg, "DEV MODE") || strings.Contains(msg, "is serving on") {
			banners++
		}
		if m["msg"] == "access denied" {
			sawDenial = true
			if m["request_id"] != denied.RequestID {
				t.Errorf("the denial's log line has request_id %v; its audit record's is %s: %s", m["request_id"], denied.RequestID, line)
			}
		}
	}
	if banners != 2 {
		t.Errorf("want the dev-mode warning and the start-up banner as JSON lines, got %d of them:\n%s", banners, out)
	}
	if !sawDenial {
		t.Errorf("no access denied line in the log:\n%s", out)
	}
	for _, secret := range secrets {
		for _, enc := range [][]byte{secret, []byte(base64.StdEncoding.EncodeToString(secret)), []byte(base64.RawURLEncoding.EncodeToString(secret)),
			[]byte(hex.EncodeToString(secret))} {
			if bytes.Contains(out, enc) {
				t.Errorf("the log holds a secret: %.24q...", enc)
			}
		}
	}
}

// pemBody returns the base64 body of a PEM block, as it would appear in
// a log.
func pemBody(t *testing.T, p string) []byte {
	t.Helper()
	var body []string
	for _, l := range strings.Split(p, "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			body = append(body, l)
		}
	}
	if len(body) == 0 {
		t.Fatal("empty PEM")
	}
	return []byte(strings.Join(body, ""))
}
