package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/trentkms/trent/cluster"
	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/hsm/soft"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/server"
)

// testPassphrase is long enough for a new node.
const testPassphrase = "correct horse battery staple"

// writePassphrase writes a passphrase file with mode perm and returns its
// path.
func writePassphrase(t *testing.T, content string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "passphrase")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPassphraseFileRefusals(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no group and other permission bits")
	}
	tests := []struct {
		name    string
		content string
		perm    os.FileMode
		wantErr error
	}{
		{"group_readable", testPassphrase, 0o640, soft.ErrFileMode},
		{"world_readable", testPassphrase + "\n", 0o644, soft.ErrFileMode},
		{"short", "hunter2\n", 0o600, soft.ErrShortPassphrase},
		{"one_short", strings.Repeat("x", 15), 0o600, soft.ErrShortPassphrase},
		{"empty", "\n", 0o600, soft.ErrEmptyPassphraseFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := testConfig(dir)
			cfg.HSMPassphraseFile = writePassphrase(t, tt.content, tt.perm)
			s, err := server.Start(context.Background(), cfg)
			if err == nil {
				s.Close()
				t.Fatal("the node started")
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if _, err := os.Stat(filepath.Join(dir, "hsm", "state")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("an HSM state file was sealed with a refused passphrase: %v", err)
			}
		})
	}
}

// dataDirCA returns the cluster CA of a dev-mode bootstrap node, read from
// its data directory alone: the HSM unseals with hsm/unseal.key and opens
// ca/ca-key.sealed. (That a dev-mode data directory can mint certificates
// is the documented price of dev mode.)
func dataDirCA(tb testing.TB, dir string) *identity.CA {
	tb.Helper()
	return openDataDirCA(tb, dir, soft.InsecureDevKeyFile(filepath.Join(dir, "hsm", "unseal.key"), false))
}

