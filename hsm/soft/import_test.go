package soft

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/keywrap"
)

// Material encrypted to a wrapping key under every algorithm imports as
// an EKT that works like a generated one, with a fingerprint that is the
// same for the same material and differs otherwise; nothing else
// imports.
func TestImportKey(t *testing.T) {
	t.Parallel()
	h := newTestHSM(t)
	ctx := context.Background()
	wrapEKT, pub, err := h.GenerateWrappingKey(ctx, hsm.Rsa2048, id(1), id(9))
	if err != nil {
		t.Fatal(err)
	}
	wrap := hsm.KeyRef{KeyID: id(1), VersionID: id(9), Spec: hsm.Rsa2048, EKT: wrapEKT}
	sym := bytes.Repeat([]byte{0x42}, 32)
	hmac40 := bytes.Repeat([]byte{0x17}, 40)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPub, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)

	for _, alg := range []hsm.WrappingAlgorithm{hsm.RsaesOaepSHA1, hsm.RsaesOaepSHA256, hsm.RsaAesKeyWrapSHA1, hsm.RsaAesKeyWrapSHA256} {
		t.Run(alg.String(), func(t *testing.T) {
			enc, err := keywrap.ForImport(rand.Reader, pub, alg, sym)
			if err != nil {
				t.Fatal(err)
			}
			got, err := h.ImportKey(ctx, wrap, alg, enc, hsm.SymmetricDefault, id(2))
			if err != nil {
				t.Fatal(err)
			}
			ref := hsm.KeyRef{KeyID: id(1), VersionID: id(2), Spec: hsm.SymmetricDefault, EKT: got.EKT}
			if m, err := unwrapEKT(h.ektKey, h.dkid, &ref); err != nil || !bytes.Equal(m, sym) {
				t.Fatalf("EKT holds %x, %v", m, err)
			}
			want, _ := h.MAC(ctx, hsm.FingerprintLabel, hsm.FingerprintInput(id(1), hsm.SymmetricDefault, sym))
			if !bytes.Equal(got.Fingerprint, want) || got.PublicKey != nil {
				t.Fatalf("fingerprint %x, want MAC %x; public key %x", got.Fingerprint, want, got.PublicKey)
			}
		})
	}

	t.Run("HMAC longer than the digest", func(t *testing.T) {
		enc, _ := keywrap.ForImport(rand.Reader, pub, hsm.RsaesOaepSHA256, hmac40)
		got, err := h.ImportKey(ctx, wrap, hsm.RsaesOaepSHA256, enc, hsm.Hmac256, id(3))
		if err != nil {
			t.Fatal(err)
		}
		ref := hsm.KeyRef{KeyID: id(1), VersionID: id(3), Spec: hsm.Hmac256, EKT: got.EKT}
		for range 2 { // unwrapped, then cached
			tag, err := h.MACKey(ctx, ref, []byte("msg"))
			want := hmac.New(hsm.Hmac256.MACHash().New, hmac40)
			want.Write([]byte("msg"))
			if err != nil || !bytes.Equal(tag, want.Sum(nil)) {
				t.Fatalf("MACKey = %x, %v", tag, err)
			}
		}
	})
	t.Run("key pairs", func(t *testing.T) {
		for _, tc := range []struct {
			spec hsm.KeySpec
			der  []byte
			alg  hsm.WrappingAlgorithm
		}{{hsm.EccNistP256, ecDER, hsm.RsaAesKeyWrapSHA256}, {hsm.Rsa2048, rsaDER, hsm.RsaAesKeyWrapSHA1}} {
			enc, _ := keywrap.ForImport(rand.Reader, pub, tc.alg, tc.der)
			got, err := h.ImportKey(ctx, wrap, tc.alg, enc, tc.spec, id(4))
			if err != nil {
				t.Fatal(err)
			}
			ref := hsm.KeyRef{KeyID: id(1), VersionID: id(4), Spec: tc.spec, EKT: got.EKT}
			p, err := h.PublicKey(ctx, ref)
			if err != nil || !bytes.Equal(p, got.PublicKey) {
				t.Fatalf("%v: PublicKey = %x, %v; import said %x", tc.spec, p, err, got.PublicKey)
			}
			if tc.spec == hsm.EccNistP256 && !bytes.Equal(p, ecPub) {
				t.Fatalf("imported P-256 key has another public key")
			}
		}
	})

	enc := func(alg hsm.WrappingAlgorithm, m []byte) []byte {
		b, err := keywrap.ForImport(rand.Reader, pub, alg, m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := enc(hsm.RsaesOaepSHA256, sym)
	flipped := bytes.Clone(good)
	flipped[10] ^= 1
	otherWrap, otherPub, _ := h.GenerateWrappingKey(ctx, hsm.Rsa2048, id(1), id(8))
	toOther, _ := keywrap.ForImport(rand.Reader, otherPub, hsm.RsaesOaepSHA256, sym)
	for _, tc := range []struct {
		name string
		wrap hsm.KeyRef
		alg  hsm.WrappingAlgorithm
		enc  []byte
		spec hsm.KeySpec
		want error
	}{
		{"flipped bit", wrap, hsm.RsaesOaepSHA256, flipped, hsm.SymmetricDefault, hsm.ErrAuthentication},
		{"other hash", wrap, hsm.RsaesOaepSHA1, good, hsm.SymmetricDefault, hsm.ErrAuthentication},
		{"key wrap of OAEP", wrap, hsm.RsaAesKeyWrapSHA256, good, hsm.SymmetricDefault, hsm.ErrAuthentication},
		{"other wrapping key", wrap, hsm.RsaesOaepSHA256, toOther, hsm.SymmetricDefault, hsm.ErrAuthentication},
		{"wrapping key of another key", hsm.KeyRef{KeyID: id(7), VersionID: id(9), Spec: hsm.Rsa2048, EKT: wrapEKT}, hsm.RsaesOaepSHA256, good, hsm.SymmetricDefault, hsm.ErrAuthentication},
		{"wrapping key EKT of another wrapping key", hsm.KeyRef{KeyID: id(1), VersionID: id(9), Spec: hsm.Rsa2048, EKT: otherWrap}, hsm.RsaesOaepSHA256, good, hsm.SymmetricDefault, hsm.ErrAuthentication},
		{"16-byte symmetric", wrap, hsm.RsaesOaepSHA256, enc(hsm.RsaesOaepSHA256, sym[:16]), hsm.SymmetricDefault, hsm.ErrKeyMaterial},
		{"short HMAC", wrap, hsm.RsaesOaepSHA256, enc(hsm.RsaesOaepSHA256, sym[:20]), hsm.Hmac256, hsm.ErrKeyMaterial},
		{"long HMAC", wrap, hsm.RsaAesKeyWrapSHA256, enc(hsm.RsaAesKeyWrapSHA256, bytes.Repeat(sym, 3)), hsm.Hmac256, hsm.ErrKeyMaterial},
		{"P-256 key as RSA", wrap, hsm.RsaAesKeyWrapSHA256, enc(hsm.RsaAesKeyWrapSHA256, ecDER), hsm.Rsa2048, hsm.ErrKeyMaterial},
		{"RSA-2048 key as RSA-3072", wrap, hsm.RsaAesKeyWrapSHA256, enc(hsm.RsaAesKeyWrapSHA256, rsaDER), hsm.Rsa3072, hsm.ErrKeyMaterial},
		{"not DER", wrap, hsm.RsaesOaepSHA256, enc(hsm.RsaesOaepSHA256, sym), hsm.EccNistP256, hsm.ErrKeyMaterial},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := h.ImportKey(ctx, tc.wrap, tc.alg, tc.enc, tc.spec, id(5)); !errors.Is(err, tc.want) {
				t.Fatalf("ImportKey: %v, want %v", err, tc.want)
			}
		})
	}

	// A wrapping key's EKT is not key material, nor the reverse.
	if _, err := h.PublicKey(ctx, wrap); !errors.Is(err, hsm.ErrAuthentication) {
		t.Fatalf("PublicKey of a wrapping-key EKT: %v", err)
	}
	keyEKT, _ := h.GenerateKey(ctx, hsm.Rsa2048, id(1), id(6))
	if _, err := h.ImportKey(ctx, hsm.KeyRef{KeyID: id(1), VersionID: id(6), Spec: hsm.Rsa2048, EKT: keyEKT}, hsm.RsaesOaepSHA256, good, hsm.SymmetricDefault, id(5)); !errors.Is(err, hsm.ErrAuthentication) {
		t.Fatalf("ImportKey with a key EKT as wrapping key: %v", err)
	}
}

