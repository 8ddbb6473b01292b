// Package hsmtest is the conformance suite of [hsm.Backend]: every
// backend's tests call [Run], and a backend is done when it passes. It
// checks each method's contract as package hsm states it, not one
// backend's formats: round trips, tamper and wrong-key detection, typed
// errors (errors.Is against the sentinels of package hsm), domain export
// and import between two backends, and that Close ends everything.
//
// The suite uses the testing package and belongs in tests only.
package hsmtest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/trentkms/trent/hsm"
)

// Open opens a fresh backend for the suite, with state of its own. With
// domain set it holds a fresh domain key (a bootstrap node's backend);
// without, it has none yet (a joining node's, before ImportDomain). Open
// registers the backend's cleanup with t (Close is idempotent, so the
// suite may close it first).
type Open func(t *testing.T, domain bool) hsm.Backend

// Run runs the conformance suite against the backends open makes.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"Capabilities", testCapabilities},
		{"SealOpen", testSealOpen},
		{"OpenTampered", testOpenTampered},
		{"WrongKey", testWrongKey},
		{"OtherDomain", testOtherDomain},
		{"MAC", testMAC},
		{"Random", testRandom},
		{"NoDomainKey", testNoDomainKey},
		{"DomainTransfer", testDomainTransfer},
		{"ImportDomainRefusals", testImportDomainRefusals},
		{"Forget", testForget},
		{"Canceled", testCanceled},
		{"Close", testClose},
		{"Concurrent", testConcurrent},
		{"Sign", testSign},
		{"SignRefusals", testSignRefusals},
		{"KeyMAC", testKeyMAC},
		{"SignConcurrentAndClose", testSignConcurrentAndClose},
		{"DecryptOAEP", testDecryptOAEP},
		{"ECDH", testECDH},
		{"ImportKey", testImportKey},
		{"RotateDomainKey", testRotateDomainKey},
		{"RotateRefusals", testRotateRefusals},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

var ctx = context.Background()

// id returns a 16-byte id filled with b.
func id(b byte) [16]byte {
	var x [16]byte
	for i := range x {
		x[i] = b
	}
	return x
}

// newKey generates a SymmetricDefault key version on b.
func newKey(t *testing.T, b hsm.Backend, keyID, versionID [16]byte) hsm.KeyRef {
	t.Helper()
	ekt, err := b.GenerateKey(ctx, hsm.SymmetricDefault, keyID, versionID)
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	if len(ekt) == 0 {
		t.Fatal("GenerateKey returned an empty EKT")
	}
	return hsm.KeyRef{KeyID: keyID, VersionID: versionID, Spec: hsm.SymmetricDefault, EKT: ekt}
}

func seal(t *testing.T, b hsm.Backend, ref hsm.KeyRef, nonce [16]byte, aad, pt []byte) []byte {
	t.Helper()
	body, err := b.Seal(ctx, ref, nonce, aad, pt)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return body
}

func wantOpen(t *testing.T, b hsm.Backend, ref hsm.KeyRef, nonce [16]byte, aad, body, want []byte) {
	t.Helper()
	got, err := b.Open(ctx, ref, nonce, aad, body)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Open = %x, want %x", got, want)
	}
}

func wantIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

// transfer gives to the domain key of from, as a joining node gets it.
func transfer(t testing.TB, from, to hsm.Backend, info string) {
	t.Helper()
	token, err := from.ExportDomain(ctx, to.IdentityPublicKey(), []byte(info))
	if err != nil {
		t.Fatalf("ExportDomain: %v", err)
	}
	if err := to.ImportDomain(ctx, token, []byte(info)); err != nil {
		t.Fatalf("ImportDomain: %v", err)
	}
}

// Transfer gives to the domain key of from (ExportDomain, then
// ImportDomain with the same info), as a joining node gets it; for tests
// and benchmarks across backends.
func Transfer(t testing.TB, from, to hsm.Backend, info string) {
	t.Helper()
	transfer(t, from, to, info)
}

func testCapabilities(t *testing.T, open Open) {
	b := open(t, true)
	c := b.Capabilities()
	if c.Name == "" {
		t.Error("Capabilities().Name is empty")
	}
	if !c.Supports(hsm.SymmetricDefault) {
		t.Fatal("a backend must support SymmetricDefault")
	}
	for _, spec := range []hsm.KeySpec{0, 2, 255} {
		if c.Supports(spec) {
			continue
		}
		_, err := b.GenerateKey(ctx, spec, id(1), id(2))
		wantIs(t, "GenerateKey of an unsupported spec", err, hsm.ErrUnsupported)
	}
}

