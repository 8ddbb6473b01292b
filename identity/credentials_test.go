package identity_test

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/trentkms/trent/identity"
)

// credentialPEMs returns the PEM files of a client credential from ca.
func credentialPEMs(tb testing.TB, ca *identity.CA, arn string) (caPEM, certPEM, keyPEM []byte) {
	tb.Helper()
	c := clientCert(tb, ca, arn)
	keyPEM, err := identity.EncodeKeyPEM(c.PrivateKey)
	if err != nil {
		tb.Fatal(err)
	}
	return ca.CertPEM(), identity.EncodeCertPEM(c.Certificate[0]), keyPEM
}

func TestCredentialsRoundTrip(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	caPEM, certPEM, keyPEM := credentialPEMs(t, ca, "arn:aws:iam::111122223333:user/bob")
	dir := filepath.Join(t.TempDir(), "creds")
	if err := identity.WriteCredentials(dir, caPEM, certPEM, keyPEM); err != nil {
		t.Fatalf("WriteCredentials: %v", err)
	}
	if runtime.GOOS != "windows" {
		for name, want := range map[string]os.FileMode{"": 0o700, "ca.pem": 0o644, "cert.pem": 0o644, "key.pem": 0o600} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			// The umask may only remove bits.
			if got := fi.Mode().Perm(); got&^want != 0 || name == "key.pem" && got != want {
				t.Errorf("%s mode = %v, want %v", filepath.Join(dir, name), got, want)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Errorf("directory holds %d entries, want 3 (no temporary files left)", len(entries))
	}
	for name, want := range map[string][]byte{"ca.pem": caPEM, "cert.pem": certPEM, "key.pem": keyPEM} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s content differs (err %v)", name, err)
		}
	}

	pool, cert, err := identity.LoadCredentials(dir)
	if err != nil {
		t.Fatalf("LoadCredentials: %v", err)
	}
	if cert.Leaf == nil {
		t.Fatal("Leaf not set")
	}
	p, err := identity.PrincipalFromCert(cert.Leaf)
	if err != nil || p.ARN != "arn:aws:iam::111122223333:user/bob" {
		t.Errorf("loaded certificate names %+v, %v", p, err)
	}
	if !pool.Equal(ca.Pool()) {
		t.Error("loaded pool differs from the CA's pool")
	}

	// Overwriting replaces the files.
	caPEM2, certPEM2, keyPEM2 := credentialPEMs(t, ca, "arn:aws:iam::111122223333:user/alice")
	if err := identity.WriteCredentials(dir, caPEM2, certPEM2, keyPEM2); err != nil {
		t.Fatalf("second WriteCredentials: %v", err)
	}
	if _, cert, err := identity.LoadCredentials(dir); err != nil || !strings.HasSuffix(cert.Leaf.URIs[0].String(), "user/alice") {
		t.Errorf("after overwrite: %v", err)
	}
}

func TestWriteCredentialsRejectsMismatch(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	other := newTestCA(t, "c2")
	caPEM, certPEM, keyPEM := credentialPEMs(t, ca, "arn:aws:iam::111122223333:user/bob")
	_, _, otherKeyPEM := credentialPEMs(t, ca, "arn:aws:iam::111122223333:user/alice")
	tests := []struct {
		name                   string
		caPEM, certPEM, keyPEM []byte
		want                   string
	}{
		{"wrong_ca", other.CertPEM(), certPEM, keyPEM, "cert.pem was not issued by a CA in ca.pem"},
		{"wrong_key", caPEM, certPEM, otherKeyPEM, "cert.pem and key.pem"},
		{"no_ca", nil, certPEM, keyPEM, "ca.pem: no certificates found"},
		{"leaf_as_ca", certPEM, certPEM, keyPEM, "is not a CA"},
		{"key_in_ca", keyPEM, certPEM, keyPEM, `ca.pem: PEM block is "PRIVATE KEY"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "creds")
			err := identity.WriteCredentials(dir, tt.caPEM, tt.certPEM, tt.keyPEM)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("WriteCredentials error = %v, want it to say %q", err, tt.want)
			}
			if _, statErr := os.Stat(dir); !os.IsNotExist(statErr) {
				t.Errorf("directory created despite the error")
			}
		})
	}
}

func TestLoadCredentialsRejects(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	caPEM, certPEM, keyPEM := credentialPEMs(t, ca, "arn:aws:iam::111122223333:user/bob")
	_, _, otherKeyPEM := credentialPEMs(t, ca, "arn:aws:iam::111122223333:user/alice")
	write := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "creds")
		if err := identity.WriteCredentials(dir, caPEM, certPEM, keyPEM); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	tests := []struct {
		name   string
		mangle func(t *testing.T, dir string)
		want   string
	}{
		{"missing_ca", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "ca.pem")) }, "reading credentials"},
		{"missing_key", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "key.pem")) }, "reading credentials"},
		{"torn_update", func(t *testing.T, dir string) {
			// cert.pem and key.pem from different writes.
			if err := os.WriteFile(filepath.Join(dir, "key.pem"), otherKeyPEM, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "cert.pem and key.pem"},
	}
	if runtime.GOOS != "windows" {
		tests = append(tests, struct {
			name   string
			mangle func(t *testing.T, dir string)
			want   string
		}{"key_world_readable", func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, "key.pem"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "accessible by group or others"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := write(t)
			tt.mangle(t, dir)
			_, _, err := identity.LoadCredentials(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadCredentials error = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestWriteCredentialsFailsOnFileAsDir(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "c1")
	caPEM, certPEM, keyPEM := credentialPEMs(t, ca, "arn:aws:iam::111122223333:user/bob")
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := identity.WriteCredentials(file, caPEM, certPEM, keyPEM); err == nil {
		t.Error("WriteCredentials into a regular file succeeded")
	}
}
