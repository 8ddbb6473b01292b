//go:build pkcs11 && cgo

package pkcs11_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/hsmtest"
	"github.com/trentkms/trent/hsm/pkcs11"
	"github.com/trentkms/trent/hsm/pkcs11/softhsmtest"
)

// rotatorBackend is what a rotating node needs of its HSM.
type rotatorBackend interface {
	hsm.Backend
	hsm.DomainRotator
}

// distribute makes a key from's HSM holds current on every one of to,
// as package cluster does: a domain token to each, AddDomainKey, then
// UseDomainKey everywhere.
func distribute(t *testing.T, from rotatorBackend, dkid [16]byte, to ...rotatorBackend) {
	t.Helper()
	for _, r := range to {
		if r == from {
			continue
		}
		tok, err := from.ExportDomainKey(ctx, dkid, r.IdentityPublicKey(), []byte("rotate/n"))
		if err != nil {
			t.Fatalf("ExportDomainKey: %v", err)
		}
		if got, err := r.AddDomainKey(ctx, tok, []byte("rotate/n")); err != nil || got != dkid {
			t.Fatalf("%s: AddDomainKey = %x, %v", r.Capabilities().Name, got, err)
		}
	}
	for _, r := range append(to, from) {
		if err := r.UseDomainKey(ctx, dkid); err != nil {
			t.Fatalf("%s: UseDomainKey: %v", r.Capabilities().Name, err)
		}
	}
}

func retire(t *testing.T, dkid [16]byte, rs ...rotatorBackend) {
	t.Helper()
	for _, r := range rs {
		if err := r.DestroyDomainKey(ctx, dkid); err != nil {
			t.Fatalf("%s: DestroyDomainKey: %v", r.Capabilities().Name, err)
		}
	}
}

func rewrap(t *testing.T, r rotatorBackend, ref hsm.KeyRef, dkid [16]byte) hsm.KeyRef {
	t.Helper()
	ekt, err := r.RewrapEKT(ctx, ref, dkid)
	if err != nil {
		t.Fatalf("%s: RewrapEKT of %s: %v", r.Capabilities().Name, ref.Spec, err)
	}
	if got, _ := hsm.EKTDomainKeyID(ekt); got != dkid {
		t.Fatal("the re-wrapped EKT names another key")
	}
	ref.EKT = ekt
	return ref
}

func wantMAC(t *testing.T, want []byte, bs ...hsm.Backend) {
	t.Helper()
	for _, b := range bs {
		if got, err := b.MAC(ctx, "grant-token/v1", []byte("m")); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: MAC differs from the cluster's first (%v)", b.Capabilities().Name, err)
		}
	}
}

func wantKeys(t *testing.T, r hsm.DomainRotator, n int, current [16]byte) {
	t.Helper()
	if ids := r.DomainKeyIDs(); len(ids) != n || ids[0] != current {
		t.Fatalf("DomainKeyIDs = %x, want %d keys, %x current", ids, n, current)
	}
}

