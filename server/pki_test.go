package server

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/trentkms/trent/identity"
)

// TestWriteFilesIgnoresPlantedTemporaryFiles: whatever sits at the name a
// temporary file once had (a symbolic link out of the data dir, a file
// readable by all), a key written by writeFiles lands only at its own
// name, with mode 0600.
func TestWriteFilesIgnoresPlantedTemporaryFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links and modes differ")
	}
	key := []byte("-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n")
	tests := []struct {
		name  string
		plant func(t *testing.T, tmp, outside string)
	}{
		{"symlink_out", func(t *testing.T, tmp, outside string) {
			if err := os.Symlink(outside, tmp); err != nil {
				t.Fatal(err)
			}
		}},
		{"world_readable_file", func(t *testing.T, tmp, _ string) {
			if err := os.WriteFile(tmp, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(tmp, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			outside := filepath.Join(t.TempDir(), "outside")
			if err := os.WriteFile(outside, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			// The name earlier versions used for the temporary file.
			tt.plant(t, filepath.Join(dir, ".key.pem.tmp"), outside)
			if err := writeFiles(dir, map[string][]byte{"key.pem": key}); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(outside); len(b) != 0 {
				t.Fatal("the key was written through the planted link")
			}
			b, err := os.ReadFile(filepath.Join(dir, "key.pem"))
			if err != nil || !bytes.Equal(b, key) {
				t.Fatalf("key.pem = %q, %v", b, err)
			}
			if fi, _ := os.Lstat(filepath.Join(dir, "key.pem")); !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
				t.Fatalf("key.pem mode = %v", fi.Mode())
			}
		})
	}
}

// TestNodeCertWriteSurvivesACrash: whichever step of writeNodeCert a
// crash interrupts, loadNodePair finds a matching pair, the old one
// before the key is renamed and the new one after.
func TestNodeCertWriteSurvivesACrash(t *testing.T) {
	now := time.Now()
	ca, err := identity.NewCA("trent", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(t *testing.T) ([]byte, crypto.PrivateKey) {
		t.Helper()
		key, err := identity.NewKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		der, err := ca.IssueNode("n1", identity.LoopbackHosts(), key.Public(), now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	tests := []struct {
		name    string
		renamed int // how many of the two renames happened
		wantNew bool
	}{
		{"before_the_renames", 0, false},
		{"key_renamed", 1, true},
		{"both_renamed", 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			oldDER, oldKey := issue(t)
			if _, err := writeNodeCert(dir, oldDER, oldKey); err != nil {
				t.Fatal(err)
			}
			newDER, newKey := issue(t)
			kp, err := identity.EncodeKeyPEM(newKey)
			if err != nil {
				t.Fatal(err)
			}
			// writeNodeCert's steps, stopped after tt.renamed renames.
			if err := writeFiles(dir, map[string][]byte{nodeNextCertFile: identity.EncodeCertPEM(newDER), nodeNextKeyFile: kp}); err != nil {
				t.Fatal(err)
			}
			for _, f := range [][2]string{{nodeNextKeyFile, nodeKeyFile}, {nodeNextCertFile, nodeCertFile}}[:tt.renamed] {
				if err := os.Rename(filepath.Join(dir, f[0]), filepath.Join(dir, f[1])); err != nil {
					t.Fatal(err)
				}
			}
			got, err := loadNodePair(dir)
			if err != nil {
				t.Fatalf("no usable pair: %v", err)
			}
			want := oldDER
			if tt.wantNew {
				want = newDER
			}
			if !bytes.Equal(got.Certificate[0], want) {
				t.Errorf("loaded the wrong certificate (want new: %v)", tt.wantNew)
			}
		})
	}
}

// TestRenewalDue: a certificate is due once less than the fraction of its
// lifetime is left.
func TestRenewalDue(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &tls.Certificate{Leaf: &x509.Certificate{NotBefore: t0, NotAfter: t0.Add(3 * time.Hour)}}
	tests := []struct {
		name     string
		at       time.Duration
		fraction float64
		want     bool
	}{
		{"two thirds left", time.Hour, 1.0 / 3, false},
		{"two thirds left, renew at 0.9", time.Hour, 0.9, true},
		{"a sixth left", 150 * time.Minute, 1.0 / 3, true},
		{"a sixth left, renew at 0.1", 150 * time.Minute, 0.1, false},
		{"expired", 4 * time.Hour, 0.05, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := renewalDue(c, t0.Add(tt.at), tt.fraction); got != tt.want {
				t.Errorf("renewalDue at +%v with %v = %v, want %v", tt.at, tt.fraction, got, tt.want)
			}
		})
	}
}
