package soft

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/keywrap"
)

// TestRotateDomainKey walks a rotation through two members and a removed
// node: the new key reaches the member by token, old EKTs re-wrap and
// keep opening, MAC tags do not change, the old key is destroyed durably,
// a node joining afterwards gets the MAC root, and the removed node's
// state cannot open an EKT made after the rotation.
func TestRotateDomainKey(t *testing.T) {
	ctx := context.Background()
	a := newTestHSM(t)
	b := newTestHSMDomain(t, false)
	removed := newTestHSMDomain(t, false)
	for _, h := range []*testHSM{b, removed} {
		tok, err := a.ExportDomain(ctx, h.IdentityPublicKey(), []byte("n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.ImportDomain(ctx, tok, []byte("n")); err != nil {
			t.Fatal(err)
		}
	}
	old := a.DomainKeyID()
	mac1, _ := a.MAC(ctx, "grant-token/v1", []byte("m"))
	ref := newKey(t, a.HSM, id(1), id(2))
	body := mustSeal(t, a.HSM, ref, id(3), []byte("aad"), []byte("secret"))

	next, err := a.NewDomainKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.DomainKeyID() != old {
		t.Fatal("NewDomainKey changed the current key")
	}
	tok, err := a.ExportDomainKey(ctx, next, b.IdentityPublicKey(), []byte("n/2"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddDomainKey(ctx, tok, []byte("wrong info")); !errors.Is(err, hsm.ErrAuthentication) {
		t.Fatalf("AddDomainKey with other info: %v, want ErrAuthentication", err)
	}
	if got, err := b.AddDomainKey(ctx, tok, []byte("n/2")); err != nil || got != next {
		t.Fatalf("AddDomainKey = %x, %v", got, err)
	}
	for _, h := range []*testHSM{a, b} {
		if err := h.UseDomainKey(ctx, next); err != nil {
			t.Fatal(err)
		}
		if h.DomainKeyID() != next {
			t.Fatal("UseDomainKey did not switch")
		}
	}
	// Old EKTs still open, and re-wrap.
	mustOpen(t, b.HSM, ref, id(3), []byte("aad"), body, []byte("secret"))
	rewrapped := ref
	if rewrapped.EKT, err = b.RewrapEKT(ctx, ref, next); err != nil {
		t.Fatal(err)
	}
	if got, _ := hsm.EKTDomainKeyID(rewrapped.EKT); got != next {
		t.Fatal("re-wrapped EKT names the old key")
	}
	after := newKey(t, a.HSM, id(4), id(5))
	afterBody := mustSeal(t, a.HSM, after, id(3), nil, []byte("new"))
	// A node joining while the cluster re-wraps gets both keys: it opens
	// EKTs not re-wrapped yet and new ones.
	mid := newTestHSMDomain(t, false)
	mt, err := a.ExportDomain(ctx, mid.IdentityPublicKey(), []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	if err := mid.ImportDomain(ctx, mt, []byte("m")); err != nil {
		t.Fatal(err)
	}
	if ids := mid.DomainKeyIDs(); len(ids) != 2 || ids[0] != next {
		t.Fatalf("joiner mid-rotation holds %x", ids)
	}
	mustOpen(t, mid.HSM, ref, id(3), []byte("aad"), body, []byte("secret"))
	mustOpen(t, mid.HSM, after, id(3), nil, afterBody, []byte("new"))
	damaged := append(bytes.Clone(mt[:tokenSize]), flipBit(bytes.Clone(mt[tokenSize:]), 100)...)
	if err := newTestHSMDomain(t, false).ImportDomain(ctx, damaged, []byte("m")); !errors.Is(err, hsm.ErrAuthentication) {
		t.Fatalf("import with a damaged extra token: %v", err)
	}
	for _, h := range []*testHSM{a, b} {
		if mac, _ := h.MAC(ctx, "grant-token/v1", []byte("m")); !bytes.Equal(mac, mac1) {
			t.Fatal("MAC changed with the domain key")
		}
		if err := h.DestroyDomainKey(ctx, old); err != nil {
			t.Fatal(err)
		}
		if err := h.DestroyDomainKey(ctx, next); err == nil {
			t.Fatal("destroyed the current key")
		}
		if _, err := h.Open(ctx, ref, id(3), []byte("aad"), body); !errors.Is(err, hsm.ErrAuthentication) {
			t.Fatalf("old EKT after retirement: %v", err)
		}
		mustOpen(t, h.HSM, rewrapped, id(3), []byte("aad"), body, []byte("secret"))
	}
	// Durable: reopened from the state file.
	b.Close()
	re, err := Open(b.state, InsecureDevKeyFile(b.key, false))
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	if ids := re.DomainKeyIDs(); len(ids) != 1 || ids[0] != next {
		t.Fatalf("reopened keys %x", ids)
	}
	mustOpen(t, re, after, id(3), nil, afterBody, []byte("new"))
	if mac, _ := re.MAC(ctx, "grant-token/v1", []byte("m")); !bytes.Equal(mac, mac1) {
		t.Fatal("MAC changed across reopen")
	}
	// A node joining after the rotation gets the MAC root with the key.
	c := newTestHSMDomain(t, false)
	jt, err := a.ExportDomain(ctx, c.IdentityPublicKey(), []byte("c"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ImportDomain(ctx, jt, []byte("c")); err != nil {
		t.Fatal(err)
	}
	if mac, _ := c.MAC(ctx, "grant-token/v1", []byte("m")); !bytes.Equal(mac, mac1) || c.DomainKeyID() != next {
		t.Fatal("joiner after rotation: other MAC or key")
	}
	mustOpen(t, c.HSM, after, id(3), nil, afterBody, []byte("new"))
	// The removed node holds only the old key.
	if _, err := removed.Open(ctx, after, id(3), nil, afterBody); !errors.Is(err, hsm.ErrAuthentication) {
		t.Fatalf("removed node opened a post-rotation EKT: %v", err)
	}
	if _, err := removed.Open(ctx, rewrapped, id(3), []byte("aad"), body); !errors.Is(err, hsm.ErrAuthentication) {
		t.Fatalf("removed node opened a re-wrapped EKT: %v", err)
	}
}

func TestStateV2Corrupt(t *testing.T) {
	s := &state{identity: make([]byte, identitySize), dk: bytes.Repeat([]byte{1}, keySize)}
	s.dkid, _ = domainKeyID(s.dk)
	o := heldKey{dk: bytes.Repeat([]byte{2}, keySize)}
	o.dkid, _ = domainKeyID(o.dk)
	s.others = []heldKey{o}
	good := s.marshal()
	if good[0] != stateVersionRotated {
		t.Fatal("a state holding two keys is not version 2")
	}
	if _, err := parseState(good); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	for name, b := range map[string][]byte{
		"truncated": good[:len(good)-1],
		"bad dkid":  flipBit(bytes.Clone(good), 8*(36+heldKeySize+keySize)),
		"zero keys": append(append(bytes.Clone(good[:35]), 0), good[36:]...),
	} {
		if _, err := parseState(b); !errors.Is(err, ErrCorruptState) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Imported material keeps its fingerprint across a rotation: the state
// machine compares a re-import with the first import's fingerprint, so
// one keyed by the current domain key would refuse the same material
// (IncorrectKeyMaterialException) once the key was rotated.
func TestImportFingerprintSurvivesRotation(t *testing.T) {
	ctx := context.Background()
	h := newTestHSM(t)
	material := bytes.Repeat([]byte{0x42}, 32)
	importOnce := func() []byte {
		t.Helper()
		wrapEKT, pub, err := h.GenerateWrappingKey(ctx, hsm.Rsa2048, id(1), id(9))
		if err != nil {
			t.Fatal(err)
		}
		enc, err := keywrap.ForImport(rand.Reader, pub, hsm.RsaesOaepSHA256, material)
		if err != nil {
			t.Fatal(err)
		}
		got, err := h.ImportKey(ctx, hsm.KeyRef{KeyID: id(1), VersionID: id(9), Spec: hsm.Rsa2048, EKT: wrapEKT},
			hsm.RsaesOaepSHA256, enc, hsm.SymmetricDefault, id(2))
		if err != nil {
			t.Fatal(err)
		}
		return got.Fingerprint
	}
	before := importOnce()
	old := h.DomainKeyID()
	next, err := h.NewDomainKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.UseDomainKey(ctx, next); err != nil {
		t.Fatal(err)
	}
	if err := h.DestroyDomainKey(ctx, old); err != nil {
		t.Fatal(err)
	}
	if after := importOnce(); !bytes.Equal(after, before) {
		t.Fatalf("fingerprint %x after the rotation, %x before", after, before)
	}
}