// TestMixedRotation rotates the domain key of a cluster of a soft node
// and two PKCS#11 nodes twice, once from a PKCS#11 node and once from
// the soft one: the new keys travel between the backends by token, each
// re-wraps the other's EKTs (a soft node's key pair too), domain exports
// made during and after a rotation open on the other backend with every
// held key and the MAC root, and the MAC never changes.
func TestMixedRotation(t *testing.T) {
	s := softhsmtest.New(t)
	a := newSoft(t, true)
	b, c := newHSM(t, s, false), newHSM(t, s, false)
	hsmtest.Transfer(t, a, b, "n2")
	hsmtest.Transfer(t, b, c, "n3")
	all := []rotatorBackend{a, b, c}
	mac1, _ := a.MAC(ctx, "grant-token/v1", []byte("m"))
	first := a.DomainKeyID()
	refA := newKey(t, a, id(1), id(1)) // EKT v1
	bodyA, err := a.Seal(ctx, refA, id(3), nil, []byte("under the first key"))
	if err != nil {
		t.Fatal(err)
	}
	refB := newKey(t, b, id(2), id(1)) // EKT v2
	pairEKT, err := a.GenerateKey(ctx, hsm.EccNistP256, id(3), id(1))
	if err != nil {
		t.Fatal(err)
	}
	pair := hsm.KeyRef{KeyID: id(3), VersionID: id(1), Spec: hsm.EccNistP256, EKT: pairEKT}
	pub, err := a.PublicKey(ctx, pair)
	if err != nil {
		t.Fatal(err)
	}

	// Rotation 1, from PKCS#11 node b.
	second, err := b.NewDomainKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	distribute(t, b, second, all...)
	for _, r := range all {
		wantKeys(t, r, 2, second)
	}
	newA := newKey(t, a, id(4), id(1))
	refA2, refB2, pair2 := rewrap(t, b, refA, second), rewrap(t, c, refB, second), rewrap(t, b, pair, second)
	for _, from := range all {
		for _, to := range all {
			roundTrip(t, from, to, refA2, []byte("soft-made, re-wrapped on pkcs11"))
			roundTrip(t, from, to, refB, []byte("pkcs11-made, not re-wrapped yet"))
			roundTrip(t, from, to, newA, []byte("made under the new key"))
		}
	}
	if got, err := a.PublicKey(ctx, pair2); err != nil || !bytes.Equal(got, pub) {
		t.Fatalf("soft's key pair re-wrapped on pkcs11: %v", err)
	}
	// Joining mid-rotation: soft -> pkcs11 and pkcs11 -> soft.
	d, e := newSoft(t, false), newHSM(t, s, false)
	hsmtest.Transfer(t, c, d, "n4")
	hsmtest.Transfer(t, a, e, "n5")
	for _, r := range []rotatorBackend{d, e} {
		wantKeys(t, r, 2, second)
		roundTrip(t, a, r, refA, []byte("old key"))
		roundTrip(t, b, r, refB2, []byte("new key"))
	}
	all = append(all, d, e)
	wantMAC(t, mac1, d, e)
	retire(t, first, all...)
	for _, r := range all {
		wantKeys(t, r, 1, second)
		if _, err := r.Open(ctx, refA2, id(3), nil, bodyA); err != nil {
			t.Fatalf("%s: the re-wrapped EKT: %v", r.Capabilities().Name, err)
		}
		if _, err := r.Open(ctx, refA, id(3), nil, bodyA); !errors.Is(err, hsm.ErrAuthentication) {
			t.Fatalf("%s: an EKT under the retired key: %v", r.Capabilities().Name, err)
		}
	}
	wantMAC(t, mac1, a, b, c, d, e)
	// Joining after it: each gets the MAC root beside the current key.
	f, g := newSoft(t, false), newHSM(t, s, false)
	hsmtest.Transfer(t, b, f, "n6")
	hsmtest.Transfer(t, d, g, "n7")
	wantMAC(t, mac1, f, g)
	roundTrip(t, f, g, refB2, []byte("after"))

	// Rotation 2, from the soft node, which g (holding the MAC root apart
	// from its keys) follows.
	third, err := a.NewDomainKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all = []rotatorBackend{a, b, g}
	distribute(t, a, third, all...)
	refB3 := rewrap(t, g, refB2, third)
	retire(t, second, all...)
	for _, from := range all {
		for _, to := range all {
			roundTrip(t, from, to, refB3, []byte("twice re-wrapped"))
		}
	}
	wantMAC(t, mac1, a, b, g)
	h := newSoft(t, false)
	hsmtest.Transfer(t, g, h, "n8")
	wantMAC(t, mac1, h)
	wantKeys(t, h, 1, third)
}