func openDataDirCA(tb testing.TB, dir string, u soft.Unsealer) *identity.CA {
	tb.Helper()
	h, err := soft.Open(filepath.Join(dir, "hsm", "state"), u)
	if err != nil {
		tb.Fatal(err)
	}
	defer h.Close()
	certPEM, err := os.ReadFile(filepath.Join(dir, "ca", "ca.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	sealed, err := os.ReadFile(filepath.Join(dir, "ca", "ca-key.sealed"))
	if err != nil {
		tb.Fatal(err)
	}
	ca, err := cluster.OpenCAKey(context.Background(), h, certPEM, sealed)
	if err != nil {
		tb.Fatal(err)
	}
	return ca
}

// assertNoPlaintextCAKey fails if any file under dir holds a PEM private
// key, other than the leaf keys admin/key.pem and node/key.pem (which
// cannot sign certificates), or the CA's private key in any of its
// encodings.
func assertNoPlaintextCAKey(t *testing.T, dir string, ca *identity.CA) {
	t.Helper()
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(keyPEM)
	signer, err := identity.ParseKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	scalar, err := signer.(*ecdsa.PrivateKey).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{"PEM": keyPEM, "PKCS #8": block.Bytes, "scalar": scalar,
		"scalar (hex)": []byte(hex.EncodeToString(scalar)), "PKCS #8 (base64)": []byte(base64.StdEncoding.EncodeToString(block.Bytes))}
	leafKeys := map[string]bool{filepath.Join("admin", "key.pem"): true, filepath.Join("node", "key.pem"): true}
	files := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		files++
		rel, _ := filepath.Rel(dir, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for what, secret := range secrets {
			if bytes.Contains(b, secret) {
				t.Errorf("%s holds the CA private key (%s)", rel, what)
			}
		}
		if !leafKeys[rel] && bytes.Contains(b, []byte("PRIVATE KEY")) {
			t.Errorf("%s holds a PEM private key", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Fatalf("walked only %d files of %s", files, dir)
	}
}

// TestPassphraseModeKeepsNoPlaintextCAKey: in passphrase mode the data
// directory holds the CA key only sealed under the HSM, and a node
// restarted from it still issues certificates: its own node certificate
// (from the sealed local copy) and IAM user certificates (from the
// replicated one).
func TestPassphraseModeKeepsNoPlaintextCAKey(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.HSMPassphraseFile = writePassphrase(t, testPassphrase+"\n", 0o600)
	s, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(filepath.Join(dir, "hsm", "unseal.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("passphrase mode wrote an unseal key: %v", err)
	}
	ca := openDataDirCA(t, dir, soft.Passphrase([]byte(testPassphrase)))
	assertNoPlaintextCAKey(t, dir, ca)
	// What stays in the clear is the two leaf keys, for their owners only.
	for _, f := range []string{"admin/key.pem", "node/key.pem", "ca/ca-key.sealed"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", f, fi, err)
		}
	}

	// Without a node certificate the restarted node must issue one with
	// the CA key it unseals.
	for _, f := range []string{"cert.pem", "key.pem"} {
		if err := os.Remove(filepath.Join(dir, "node", f)); err != nil {
			t.Fatal(err)
		}
	}
	s, err = server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer s.Close()
	nodeCert, err := tls.LoadX509KeyPair(filepath.Join(dir, "node", "cert.pem"), filepath.Join(dir, "node", "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if leaf, _ := x509.ParseCertificate(nodeCert.Certificate[0]); leaf.CheckSignatureFrom(ca.Certificate()) != nil {
		t.Fatal("the re-issued node certificate is not signed by the cluster CA")
	}

	ctx := context.Background()
	iamc := iamv1connect.NewIdentityServiceClient(adminHTTP(t, dir), "https://"+s.APIAddr())
	if _, err := iamc.CreateUser(ctx, &iamv1.CreateUserRequest{UserName: "carol"}); err != nil {
		t.Fatal(err)
	}
	ic, err := iamc.IssueCertificate(ctx, &iamv1.IssueCertificateRequest{UserName: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := identity.ParseCertPEM([]byte(ic.CertificatePem))
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignatureFrom(ca.Certificate()); err != nil {
		t.Fatalf("IAM certificate: %v", err)
	}
	assertNoPlaintextCAKey(t, dir, ca)
}

// TestPlaintextCAKeyIsSealedOnStart: a data directory written before the
// CA key was sealed (ca/ca-key.pem, perhaps only its temporary file), or by
// a start that crashed midway through sealing it, ends up with only the
// sealed key, for the same CA.
func TestPlaintextCAKeyIsSealedOnStart(t *testing.T) {
	tests := []struct {
		name       string
		plaintext  string // where the plaintext key is
		keepSealed bool   // an interrupted migration left both files
	}{
		{"plaintext_only", "ca-key.pem", false},
		{"plaintext_and_sealed", "ca-key.pem", true},
		// An earlier version crashed while writing ca-key.pem.
		{"leftover_temporary_file", ".ca-key.pem.tmp", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			start(t, dir).Close()
			ca := dataDirCA(t, dir)
			keyPEM, err := ca.KeyPEM()
			if err != nil {
				t.Fatal(err)
			}
			caDir := filepath.Join(dir, "ca")
			if err := os.WriteFile(filepath.Join(caDir, tt.plaintext), keyPEM, 0o600); err != nil {
				t.Fatal(err)
			}
			if !tt.keepSealed {
				if err := os.Remove(filepath.Join(caDir, "ca-key.sealed")); err != nil {
					t.Fatal(err)
				}
			}

			s := start(t, dir)
			defer s.Close()
			if _, err := os.Stat(filepath.Join(caDir, tt.plaintext)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%s is still there: %v", tt.plaintext, err)
			}
			if got, _ := dataDirCA(t, dir).KeyPEM(); !bytes.Equal(got, keyPEM) {
				t.Fatal("ca-key.sealed holds another key")
			}
			if fi, err := os.Stat(filepath.Join(caDir, "ca-key.sealed")); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("ca-key.sealed: %v, %v", fi, err)
			}
			assertNoPlaintextCAKey(t, dir, ca)
			if _, err := client(t, s, adminHTTP(t, dir)).ListKeys(context.Background(), &kmsv1.ListKeysRequest{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