func testSealOpen(t *testing.T, open Open) {
	b := open(t, true)
	ref := newKey(t, b, id(1), id(2))
	for _, n := range []int{0, 1, 31, 4096, 64 << 10} {
		pt := bytes.Repeat([]byte{byte(n)}, n)
		for _, aad := range [][]byte{nil, []byte("header || encryption context")} {
			body := seal(t, b, ref, id(3), aad, pt)
			if len(body) != n+hsm.SealOverhead {
				t.Fatalf("len(Seal(%d bytes)) = %d, want %d", n, len(body), n+hsm.SealOverhead)
			}
			wantOpen(t, b, ref, id(3), aad, body, pt)
			if again := seal(t, b, ref, id(3), aad, pt); bytes.Equal(again, body) {
				t.Fatal("two Seals of the same message are equal: the IV is not random")
			}
		}
	}
	// A copy of the EKT works as well as the original: the backend keeps
	// no reference to the caller's slice.
	ref2 := ref
	ref2.EKT = bytes.Clone(ref.EKT)
	body := seal(t, b, ref, id(3), nil, []byte("x"))
	wantOpen(t, b, ref2, id(3), nil, body, []byte("x"))
}

func testOpenTampered(t *testing.T, open Open) {
	b := open(t, true)
	ref := newKey(t, b, id(1), id(2))
	aad, pt := []byte("aad"), []byte("attack at dawn")
	body := seal(t, b, ref, id(3), aad, pt)
	for i := range body {
		for bit := range 8 {
			bad := bytes.Clone(body)
			bad[i] ^= 1 << bit
			_, err := b.Open(ctx, ref, id(3), aad, bad)
			wantIs(t, "Open of a flipped body", err, hsm.ErrAuthentication)
		}
	}
	for n := range len(body) {
		_, err := b.Open(ctx, ref, id(3), aad, body[:n])
		wantIs(t, "Open of a truncated body", err, hsm.ErrAuthentication)
	}
	_, err := b.Open(ctx, ref, id(3), aad, append(bytes.Clone(body), 0))
	wantIs(t, "Open of an extended body", err, hsm.ErrAuthentication)
	_, err = b.Open(ctx, ref, id(3), []byte("aaD"), body)
	wantIs(t, "Open with other aad", err, hsm.ErrAuthentication)
	_, err = b.Open(ctx, ref, id(3), nil, body)
	wantIs(t, "Open without the aad", err, hsm.ErrAuthentication)
	_, err = b.Open(ctx, ref, id(4), aad, body)
	wantIs(t, "Open with another nonce", err, hsm.ErrAuthentication)
	for i := range ref.EKT {
		bad := ref
		bad.EKT = bytes.Clone(ref.EKT)
		bad.EKT[i] ^= 0x01
		_, err := b.Open(ctx, bad, id(3), aad, body)
		wantIs(t, "Open with a flipped EKT", err, hsm.ErrAuthentication)
		_, err = b.Seal(ctx, bad, id(3), aad, pt)
		wantIs(t, "Seal with a flipped EKT", err, hsm.ErrAuthentication)
	}
	for _, ekt := range [][]byte{nil, ref.EKT[:len(ref.EKT)-1], append(bytes.Clone(ref.EKT), 0)} {
		bad := ref
		bad.EKT = ekt
		_, err := b.Open(ctx, bad, id(3), aad, body)
		wantIs(t, "Open with a truncated or extended EKT", err, hsm.ErrAuthentication)
	}
}

// testWrongKey: an EKT is bound to its key id, version id and spec, and a
// message to its key version.
func testWrongKey(t *testing.T, open Open) {
	b := open(t, true)
	ref := newKey(t, b, id(1), id(2))
	other := newKey(t, b, id(1), id(5))
	body := seal(t, b, ref, id(3), nil, []byte("secret"))
	_, err := b.Open(ctx, other, id(3), nil, body)
	wantIs(t, "Open under another version", err, hsm.ErrAuthentication)

	for name, mutate := range map[string]func(*hsm.KeyRef){
		"key id":     func(r *hsm.KeyRef) { r.KeyID = id(9) },
		"version id": func(r *hsm.KeyRef) { r.VersionID = id(9) },
		"spec":       func(r *hsm.KeyRef) { r.Spec = 2 },
		"EKT":        func(r *hsm.KeyRef) { r.EKT = other.EKT },
	} {
		bad := ref
		mutate(&bad)
		_, err := b.Open(ctx, bad, id(3), nil, body)
		if !errors.Is(err, hsm.ErrAuthentication) && !errors.Is(err, hsm.ErrUnsupported) {
			t.Errorf("Open with another %s: err = %v, want ErrAuthentication", name, err)
		}
		_, err = b.Seal(ctx, bad, id(3), nil, []byte("x"))
		if !errors.Is(err, hsm.ErrAuthentication) && !errors.Is(err, hsm.ErrUnsupported) {
			t.Errorf("Seal with another %s: err = %v, want ErrAuthentication", name, err)
		}
	}
	// The same ids generated twice are two different keys.
	again := newKey(t, b, id(1), id(2))
	_, err = b.Open(ctx, again, id(3), nil, body)
	wantIs(t, "Open under a regenerated key", err, hsm.ErrAuthentication)
}

