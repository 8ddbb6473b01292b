package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"path/filepath"
	"testing"
	"time"

	"github.com/trentkms/trent/hsm/soft"
	"github.com/trentkms/trent/identity"
)

// newSoftHSM returns a soft HSM with a fresh domain key in a temporary
// directory.
func newSoftHSM(t *testing.T) *soft.HSM {
	t.Helper()
	dir := t.TempDir()
	h, err := soft.Create(filepath.Join(dir, "state"), soft.InsecureDevKeyFile(filepath.Join(dir, "key"), true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func newTestCA(t *testing.T, name string) *identity.CA {
	t.Helper()
	ca, err := identity.NewCA(name, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestSealCAKeyRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newSoftHSM(t)
	ca := newTestCA(t, "trent")
	sealed, err := SealCAKey(ctx, h, rand.Reader, ca)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := ca.KeyPEM()
	block, _ := pem.Decode(keyPEM)
	if bytes.Contains(sealed, []byte("PRIVATE KEY")) || bytes.Contains(sealed, block.Bytes) {
		t.Fatal("the sealed file holds the CA key in the clear")
	}
	got, err := OpenCAKey(ctx, h, ca.CertPEM(), sealed)
	if err != nil {
		t.Fatal(err)
	}
	if gotPEM, _ := got.KeyPEM(); !bytes.Equal(gotPEM, keyPEM) {
		t.Fatal("opened a different key")
	}
	// The opened CA signs.
	key, _ := identity.NewKeyPair()
	der, err := got.IssueClient(identity.RootPrincipal("111122223333"), key.Public(), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	if err := leaf.CheckSignatureFrom(ca.Certificate()); err != nil {
		t.Fatal(err)
	}
}

func TestOpenCAKeyRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newSoftHSM(t)
	ca := newTestCA(t, "trent")
	sealed, err := SealCAKey(ctx, h, rand.Reader, ca)
	if err != nil {
		t.Fatal(err)
	}
	var f localCAFile
	if err := json.Unmarshal(sealed, &f); err != nil {
		t.Fatal(err)
	}
	edit := func(fn func(*localCAFile)) []byte {
		g := f
		g.Key.Sealed = bytes.Clone(f.Key.Sealed)
		fn(&g)
		b, _ := json.Marshal(g)
		return b
	}
	tests := []struct {
		name   string
		h      HSM
		cert   []byte
		sealed []byte
	}{
		{"other_domain_key", newSoftHSM(t), ca.CertPEM(), sealed},
		{"other_ca_certificate", h, newTestCA(t, "trent").CertPEM(), sealed},
		{"flipped_bit", h, ca.CertPEM(), edit(func(g *localCAFile) { g.Key.Sealed[20] ^= 1 })},
		{"other_key_id", h, ca.CertPEM(), edit(func(g *localCAFile) { g.Key.KeyID = "00000000000000000000000000000000" })},
		{"other_format", h, ca.CertPEM(), edit(func(g *localCAFile) { g.Format = "trent-ca-key/v2" })},
		{"unknown_field", h, ca.CertPEM(), append(bytes.TrimSuffix(sealed, []byte("}")), `,"x":1}`...)},
		{"trailing_value", h, ca.CertPEM(), append(bytes.Clone(sealed), "{}"...)},
		{"plaintext_pem", h, ca.CertPEM(), mustKeyPEM(t, ca)},
		{"empty", h, ca.CertPEM(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := OpenCAKey(ctx, tt.h, tt.cert, tt.sealed); err == nil {
				t.Fatal("opened")
			}
		})
	}
}

func mustKeyPEM(t *testing.T, ca *identity.CA) []byte {
	t.Helper()
	b, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
