//go:build pkcs11 && cgo

package pkcs11_test

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/hsmtest"
	"github.com/trentkms/trent/hsm/keywrap"
	"github.com/trentkms/trent/hsm/pkcs11/softhsmtest"
)

// importer is a backend that imports key material.
type importer interface {
	hsm.Backend
	hsm.Importer
}

// importOn wraps material to a wrapping key gen makes for keyID and
// imports it on imp as version versionID.
func importOn(t *testing.T, gen, imp importer, keyID, versionID [16]byte, material []byte) (hsm.KeyRef, []byte) {
	t.Helper()
	wrapEKT, pub, err := gen.GenerateWrappingKey(ctx, hsm.Rsa2048, keyID, id(9))
	if err != nil {
		t.Fatalf("%s: GenerateWrappingKey: %v", gen.Capabilities().Name, err)
	}
	enc, err := keywrap.ForImport(rand.Reader, pub, hsm.RsaAesKeyWrapSHA256, material)
	if err != nil {
		t.Fatal(err)
	}
	wrap := hsm.KeyRef{KeyID: keyID, VersionID: id(9), Spec: hsm.Rsa2048, EKT: wrapEKT}
	got, err := imp.ImportKey(ctx, wrap, hsm.RsaAesKeyWrapSHA256, enc, hsm.SymmetricDefault, versionID)
	if err != nil {
		t.Fatalf("%s: ImportKey of a wrapping key %s made: %v", imp.Capabilities().Name, gen.Capabilities().Name, err)
	}
	want, err := imp.MAC(ctx, hsm.FingerprintLabel, hsm.FingerprintInput(keyID, hsm.SymmetricDefault, material))
	if err != nil || !bytes.Equal(got.Fingerprint, want) {
		t.Fatalf("fingerprint %x, want %x (%v)", got.Fingerprint, want, err)
	}
	return hsm.KeyRef{KeyID: keyID, VersionID: versionID, Spec: hsm.SymmetricDefault, EKT: got.EKT}, got.Fingerprint
}

// TestMixedImport: an import token (wrapping key) made by either backend
// imports on the other, the imported material opens on both with the
// same fingerprint, and after a domain-key rotation the same material
// imports again with the same fingerprint.
func TestMixedImport(t *testing.T) {
	s := softhsmtest.New(t)
	a, b := newSoft(t, true), newHSM(t, s, false)
	hsmtest.Transfer(t, a, b, "n2")
	material := bytes.Repeat([]byte{0x42}, 32)
	for _, c := range []struct {
		name     string
		gen, imp importer
	}{{"soft to pkcs11", a, b}, {"pkcs11 to soft", b, a}, {"pkcs11 only", b, b}} {
		t.Run(c.name, func(t *testing.T) {
			ref, _ := importOn(t, c.gen, c.imp, id(1), id(2), material)
			roundTrip(t, a, b, ref, []byte("imported"))
			roundTrip(t, b, a, ref, []byte("imported"))
		})
	}
	before, fp := importOn(t, b, b, id(1), id(2), material)
	next, err := b.NewDomainKey(ctx)
	if err == nil {
		err = b.UseDomainKey(ctx, next)
	}
	if err == nil {
		err = b.DestroyDomainKey(ctx, a.DomainKeyID())
	}
	if err != nil {
		t.Fatal(err)
	}
	after, fp2 := importOn(t, b, b, id(1), id(2), material)
	if got, _ := hsm.EKTDomainKeyID(after.EKT); got != next {
		t.Fatal("imported under the old domain key")
	}
	if bytes.Equal(before.EKT, after.EKT) || !bytes.Equal(fp, fp2) {
		t.Fatal("the same EKT twice, or another fingerprint after the rotation")
	}
}