// testOtherDomain: an EKT made under one domain key is useless elsewhere.
func testOtherDomain(t *testing.T, open Open) {
	a, b := open(t, true), open(t, true)
	if a.DomainKeyID() == b.DomainKeyID() {
		t.Fatal("two fresh domains have the same DomainKeyID")
	}
	if a.DomainKeyID() == ([16]byte{}) {
		t.Fatal("DomainKeyID is zero on a backend with a domain key")
	}
	ref := newKey(t, a, id(1), id(2))
	body := seal(t, a, ref, id(3), nil, []byte("secret"))
	_, err := b.Open(ctx, ref, id(3), nil, body)
	wantIs(t, "Open in another domain", err, hsm.ErrAuthentication)
	_, err = b.Seal(ctx, ref, id(3), nil, []byte("x"))
	wantIs(t, "Seal in another domain", err, hsm.ErrAuthentication)
}

func testMAC(t *testing.T, open Open) {
	a, other := open(t, true), open(t, true)
	mac := func(b hsm.Backend, label, msg string) []byte {
		t.Helper()
		m, err := b.MAC(ctx, label, []byte(msg))
		if err != nil {
			t.Fatalf("MAC: %v", err)
		}
		if len(m) != 32 {
			t.Fatalf("len(MAC) = %d, want 32", len(m))
		}
		return m
	}
	m := mac(a, "test/v1", "msg")
	if !bytes.Equal(m, mac(a, "test/v1", "msg")) {
		t.Fatal("MAC is not deterministic")
	}
	for _, d := range [][2]string{{"test/v2", "msg"}, {"test/v1", "msh"}, {"test/v1", ""}} {
		if bytes.Equal(m, mac(a, d[0], d[1])) {
			t.Fatalf("MAC(%q, %q) equals MAC(test/v1, msg)", d[0], d[1])
		}
	}
	if bytes.Equal(m, mac(other, "test/v1", "msg")) {
		t.Fatal("two domains give the same MAC")
	}
	if _, err := a.MAC(ctx, "", []byte("msg")); err == nil {
		t.Fatal("MAC with an empty label succeeded")
	}
}

func testRandom(t *testing.T, open Open) {
	b := open(t, true)
	for _, n := range []int{0, 1, 32, 1 << 20} {
		r, err := b.Random(ctx, n)
		if err != nil || len(r) != n {
			t.Fatalf("Random(%d) = %d bytes, %v", n, len(r), err)
		}
	}
	r1, _ := b.Random(ctx, 32)
	r2, _ := b.Random(ctx, 32)
	if bytes.Equal(r1, r2) {
		t.Fatal("two Random(32) are equal")
	}
	for _, n := range []int{-1, 1<<20 + 1} {
		if _, err := b.Random(ctx, n); err == nil {
			t.Errorf("Random(%d) succeeded", n)
		}
	}
}

// testNoDomainKey: a joining node's backend has an identity but refuses
// everything that needs the domain key, with a typed error.
func testNoDomainKey(t *testing.T, open Open) {
	a, b := open(t, true), open(t, false)
	if len(b.IdentityPublicKey()) == 0 {
		t.Fatal("a backend without a domain key has no identity key")
	}
	if b.DomainKeyID() != ([16]byte{}) {
		t.Fatal("DomainKeyID is not zero without a domain key")
	}
	ref := newKey(t, a, id(1), id(2))
	body := seal(t, a, ref, id(3), nil, []byte("x"))
	_, err := b.GenerateKey(ctx, hsm.SymmetricDefault, id(1), id(2))
	wantIs(t, "GenerateKey", err, hsm.ErrNoDomainKey)
	_, err = b.Seal(ctx, ref, id(3), nil, []byte("x"))
	wantIs(t, "Seal", err, hsm.ErrNoDomainKey)
	_, err = b.Open(ctx, ref, id(3), nil, body)
	wantIs(t, "Open", err, hsm.ErrNoDomainKey)
	_, err = b.MAC(ctx, "test/v1", nil)
	wantIs(t, "MAC", err, hsm.ErrNoDomainKey)
	_, err = b.ExportDomain(ctx, a.IdentityPublicKey(), nil)
	wantIs(t, "ExportDomain", err, hsm.ErrNoDomainKey)
	wantIs(t, "ErrNoDomainKey", err, hsm.ErrSealed)
	if _, err := b.Random(ctx, 16); err != nil {
		t.Fatalf("Random needs no domain key: %v", err)
	}
}

