package soft

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/trentkms/trent/hsm"
)

// MACKey is HMAC with the key's material (known answer against
// crypto/hmac), and the material is the spec's digest size.
func TestMACKeyKnownAnswer(t *testing.T) {
	t.Parallel()
	h := newTestHSM(t)
	ctx := context.Background()
	for _, spec := range []hsm.KeySpec{hsm.Hmac224, hsm.Hmac256, hsm.Hmac384, hsm.Hmac512} {
		ekt, err := h.GenerateKey(ctx, spec, id(1), id(byte(spec)))
		if err != nil {
			t.Fatal(err)
		}
		ref := hsm.KeyRef{KeyID: id(1), VersionID: id(byte(spec)), Spec: spec, EKT: ekt}
		m, err := unwrapEKT(h.ektKey, h.dkid, &ref)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != spec.MACHash().Size() {
			t.Fatalf("%v material is %d bytes", spec, len(m))
		}
		msg := []byte("known answer")
		want := hmac.New(spec.MACHash().New, m)
		want.Write(msg)
		got, err := h.MACKey(ctx, ref, msg)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Sum(nil)) {
			t.Fatalf("%v: MACKey = %x, want %x", spec, got, want.Sum(nil))
		}
	}
}

// An asymmetric EKT wraps its PKCS#8 private key, whose public half is
// what PublicKey returns; a parsed key is cached and dropped by Forget.
func TestPrivateKeyEKT(t *testing.T) {
	t.Parallel()
	h := newTestHSM(t)
	ctx := context.Background()
	ekt, err := h.GenerateKey(ctx, hsm.EccNistP384, id(1), id(2))
	if err != nil {
		t.Fatal(err)
	}
	ref := hsm.KeyRef{KeyID: id(1), VersionID: id(2), Spec: hsm.EccNistP384, EKT: ekt}
	if _, ok := h.cache.getPrivate(&ref); !ok {
		t.Fatal("GenerateKey did not cache the parsed key")
	}
	m, err := unwrapEKT(h.ektKey, h.dkid, &ref)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.ParsePKCS8PrivateKey(m)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := x509.MarshalPKIXPublicKey(k.(crypto.Signer).Public())
	if err := h.Forget(ctx, id(1)); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.cache.getPrivate(&ref); ok {
		t.Fatal("Forget left the parsed key cached")
	}
	got, err := h.PublicKey(ctx, ref)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("PublicKey = %x, %v; want %x", got, err, want)
	}
	// The same EKT with another spec number is refused.
	ref.Spec = hsm.EccNistP256
	if _, err := h.PublicKey(ctx, ref); !errors.Is(err, hsm.ErrAuthentication) {
		t.Fatalf("PublicKey with another spec: %v", err)
	}
}

// FuzzParsePrivateKey feeds arbitrary bytes as PKCS#8 material of every
// asymmetric spec: parsing never panics and accepts only a key of the
// spec.
func FuzzParsePrivateKey(f *testing.F) {
	h := newTestHSM(f, WithRand(seeded(7)))
	for _, spec := range []hsm.KeySpec{hsm.EccNistP256, hsm.EccNistEdwards25519, hsm.EccSecgP256k1, hsm.MlDsa44} {
		m, _, err := h.newMaterial(spec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(m, byte(spec))
		f.Add(m[:len(m)/2], byte(spec))
	}
	f.Add([]byte{0x30, 0x00}, byte(hsm.Rsa2048))
	f.Fuzz(func(t *testing.T, der []byte, spec byte) {
		k, err := parsePrivateKey(hsm.KeySpec(spec), der)
		if err == nil && keySpecOf(k.Public()) != hsm.KeySpec(spec) {
			t.Fatalf("parsed a %v key as %v", keySpecOf(k.Public()), hsm.KeySpec(spec))
		}
	})
}