// TestRotationDurable: every rotation step survives a reopen of the
// token, and what a step interrupted by a crash left is cleaned up.
func TestRotationDurable(t *testing.T) {
	s := softhsmtest.New(t)
	cfg := s.Token(t, "rot")
	cfg.WithDomain = true
	h := open(t, cfg)
	cfg.WithDomain = false
	reopen := func() *pkcs11.HSM {
		t.Helper()
		h.Close()
		h = open(t, cfg)
		return h
	}
	mac1, _ := h.MAC(ctx, "grant-token/v1", []byte("m"))
	old := h.DomainKeyID()
	ref := newKey(t, h, id(1), id(1))
	next, err := h.NewDomainKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantKeys(t, reopen(), 2, old)
	if err := h.UseDomainKey(ctx, next); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, reopen(), 2, next)
	roundTrip(t, h, h, ref, []byte("old EKT after reopen"))
	ref2 := rewrap(t, h, ref, next)
	if err := h.DestroyDomainKey(ctx, old); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, reopen(), 1, next)
	wantMAC(t, mac1, h)
	roundTrip(t, h, h, ref2, []byte("re-wrapped"))
	if _, err := h.Seal(ctx, ref, id(3), nil, nil); !errors.Is(err, hsm.ErrAuthentication) {
		t.Fatalf("an EKT under the retired key after reopen: %v", err)
	}
	// The retired MAC root keeps trent/domain and its escrow only.
	for label, want := range map[string]int{"trent/domain": 2, "trent/escrow": 2, "trent/ekt-wrap": 1, "trent/domains": 1} {
		if n, err := h.TokenObjects(label); err != nil || n != want {
			t.Fatalf("%d %s objects (%v), want %d", n, label, err, want)
		}
	}

	t.Run("interrupted NewDomainKey", func(t *testing.T) {
		// The new key's objects are on the token, but the last record
		// does not name them.
		if _, err := h.NewDomainKey(ctx); err != nil {
			t.Fatal(err)
		}
		if err := h.AddDomainsRecord(1000, next, old); err != nil {
			t.Fatal(err)
		}
		wantKeys(t, reopen(), 1, next)
		for label, want := range map[string]int{"trent/domain": 2, "trent/ekt": 1, "trent/escrow-key": 2, "trent/domains": 1} {
			if n, err := h.TokenObjects(label); err != nil || n != want {
				t.Fatalf("%d %s objects (%v), want %d", n, label, err, want)
			}
		}
		wantMAC(t, mac1, h)
	})
	t.Run("interrupted record change", func(t *testing.T) {
		// An older record left beside the newest one: ignored, destroyed.
		if err := h.AddDomainsRecord(1, old, old); err != nil {
			t.Fatal(err)
		}
		wantKeys(t, reopen(), 1, next)
		if n, _ := h.TokenObjects("trent/domains"); n != 1 {
			t.Fatalf("%d trent/domains left", n)
		}
	})
	t.Run("interrupted retirement of the MAC root", func(t *testing.T) {
		// The record no longer names the first key, whose EKT objects are
		// still there: the next start destroys them and keeps the rest.
		rcfg := s.Token(t, "retire")
		rcfg.WithDomain = true
		r := open(t, rcfg)
		root := r.DomainKeyID()
		mac, _ := r.MAC(ctx, "grant-token/v1", []byte("m"))
		rootRef := newKey(t, r, id(1), id(1))
		n, err := r.NewDomainKey(ctx)
		if err == nil {
			err = r.UseDomainKey(ctx, n)
		}
		if err == nil {
			err = r.AddDomainsRecord(100, n, root)
		}
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		rcfg.WithDomain = false
		r = open(t, rcfg)
		wantKeys(t, r, 1, n)
		wantMAC(t, mac, r)
		if _, err := r.Seal(ctx, rootRef, id(3), nil, nil); !errors.Is(err, hsm.ErrAuthentication) {
			t.Fatalf("an EKT under the half-retired key: %v", err)
		}
		for label, want := range map[string]int{"trent/domain": 2, "trent/escrow": 2, "trent/ekt": 1, "trent/ekt-wrap": 1, "trent/ekt-mac": 1} {
			if got, err := r.TokenObjects(label); err != nil || got != want {
				t.Fatalf("%d %s objects (%v), want %d", got, label, err, want)
			}
		}
	})
	t.Run("interrupted import", func(t *testing.T) {
		// A joiner gets two keys and the MAC root; the import stops
		// before the current key's trent/domain: the next start discards
		// it all and the node imports again.
		third, err := h.NewDomainKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		jcfg := s.Token(t, "joiner")
		j := open(t, jcfg)
		hsmtest.Transfer(t, h, j, "n2")
		wantKeys(t, j, 2, next)
		main, _, domain, _ := j.State()
		if err := j.Ctx().DestroyObject(main, domain); err != nil {
			t.Fatal(err)
		}
		j.Close()
		j = open(t, jcfg)
		if ids := j.DomainKeyIDs(); len(ids) != 0 {
			t.Fatalf("a half-imported token holds %x", ids)
		}
		for _, label := range []string{"trent/domain", "trent/ekt", "trent/escrow", "trent/domains"} {
			if n, _ := j.TokenObjects(label); n != 0 {
				t.Fatalf("%d %s objects left of the import", n, label)
			}
		}
		hsmtest.Transfer(t, h, j, "n2")
		wantKeys(t, j, 2, next)
		if ids := j.DomainKeyIDs(); ids[1] != third {
			t.Fatalf("held %x", ids)
		}
		wantMAC(t, mac1, j)
		roundTrip(t, h, j, ref2, []byte("after the import"))
	})
}

// TestRotationReconnect: with two keys held and the MAC root kept apart,
// a reconnect (the sessions died, and every working copy with them)
// finds every set again: EKTs under both keys open and the MAC holds.
func TestRotationReconnect(t *testing.T) {
	s := softhsmtest.New(t)
	h := newHSM(t, s, true)
	mac1, _ := h.MAC(ctx, "grant-token/v1", []byte("m"))
	first := h.DomainKeyID()
	old := newKey(t, h, id(1), id(1))
	for range 2 { // the second rotation leaves the first key as MAC root only
		next, err := h.NewDomainKey(ctx)
		if err == nil {
			err = h.UseDomainKey(ctx, next)
		}
		if err != nil {
			t.Fatal(err)
		}
		if prev := h.DomainKeyIDs()[1]; prev == first {
			old = rewrap(t, h, old, next)
			retire(t, first, h)
		}
	}
	cur := newKey(t, h, id(2), id(1))
	roundTrip(t, h, h, old, []byte("cached before"))
	_, slot, _, _ := h.State()
	if err := h.Ctx().CloseAllSessions(slot); err != nil {
		t.Fatal(err)
	}
	wantMAC(t, mac1, h)
	if n := h.Reconnects(); n != 1 {
		t.Fatalf("%d reconnects, want 1", n)
	}
	curID, _ := hsm.EKTDomainKeyID(cur.EKT)
	wantKeys(t, h, 2, curID)
	roundTrip(t, h, h, old, []byte("under the held key"))
	roundTrip(t, h, h, cur, []byte("under the current key"))
}