// FuzzImportKeyMaterial feeds arbitrary material (PKCS#8 or not) of every
// spec through the import path: it never panics, and what it accepts is a
// key of the spec.
func FuzzImportKeyMaterial(f *testing.F) {
	h := newTestHSM(f)
	ctx := context.Background()
	wrapEKT, pub, err := h.GenerateWrappingKey(ctx, hsm.Rsa2048, id(1), id(9))
	if err != nil {
		f.Fatal(err)
	}
	wrap := hsm.KeyRef{KeyID: id(1), VersionID: id(9), Spec: hsm.Rsa2048, EKT: wrapEKT}
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	f.Add(byte(hsm.EccNistP384), ecDER)
	f.Add(byte(hsm.SymmetricDefault), bytes.Repeat([]byte{1}, 32))
	f.Add(byte(hsm.Hmac512), bytes.Repeat([]byte{1}, 100))
	f.Fuzz(func(t *testing.T, spec byte, material []byte) {
		if len(material) == 0 || len(material) > 6000 {
			return
		}
		enc, err := keywrap.ForImport(rand.Reader, pub, hsm.RsaAesKeyWrapSHA256, material)
		if err != nil {
			t.Fatal(err)
		}
		s := hsm.KeySpec(spec)
		got, err := h.ImportKey(ctx, wrap, hsm.RsaAesKeyWrapSHA256, enc, s, id(2))
		if err != nil {
			return
		}
		ref := hsm.KeyRef{KeyID: id(1), VersionID: id(2), Spec: s, EKT: got.EKT}
		if s.Asymmetric() {
			if p, err := h.PublicKey(ctx, ref); err != nil || !bytes.Equal(p, got.PublicKey) {
				t.Fatalf("accepted %v material whose EKT gives public key %x, %v", s, p, err)
			}
		} else if m, err := h.material(&ref); err != nil || !bytes.Equal(m, material) {
			t.Fatalf("accepted %v material whose EKT holds %x, %v", s, m, err)
		}
	})
}