// testDomainTransfer: a joining node's backend imports the domain key
// from a member's and from then on is its equal.
func testDomainTransfer(t *testing.T, open Open) {
	a, b := open(t, true), open(t, false)
	ref := newKey(t, a, id(1), id(2))
	body := seal(t, a, ref, id(3), []byte("aad"), []byte("from a"))
	transfer(t, a, b, "cluster-1/node2")
	if a.DomainKeyID() != b.DomainKeyID() {
		t.Fatal("DomainKeyID differs after the transfer")
	}
	wantOpen(t, b, ref, id(3), []byte("aad"), body, []byte("from a"))
	ref2 := newKey(t, b, id(4), id(5))
	wantOpen(t, a, ref2, id(6), nil, seal(t, b, ref2, id(6), nil, []byte("from b")), []byte("from b"))
	ma, _ := a.MAC(ctx, "test/v1", []byte("m"))
	mb, _ := b.MAC(ctx, "test/v1", []byte("m"))
	if !bytes.Equal(ma, mb) {
		t.Fatal("MAC differs between backends of one domain")
	}
	// Re-importing the key it holds is a no-op; and a member passes the
	// key on (a third node joining through the second).
	transfer(t, a, b, "cluster-1/node2")
	c := open(t, false)
	transfer(t, b, c, "cluster-1/node3")
	wantOpen(t, c, ref, id(3), []byte("aad"), body, []byte("from a"))
}

