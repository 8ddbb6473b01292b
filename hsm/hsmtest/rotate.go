package hsmtest

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/trentkms/trent/hsm"
)

// rotator returns b as an hsm.DomainRotator, or skips the test.
func rotator(t *testing.T, b hsm.Backend) hsm.DomainRotator {
	t.Helper()
	r, ok := b.(hsm.DomainRotator)
	if !ok {
		t.Skip("the backend does not rotate the domain key")
	}
	return r
}

func wantKeys(t *testing.T, what string, r hsm.DomainRotator, want ...[16]byte) {
	t.Helper()
	got := r.DomainKeyIDs()
	same := len(got) == len(want) && got[0] == want[0]
	for _, w := range want[1:] {
		same = same && slices.Contains(got[1:], w)
	}
	if !same {
		t.Fatalf("%s: DomainKeyIDs = %x, want %x (current first)", what, got, want)
	}
}

func ektKeyID(t *testing.T, ref hsm.KeyRef) [16]byte {
	t.Helper()
	id, ok := hsm.EKTDomainKeyID(ref.EKT)
	if !ok {
		t.Fatal("EKT too short")
	}
	return id
}

// testRotateDomainKey walks a rotation through two members, as package
// cluster drives it, and nodes joining during and after it: the new key
// travels by token, EKTs made before still open and re-wrap, new ones
// name the new key, MAC tags do not change, and once the old key is
// destroyed its EKTs no longer open, cached or not.
func testRotateDomainKey(t *testing.T, open Open) {
	a, b := open(t, true), open(t, false)
	ra := rotator(t, a)
	rb := rotator(t, b)
	transfer(t, a, b, "cluster/n2")
	old := a.DomainKeyID()
	wantKeys(t, "before", ra, old)
	mac1, err := a.MAC(ctx, "grant-token/v1", []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	ref := newKey(t, a, id(1), id(2))
	body := seal(t, a, ref, id(3), []byte("aad"), []byte("before"))
	wantOpen(t, b, ref, id(3), []byte("aad"), body, []byte("before")) // cached on b now

	next, err := ra.NewDomainKey(ctx)
	if err != nil {
		t.Fatalf("NewDomainKey: %v", err)
	}
	if next == old || a.DomainKeyID() != old {
		t.Fatal("NewDomainKey changed the current key or returned it")
	}
	wantKeys(t, "after NewDomainKey", ra, old, next)
	_, err = ra.ExportDomainKey(ctx, id(9), b.IdentityPublicKey(), []byte("info"))
	wantIs(t, "ExportDomainKey of a key not held", err, hsm.ErrNoDomainKey)
	tok, err := ra.ExportDomainKey(ctx, next, b.IdentityPublicKey(), []byte("rotate/2/n2"))
	if err != nil {
		t.Fatalf("ExportDomainKey: %v", err)
	}
	_, err = rb.AddDomainKey(ctx, tok, []byte("other info"))
	wantIs(t, "AddDomainKey with other info", err, hsm.ErrAuthentication)
	for range 2 { // adding it again does nothing
		if got, err := rb.AddDomainKey(ctx, tok, []byte("rotate/2/n2")); err != nil || got != next {
			t.Fatalf("AddDomainKey = %x, %v; want %x", got, err, next)
		}
	}
	wantKeys(t, "b after AddDomainKey", rb, old, next)
	if b.DomainKeyID() != old {
		t.Fatal("AddDomainKey changed the current key")
	}
	wantIs(t, "UseDomainKey of a key not held", rb.UseDomainKey(ctx, id(9)), hsm.ErrNoDomainKey)
	for _, r := range []hsm.DomainRotator{ra, rb} {
		for range 2 {
			if err := r.UseDomainKey(ctx, next); err != nil {
				t.Fatalf("UseDomainKey: %v", err)
			}
		}
		wantKeys(t, "after UseDomainKey", r, next, old)
	}
	if a.DomainKeyID() != next || b.DomainKeyID() != next {
		t.Fatal("UseDomainKey did not make the key current")
	}

	// Old EKTs open, new ones name the new key, on both.
	wantOpen(t, a, ref, id(3), []byte("aad"), body, []byte("before"))
	wantOpen(t, b, ref, id(3), []byte("aad"), body, []byte("before"))
	after := newKey(t, b, id(4), id(5))
	if ektKeyID(t, after) != next {
		t.Fatal("GenerateKey after UseDomainKey wraps under the old key")
	}
	afterBody := seal(t, b, after, id(3), nil, []byte("after"))
	wantOpen(t, a, after, id(3), nil, afterBody, []byte("after"))
	rewrapped := ref
	if rewrapped.EKT, err = rb.RewrapEKT(ctx, ref, next); err != nil {
		t.Fatalf("RewrapEKT: %v", err)
	}
	if ektKeyID(t, rewrapped) != next {
		t.Fatal("the re-wrapped EKT names the old key")
	}
	wantOpen(t, a, rewrapped, id(3), []byte("aad"), body, []byte("before"))
	bad := ref
	bad.KeyID = id(7)
	_, err = rb.RewrapEKT(ctx, bad, next)
	wantIs(t, "RewrapEKT of an EKT bound to other ids", err, hsm.ErrAuthentication)
	_, err = rb.RewrapEKT(ctx, ref, id(9))
	wantIs(t, "RewrapEKT to a key not held", err, hsm.ErrNoDomainKey)

	// A node joining while the cluster re-wraps gets every held key and
	// the MAC root.
	mid := open(t, false)
	transfer(t, b, mid, "cluster/n4")
	wantKeys(t, "joiner mid-rotation", rotator(t, mid), next, old)
	wantOpen(t, mid, ref, id(3), []byte("aad"), body, []byte("before"))
	wantOpen(t, mid, after, id(3), nil, afterBody, []byte("after"))

	// Retire the old key.
	for _, x := range []hsm.Backend{a, b, mid} {
		if m, err := x.MAC(ctx, "grant-token/v1", []byte("m")); err != nil || !bytes.Equal(m, mac1) {
			t.Fatalf("MAC changed with the domain key: %v", err)
		}
		r := rotator(t, x)
		if err := r.DestroyDomainKey(ctx, next); err == nil {
			t.Fatal("destroyed the current domain key")
		}
		for range 2 { // destroying a key no longer held does nothing
			if err := r.DestroyDomainKey(ctx, old); err != nil {
				t.Fatalf("DestroyDomainKey: %v", err)
			}
		}
		wantKeys(t, "after DestroyDomainKey", r, next)
		_, err := x.Open(ctx, ref, id(3), []byte("aad"), body)
		wantIs(t, "Open of an EKT under the retired key", err, hsm.ErrAuthentication)
		_, err = r.RewrapEKT(ctx, ref, next)
		wantIs(t, "RewrapEKT of an EKT under the retired key", err, hsm.ErrAuthentication)
		_, err = r.ExportDomainKey(ctx, old, a.IdentityPublicKey(), nil)
		wantIs(t, "ExportDomainKey of the retired key", err, hsm.ErrNoDomainKey)
		wantOpen(t, x, rewrapped, id(3), []byte("aad"), body, []byte("before"))
		if m, err := x.MAC(ctx, "grant-token/v1", []byte("m")); err != nil || !bytes.Equal(m, mac1) {
			t.Fatalf("MAC changed when the old key was retired: %v", err)
		}
	}
	// A node joining after the rotation holds the new key only, and the
	// MAC root.
	late := open(t, false)
	transfer(t, a, late, "cluster/n5")
	wantKeys(t, "joiner after the rotation", rotator(t, late), next)
	wantOpen(t, late, rewrapped, id(3), []byte("aad"), body, []byte("before"))
	_, err = late.Open(ctx, ref, id(3), []byte("aad"), body)
	wantIs(t, "Open of an EKT under the retired key on a late joiner", err, hsm.ErrAuthentication)
	if m, err := late.MAC(ctx, "grant-token/v1", []byte("m")); err != nil || !bytes.Equal(m, mac1) {
		t.Fatalf("a node joining after the rotation computes another MAC: %v", err)
	}
	// A second rotation: the MAC root stays the first key.
	third, err := ra.NewDomainKey(ctx)
	if err == nil {
		err = ra.UseDomainKey(ctx, third)
	}
	if err == nil {
		err = ra.DestroyDomainKey(ctx, next)
	}
	if err != nil {
		t.Fatalf("second rotation: %v", err)
	}
	if m, err := a.MAC(ctx, "grant-token/v1", []byte("m")); err != nil || !bytes.Equal(m, mac1) {
		t.Fatalf("MAC changed in the second rotation: %v", err)
	}
}

// testRotateRefusals: without a domain key there is nothing to rotate;
// the held keys are bounded; a canceled context is returned.
func testRotateRefusals(t *testing.T, open Open) {
	a, joiner := open(t, true), open(t, false)
	ra, rj := rotator(t, a), rotator(t, joiner)
	_, err := rj.NewDomainKey(ctx)
	wantIs(t, "NewDomainKey without a domain key", err, hsm.ErrNoDomainKey)
	if ids := rj.DomainKeyIDs(); len(ids) != 0 {
		t.Fatalf("DomainKeyIDs without a domain key = %x", ids)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = ra.NewDomainKey(cctx)
	wantIs(t, "NewDomainKey", err, context.Canceled)
	wantIs(t, "UseDomainKey", ra.UseDomainKey(cctx, a.DomainKeyID()), context.Canceled)
	wantIs(t, "DestroyDomainKey", ra.DestroyDomainKey(cctx, id(9)), context.Canceled)
	_, err = ra.RewrapEKT(cctx, newKey(t, a, id(1), id(2)), a.DomainKeyID())
	wantIs(t, "RewrapEKT", err, context.Canceled)
	// A bound on the keys held, with an error, between 3 (a rotation and
	// one replacing it before the old key is gone) and 16.
	var held int
	for held = 1; held < 16; held++ {
		if _, err := ra.NewDomainKey(ctx); err != nil {
			break
		}
	}
	if held < 3 || held == 16 || len(ra.DomainKeyIDs()) != held {
		t.Fatalf("held %d keys (DomainKeyIDs %d) without refusing", held, len(ra.DomainKeyIDs()))
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = ra.NewDomainKey(ctx)
	wantIs(t, "NewDomainKey after Close", err, hsm.ErrClosed)
	if ids := ra.DomainKeyIDs(); len(ids) != 0 {
		t.Fatalf("DomainKeyIDs after Close = %x", ids)
	}
}
