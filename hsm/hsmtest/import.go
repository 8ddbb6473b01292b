package hsmtest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/keywrap"
)

// testImportKey holds an hsm.Importer to its contract: material a client
// wraps to a generated wrapping key, under every algorithm, imports as an
// EKT that seals and opens like generated material, with the fingerprint
// the contract defines; other algorithms, wrapping keys or key ids fail
// with ErrAuthentication, material of the wrong shape with ErrKeyMaterial.
func testImportKey(t *testing.T, open Open) {
	b := open(t, true)
	imp, ok := b.(hsm.Importer)
	if !ok {
		t.Skip("the backend does not import key material")
	}
	wrapEKT, pub, err := imp.GenerateWrappingKey(ctx, hsm.Rsa2048, id(1), id(9))
	if err != nil {
		t.Fatal(err)
	}
	wrap := hsm.KeyRef{KeyID: id(1), VersionID: id(9), Spec: hsm.Rsa2048, EKT: wrapEKT}
	material := bytes.Repeat([]byte{0x42}, 32)
	for _, alg := range []hsm.WrappingAlgorithm{hsm.RsaesOaepSHA1, hsm.RsaesOaepSHA256, hsm.RsaAesKeyWrapSHA1, hsm.RsaAesKeyWrapSHA256} {
		enc, err := keywrap.ForImport(rand.Reader, pub, alg, material)
		if err != nil {
			t.Fatal(err)
		}
		got, err := imp.ImportKey(ctx, wrap, alg, enc, hsm.SymmetricDefault, id(2))
		if err != nil {
			t.Fatalf("ImportKey %v: %v", alg, err)
		}
		want, err := b.MAC(ctx, hsm.FingerprintLabel, hsm.FingerprintInput(id(1), hsm.SymmetricDefault, material))
		if err != nil || !bytes.Equal(got.Fingerprint, want) {
			t.Fatalf("ImportKey %v: fingerprint %x, want %x (%v)", alg, got.Fingerprint, want, err)
		}
		ref := hsm.KeyRef{KeyID: id(1), VersionID: id(2), Spec: hsm.SymmetricDefault, EKT: got.EKT}
		var nonce [16]byte
		ct, err := b.Seal(ctx, ref, nonce, nil, []byte("imported"))
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := b.Open(ctx, ref, nonce, nil, ct); err != nil || string(pt) != "imported" {
			t.Fatalf("Open with imported material: %q, %v", pt, err)
		}
	}
	good, _ := keywrap.ForImport(rand.Reader, pub, hsm.RsaesOaepSHA256, material)
	short, _ := keywrap.ForImport(rand.Reader, pub, hsm.RsaesOaepSHA256, material[:16])
	otherKey := wrap
	otherKey.KeyID = id(3)
	for _, tc := range []struct {
		name string
		wrap hsm.KeyRef
		alg  hsm.WrappingAlgorithm
		enc  []byte
		want error
	}{
		{"other algorithm", wrap, hsm.RsaesOaepSHA1, good, hsm.ErrAuthentication},
		{"wrapping key of another key", otherKey, hsm.RsaesOaepSHA256, good, hsm.ErrAuthentication},
		{"16-byte symmetric material", wrap, hsm.RsaesOaepSHA256, short, hsm.ErrKeyMaterial},
	} {
		if _, err := imp.ImportKey(ctx, tc.wrap, tc.alg, tc.enc, hsm.SymmetricDefault, id(2)); !errors.Is(err, tc.want) {
			t.Errorf("%s: ImportKey: %v, want %v", tc.name, err, tc.want)
		}
	}
}
