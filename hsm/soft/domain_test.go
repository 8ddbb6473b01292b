package soft

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/trentkms/trent/hsm"
)

func TestDomainTransfer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newTestHSM(t)
	b := newTestHSMDomain(t, false)
	info := []byte("cluster=c1 node=b")

	token, err := a.ExportDomain(ctx, b.IdentityPublicKey(), info)
	if err != nil {
		t.Fatal(err)
	}
	if len(token) != tokenSize {
		t.Fatalf("token is %d bytes, want %d", len(token), tokenSize)
	}
	if err := b.ImportDomain(ctx, token, []byte("cluster=c1 node=c")); !errors.Is(err, hsm.ErrAuthentication) {
		t.Fatalf("import with wrong info: %v", err)
	}
	if err := b.ImportDomain(ctx, token, nil); !errors.Is(err, hsm.ErrAuthentication) {
		t.Fatalf("import with no info: %v", err)
	}
	c := newTestHSMDomain(t, false)
	if err := c.ImportDomain(ctx, token, info); !errors.Is(err, hsm.ErrAuthentication) {
		t.Fatalf("import by another recipient: %v", err)
	}
	if err := b.ImportDomain(ctx, token, info); err != nil {
		t.Fatalf("import: %v", err)
	}
	if a.DomainKeyID() != b.DomainKeyID() || a.DomainKeyID() == ([16]byte{}) {
		t.Fatal("domain key ids differ")
	}

	// Keys and ciphertexts made on either HSM open on the other.
	refA := newKey(t, a.HSM, id(1), id(2))
	bodyA := mustSeal(t, a.HSM, refA, id(3), []byte("aad"), []byte("from a"))
	mustOpen(t, b.HSM, refA, id(3), []byte("aad"), bodyA, []byte("from a"))
	refB := newKey(t, b.HSM, id(4), id(5))
	bodyB := mustSeal(t, b.HSM, refB, id(6), nil, []byte("from b"))
	mustOpen(t, a.HSM, refB, id(6), nil, bodyB, []byte("from b"))
	macA, _ := a.MAC(ctx, "grant-token/v1", []byte("m"))
	macB, _ := b.MAC(ctx, "grant-token/v1", []byte("m"))
	if !bytes.Equal(macA, macB) || len(macA) != 32 {
		t.Fatal("MACs differ across the domain")
	}

	// Re-importing the same domain key is a no-op.
	again, err := a.ExportDomain(ctx, b.IdentityPublicKey(), info)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ImportDomain(ctx, again, info); err != nil {
		t.Fatalf("re-import: %v", err)
	}

	// The domain key was persisted.
	b.Close()
	b2, err := Open(b.state, InsecureDevKeyFile(b.key, false))
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	mustOpen(t, b2, refA, id(3), []byte("aad"), bodyA, []byte("from a"))

	// An HSM of another domain refuses the key.
	d := newTestHSM(t)
	tokD, err := a.ExportDomain(ctx, d.IdentityPublicKey(), info)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ImportDomain(ctx, tokD, info); !errors.Is(err, ErrDomainMismatch) {
		t.Fatalf("import into another domain: %v", err)
	}
	if _, err := d.Open(ctx, refA, id(3), []byte("aad"), bodyA); err != hsm.ErrAuthentication {
		t.Fatalf("other domain opened a ciphertext: %v", err)
	}
}

func TestImportDomainFailsIfTokenIsCorruptedOrTruncated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newTestHSM(t)
	b := newTestHSMDomain(t, false)
	token, err := a.ExportDomain(ctx, b.IdentityPublicKey(), []byte("i"))
	if err != nil {
		t.Fatal(err)
	}
	for bit := range len(token) * 8 {
		if err := b.ImportDomain(ctx, flipBit(token, bit), []byte("i")); !errors.Is(err, hsm.ErrAuthentication) {
			t.Fatalf("bit %d: %v", bit, err)
		}
	}
	for n := range len(token) {
		if err := b.ImportDomain(ctx, token[:n], []byte("i")); !errors.Is(err, hsm.ErrAuthentication) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	if b.DomainKeyID() != ([16]byte{}) {
		t.Fatal("a bad token installed a domain key")
	}
}

func TestExportDomainRejectsBadPublicKey(t *testing.T) {
	t.Parallel()
	a := newTestHSM(t)
	for _, pub := range [][]byte{nil, make([]byte, 31), make([]byte, 33), make([]byte, 65)} {
		if _, err := a.ExportDomain(context.Background(), pub, nil); err == nil {
			t.Errorf("ExportDomain accepted a %d-byte public key", len(pub))
		}
	}
}

func TestMAC(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newTestHSM(t)
	m1, err := a.MAC(ctx, "a", []byte("msg"))
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := a.MAC(ctx, "b", []byte("msg"))
	m3, _ := a.MAC(ctx, "a", []byte("msh"))
	m4, _ := a.MAC(ctx, "a", []byte("msg"))
	if bytes.Equal(m1, m2) || bytes.Equal(m1, m3) || !bytes.Equal(m1, m4) {
		t.Fatal("MAC is not a deterministic function of (label, msg)")
	}
	if _, err := a.MAC(ctx, "", nil); err == nil {
		t.Fatal("empty label accepted")
	}
	other := newTestHSM(t)
	if m5, _ := other.MAC(ctx, "a", []byte("msg")); bytes.Equal(m1, m5) {
		t.Fatal("two domains give the same MAC")
	}
}