func testImportDomainRefusals(t *testing.T, open Open) {
	a, b := open(t, true), open(t, false)
	token, err := a.ExportDomain(ctx, b.IdentityPublicKey(), []byte("info"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ExportDomain(ctx, []byte("not a key"), []byte("info")); err == nil {
		t.Error("ExportDomain to a malformed identity key succeeded")
	}
	for i := range token {
		bad := bytes.Clone(token)
		bad[i] ^= 0x80
		wantIs(t, "ImportDomain of a flipped token", b.ImportDomain(ctx, bad, []byte("info")), hsm.ErrAuthentication)
	}
	for _, bad := range [][]byte{nil, token[:len(token)-1], append(bytes.Clone(token), 0)} {
		wantIs(t, "ImportDomain of a truncated or extended token", b.ImportDomain(ctx, bad, []byte("info")), hsm.ErrAuthentication)
	}
	wantIs(t, "ImportDomain with other info", b.ImportDomain(ctx, token, []byte("inf0")), hsm.ErrAuthentication)
	c := open(t, false)
	wantIs(t, "ImportDomain of a token for another backend", c.ImportDomain(ctx, token, []byte("info")), hsm.ErrAuthentication)
	if b.DomainKeyID() != ([16]byte{}) {
		t.Fatal("a refused token installed a domain key")
	}
	// A backend with a domain key of its own refuses another one.
	d := open(t, true)
	token, err = a.ExportDomain(ctx, d.IdentityPublicKey(), []byte("info"))
	if err != nil {
		t.Fatal(err)
	}
	wantIs(t, "ImportDomain of another domain", d.ImportDomain(ctx, token, []byte("info")), hsm.ErrDomainMismatch)
	// After all that, the right token still imports.
	transfer(t, a, b, "info")
}

// testForget: Forget succeeds for a key the backend used and for one it
// never saw, is repeatable, leaves other keys working, and does not
// revoke an EKT (the state machine deletes those): a ref that still
// carries one seals and opens as before.
func testForget(t *testing.T, open Open) {
	a := open(t, true)
	gone, kept := newKey(t, a, id(1), id(2)), newKey(t, a, id(4), id(2))
	older := newKey(t, a, id(1), id(3))
	pt := []byte("forgotten")
	body := seal(t, a, gone, id(3), nil, pt)
	keptBody := seal(t, a, kept, id(3), nil, pt)
	for range 2 {
		if err := a.Forget(ctx, gone.KeyID); err != nil {
			t.Fatalf("Forget: %v", err)
		}
	}
	if err := a.Forget(ctx, id(7)); err != nil {
		t.Fatalf("Forget of an unknown key: %v", err)
	}
	wantOpen(t, a, kept, id(3), nil, keptBody, pt)
	wantOpen(t, a, gone, id(3), nil, body, pt)
	wantOpen(t, a, older, id(5), nil, seal(t, a, older, id(5), nil, pt), pt)
}

// testCanceled: every method with a context returns its error.
func testCanceled(t *testing.T, open Open) {
	a, b := open(t, true), open(t, false)
	ref := newKey(t, a, id(1), id(2))
	body := seal(t, a, ref, id(3), nil, nil)
	token, err := a.ExportDomain(ctx, b.IdentityPublicKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for name, call := range calls(a, a.IdentityPublicKey(), ref, body, token) {
		wantIs(t, name, call(cctx), context.Canceled)
	}
	wantIs(t, "ImportDomain", b.ImportDomain(cctx, token, nil), context.Canceled)
}

// calls returns a call of every method of b that takes a context; pub is
// a valid identity key to export to.
func calls(b hsm.Backend, pub []byte, ref hsm.KeyRef, body, token []byte) map[string]func(context.Context) error {
	return map[string]func(context.Context) error{
		"GenerateKey": func(ctx context.Context) error {
			_, err := b.GenerateKey(ctx, hsm.SymmetricDefault, id(1), id(9))
			return err
		},
		"Seal": func(ctx context.Context) error { _, err := b.Seal(ctx, ref, id(3), nil, nil); return err },
		"Open": func(ctx context.Context) error { _, err := b.Open(ctx, ref, id(3), nil, body); return err },
		"MAC":  func(ctx context.Context) error { _, err := b.MAC(ctx, "test/v1", nil); return err },
		"Random": func(ctx context.Context) error {
			_, err := b.Random(ctx, 8)
			return err
		},
		"ExportDomain": func(ctx context.Context) error { _, err := b.ExportDomain(ctx, pub, nil); return err },
		"Forget":       func(ctx context.Context) error { return b.Forget(ctx, ref.KeyID) },
		"ImportDomain": func(ctx context.Context) error { return b.ImportDomain(ctx, token, nil) },
	}
}

// testClose: after Close every call fails with ErrClosed (a kind of
// ErrSealed), Capabilities still answers, and Close is idempotent.
func testClose(t *testing.T, open Open) {
	a := open(t, true)
	ref := newKey(t, a, id(1), id(2))
	body := seal(t, a, ref, id(3), nil, []byte("x"))
	token, err := a.ExportDomain(ctx, a.IdentityPublicKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	caps, pub := a.Capabilities(), a.IdentityPublicKey()
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for name, call := range calls(a, pub, ref, body, token) {
		err := call(ctx)
		wantIs(t, name+" after Close", err, hsm.ErrClosed)
		wantIs(t, name+" after Close", err, hsm.ErrSealed)
	}
	if a.IdentityPublicKey() != nil {
		t.Error("IdentityPublicKey is not nil after Close")
	}
	if a.DomainKeyID() != ([16]byte{}) {
		t.Error("DomainKeyID is not zero after Close")
	}
	if got := a.Capabilities(); got.Name != caps.Name {
		t.Errorf("Capabilities after Close = %+v, want %+v", got, caps)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// testConcurrent runs every operation from several goroutines at once;
// run with -race.
func testConcurrent(t *testing.T, open Open) {
	a, b := open(t, true), open(t, false)
	ref := newKey(t, a, id(1), id(2))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				pt := []byte{byte(g), byte(i)}
				body, err := a.Seal(ctx, ref, id(byte(i)), nil, pt)
				if err != nil {
					errs <- err
					return
				}
				if got, err := a.Open(ctx, ref, id(byte(i)), nil, body); err != nil || !bytes.Equal(got, pt) {
					errs <- errors.Join(err, errors.New("concurrent round trip failed"))
					return
				}
				if _, err := a.GenerateKey(ctx, hsm.SymmetricDefault, id(byte(g)), id(byte(i))); err != nil {
					errs <- err
					return
				}
				if _, err := a.MAC(ctx, "test/v1", pt); err != nil {
					errs <- err
					return
				}
				if err := a.Forget(ctx, id(byte(g))); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		token, err := a.ExportDomain(ctx, b.IdentityPublicKey(), nil)
		if err == nil {
			err = b.ImportDomain(ctx, token, nil)
		}
		if err != nil {
			errs <- err
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
