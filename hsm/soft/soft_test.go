package soft

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/trentkms/trent/hsm"
)

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	h := newTestHSM(t)
	ref := newKey(t, h.HSM, id(1), id(2))
	tests := []struct {
		name string
		aad  []byte
		pt   []byte
	}{
		{"empty", nil, nil},
		{"empty_plaintext_with_aad", []byte("header"), []byte{}},
		{"data_key", []byte("aad"), bytes.Repeat([]byte{7}, 32)},
		{"max", bytes.Repeat([]byte{1}, 8192), bytes.Repeat([]byte{9}, 4096)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := mustSeal(t, h.HSM, ref, id(3), tt.aad, tt.pt)
			if len(body) != len(tt.pt)+hsm.SealOverhead {
				t.Fatalf("len(body) = %d, want %d", len(body), len(tt.pt)+hsm.SealOverhead)
			}
			mustOpen(t, h.HSM, ref, id(3), tt.aad, body, tt.pt)
		})
	}
}

func TestSealUsesFreshIVs(t *testing.T) {
	t.Parallel()
	h := newTestHSM(t)
	ref := newKey(t, h.HSM, id(1), id(2))
	a := mustSeal(t, h.HSM, ref, id(3), nil, []byte("x"))
	b := mustSeal(t, h.HSM, ref, id(3), nil, []byte("x"))
	if bytes.Equal(a[:ivSize], b[:ivSize]) || bytes.Equal(a, b) {
		t.Fatal("two seals share an IV")
	}
}

func TestOpenFailsClosed(t *testing.T) {
	t.Parallel()
	h := newTestHSM(t)
	ref := newKey(t, h.HSM, id(1), id(2))
	other := newKey(t, h.HSM, id(4), id(5))
	sameKeyOtherVersion := newKey(t, h.HSM, id(1), id(6))
	nonce, aad, pt := id(3), []byte("additional data"), []byte("secret plaintext")
	body := mustSeal(t, h.HSM, ref, nonce, aad, pt)

	with := func(f func(r *hsm.KeyRef)) hsm.KeyRef {
		r := ref
		r.EKT = bytes.Clone(ref.EKT)
		f(&r)
		return r
	}
	tests := []struct {
		name  string
		ref   hsm.KeyRef
		nonce [16]byte
		aad   []byte
		body  []byte
	}{
		{"wrong_key", other, nonce, aad, body},
		{"other_version_same_key", sameKeyOtherVersion, nonce, aad, body},
		{"wrong_aad", ref, nonce, []byte("additional datA"), body},
		{"missing_aad", ref, nonce, nil, body},
		{"wrong_nonce", ref, id(9), aad, body},
		{"ekt_of_another_key", with(func(r *hsm.KeyRef) { r.EKT = other.EKT }), nonce, aad, body},
		{"swapped_ids", with(func(r *hsm.KeyRef) { r.KeyID, r.VersionID = r.VersionID, r.KeyID }), nonce, aad, body},
		{"wrong_key_id", with(func(r *hsm.KeyRef) { r.KeyID[0] ^= 1 }), nonce, aad, body},
		{"wrong_version_id", with(func(r *hsm.KeyRef) { r.VersionID[15] ^= 0x80 }), nonce, aad, body},
		{"spec_zero", with(func(r *hsm.KeyRef) { r.Spec = 0 }), nonce, aad, body},
		{"spec_two", with(func(r *hsm.KeyRef) { r.Spec = 2 }), nonce, aad, body},
		{"nil_ekt", with(func(r *hsm.KeyRef) { r.EKT = nil }), nonce, aad, body},
		{"ekt_extended", with(func(r *hsm.KeyRef) { r.EKT = append(r.EKT, 0) }), nonce, aad, body},
		{"body_extended", ref, nonce, aad, append(bytes.Clone(body), 0)},
		{"empty_body", ref, nonce, aad, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := h.Open(context.Background(), tt.ref, tt.nonce, tt.aad, tt.body)
			if err != hsm.ErrAuthentication || got != nil {
				t.Fatalf("Open = %x, %v; want nil, hsm.ErrAuthentication", got, err)
			}
		})
	}
}

func TestOpenDecryptFailsIfBodyOrEKTIsCorruptedOrTruncated(t *testing.T) {
	t.Parallel()
	for _, cache := range []int{0, defaultCacheSize} {
		h := newTestHSM(t, WithCacheSize(cache))
		ref := newKey(t, h.HSM, id(1), id(2))
		nonce, aad, pt := id(3), []byte("aad"), []byte("0123456789abcdef0123456789abcdef")
		body := mustSeal(t, h.HSM, ref, nonce, aad, pt)
		mustOpen(t, h.HSM, ref, nonce, aad, body, pt) // warm the cache

		check := func(t *testing.T, what string, r hsm.KeyRef, b []byte) {
			t.Helper()
			if got, err := h.Open(context.Background(), r, nonce, aad, b); err != hsm.ErrAuthentication || got != nil {
				t.Fatalf("%s: Open = %x, %v", what, got, err)
			}
		}
		for bit := range len(body) * 8 {
			check(t, "body bit flip", ref, flipBit(body, bit))
		}
		for n := range len(body) {
			check(t, "body truncation", ref, body[:n])
		}
		for bit := range len(ref.EKT) * 8 {
			r := ref
			r.EKT = flipBit(ref.EKT, bit)
			check(t, "EKT bit flip", r, body)
			if _, err := h.Seal(context.Background(), r, nonce, aad, pt); err != hsm.ErrAuthentication {
				t.Fatalf("Seal with flipped EKT bit %d: %v", bit, err)
			}
		}
		for n := range len(ref.EKT) {
			r := ref
			r.EKT = ref.EKT[:n]
			check(t, "EKT truncation", r, body)
		}
		mustOpen(t, h.HSM, ref, nonce, aad, body, pt) // the cache still works
	}
}

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	h := newTestHSM(t)
	ctx := context.Background()
	a, err := h.GenerateKey(ctx, hsm.SymmetricDefault, id(1), id(2))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != ektHeaderSize+ivSize+keySize+tagSize || a[0] != ektVersion || a[1] != byte(hsm.SymmetricDefault) {
		t.Fatalf("EKT = %x", a)
	}
	if dkid := h.DomainKeyID(); !bytes.Equal(a[2:18], dkid[:]) {
		t.Fatal("EKT does not carry the domain key id")
	}
	b, _ := h.GenerateKey(ctx, hsm.SymmetricDefault, id(1), id(2))
	if bytes.Equal(a, b) {
		t.Fatal("two GenerateKey calls gave the same EKT")
	}
	for _, spec := range []hsm.KeySpec{0, 17, 255} {
		if _, err := h.GenerateKey(ctx, spec, id(1), id(2)); !errors.Is(err, hsm.ErrUnsupported) {
			t.Errorf("GenerateKey(spec %d) err = %v", spec, err)
		}
	}
}

func TestDeterministicWithRand(t *testing.T) {
	t.Parallel()
	a := newTestHSM(t, WithRand(seeded(1)))
	b := newTestHSM(t, WithRand(seeded(1)))
	if !bytes.Equal(readFile(t, a.state), readFile(t, b.state)) || !bytes.Equal(readFile(t, a.key), readFile(t, b.key)) {
		t.Fatal("same seed, different state files")
	}
	ra, rb := newKey(t, a.HSM, id(1), id(2)), newKey(t, b.HSM, id(1), id(2))
	if !bytes.Equal(ra.EKT, rb.EKT) {
		t.Fatal("same seed, different EKTs")
	}
	sa := mustSeal(t, a.HSM, ra, id(3), nil, []byte("x"))
	sb := mustSeal(t, b.HSM, rb, id(3), nil, []byte("x"))
	if !bytes.Equal(sa, sb) {
		t.Fatal("same seed, different ciphertexts")
	}
	c := newTestHSM(t, WithRand(seeded(2)))
	if bytes.Equal(readFile(t, a.state), readFile(t, c.state)) {
		t.Fatal("different seeds, same state file")
	}
}

func TestRandom(t *testing.T) {
	t.Parallel()
	h := newTestHSM(t)
	ctx := context.Background()
	for _, n := range []int{0, 1, 32, 1024, maxRandom} {
		b, err := h.Random(ctx, n)
		if err != nil || len(b) != n {
			t.Fatalf("Random(%d) = %d bytes, %v", n, len(b), err)
		}
	}
	for _, n := range []int{-1, maxRandom + 1} {
		if _, err := h.Random(ctx, n); err == nil {
			t.Errorf("Random(%d) succeeded", n)
		}
	}
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	h := newTestHSM(t)
	ref := newKey(t, h.HSM, id(1), id(2))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := map[string]func() error{
		"GenerateKey": func() error { _, err := h.GenerateKey(ctx, hsm.SymmetricDefault, id(1), id(2)); return err },
		"Seal":        func() error { _, err := h.Seal(ctx, ref, id(3), nil, nil); return err },
		"Open":        func() error { _, err := h.Open(ctx, ref, id(3), nil, nil); return err },
		"Random":      func() error { _, err := h.Random(ctx, 1); return err },
		"MAC":         func() error { _, err := h.MAC(ctx, "l", nil); return err },
		"Export":      func() error { _, err := h.ExportDomain(ctx, h.IdentityPublicKey(), nil); return err },
		"Import":      func() error { return h.ImportDomain(ctx, nil, nil) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestClosed(t *testing.T) {
	t.Parallel()
	h := newTestHSM(t)
	ref := newKey(t, h.HSM, id(1), id(2))
	body := mustSeal(t, h.HSM, ref, id(3), nil, nil)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := context.Background()
	errs := map[string]error{}
	_, errs["GenerateKey"] = h.GenerateKey(ctx, hsm.SymmetricDefault, id(1), id(2))
	_, errs["Seal"] = h.Seal(ctx, ref, id(3), nil, nil)
	_, errs["Open"] = h.Open(ctx, ref, id(3), nil, body)
	_, errs["Random"] = h.Random(ctx, 1)
	_, errs["MAC"] = h.MAC(ctx, "l", nil)
	_, errs["ExportDomain"] = h.ExportDomain(ctx, make([]byte, 32), nil)
	errs["ImportDomain"] = h.ImportDomain(ctx, nil, nil)
	for name, err := range errs {
		if !errors.Is(err, ErrClosed) || !errors.Is(err, hsm.ErrSealed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
	if h.IdentityPublicKey() != nil {
		t.Error("closed HSM still exposes its identity")
	}
}

func TestCacheIsBoundedAndChecksEKT(t *testing.T) {
	t.Parallel()
	h := newTestHSM(t, WithCacheSize(3))
	refs := make([]hsm.KeyRef, 10)
	for i := range refs {
		refs[i] = newKey(t, h.HSM, id(byte(i)), id(100))
	}
	if n := h.cache.len(); n != 3 {
		t.Fatalf("cache holds %d entries, want 3", n)
	}
	for _, ref := range refs { // evicted ones unwrap again
		body := mustSeal(t, h.HSM, ref, id(1), nil, []byte("x"))
		mustOpen(t, h.HSM, ref, id(1), nil, body, []byte("x"))
	}
	// A second, valid EKT for the same (key, version) replaces the entry;
	// the first EKT still opens (by unwrapping) and is not served from the
	// entry of the second.
	r1 := refs[9]
	r2 := newKey(t, h.HSM, r1.KeyID, r1.VersionID) // fresh material, same ids
	b1 := mustSeal(t, h.HSM, r1, id(1), nil, []byte("one"))
	b2 := mustSeal(t, h.HSM, r2, id(1), nil, []byte("two"))
	mustOpen(t, h.HSM, r1, id(1), nil, b1, []byte("one"))
	mustOpen(t, h.HSM, r2, id(1), nil, b2, []byte("two"))
	if _, err := h.Open(context.Background(), r2, id(1), nil, b1); err != hsm.ErrAuthentication {
		t.Fatalf("body of EKT 1 opened under EKT 2: %v", err)
	}
}

func TestCacheWipesOnEvictAndClose(t *testing.T) {
	t.Parallel()
	h := newTestHSM(t, WithCacheSize(1))
	newKey(t, h.HSM, id(1), id(1))
	el := h.cache.lru.Front()
	m := el.Value.(*cacheEntry).material
	newKey(t, h.HSM, id(2), id(2))
	if !bytes.Equal(m, make([]byte, keySize)) {
		t.Fatal("evicted material not wiped")
	}
	m = h.cache.lru.Front().Value.(*cacheEntry).material
	h.Close()
	if !bytes.Equal(m, make([]byte, keySize)) {
		t.Fatal("material not wiped on Close")
	}
}

// Forget drops and wipes the cached material of every version of one key,
// and only that key's; material unwrapped by an operation in flight
// across a Forget is not cached after it.
func TestForgetDropsAKeysCachedMaterial(t *testing.T) {
	t.Parallel()
	h := newTestHSM(t)
	ctx := context.Background()
	gone1, gone2, kept := newKey(t, h.HSM, id(1), id(1)), newKey(t, h.HSM, id(1), id(2)), newKey(t, h.HSM, id(2), id(1))
	var wiped [][]byte
	for el := h.cache.lru.Front(); el != nil; el = el.Next() {
		if e := el.Value.(*cacheEntry); e.key.keyID == id(1) {
			wiped = append(wiped, e.material)
		}
	}
	if err := h.Forget(ctx, id(1)); err != nil {
		t.Fatal(err)
	}
	if n := h.cache.len(); n != 1 {
		t.Fatalf("cache holds %d entries after Forget, want 1", n)
	}
	for _, m := range wiped {
		if !bytes.Equal(m, make([]byte, keySize)) {
			t.Fatal("forgotten material not wiped")
		}
	}
	if !h.cache.get(&kept, make([]byte, keySize)) {
		t.Fatal("another key's entry was dropped")
	}
	// The EKTs still work (deleting them is the state machine's part) ...
	mustSeal(t, h.HSM, gone1, id(1), nil, []byte("x"))
	mustSeal(t, h.HSM, gone2, id(1), nil, []byte("x"))
	h.cache.forget(id(1))
	// ... and one unwrapped before a Forget is not cached after it.
	gen := h.cache.generation()
	m := make([]byte, keySize)
	h.cache.forget(id(1))
	h.cache.putAt(&gone1, m, gen)
	if n := h.cache.len(); n != 1 {
		t.Fatalf("material unwrapped before a Forget was cached after it (%d entries)", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	h := newTestHSM(t, WithCacheSize(4), WithRand(seeded(7)))
	refs := make([]hsm.KeyRef, 12)
	for i := range refs {
		refs[i] = newKey(t, h.HSM, id(byte(i)), id(byte(i+50)))
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 100 {
				ref := refs[(g+i)%len(refs)]
				pt := []byte{byte(g), byte(i)}
				body, err := h.Seal(ctx, ref, id(byte(i)), []byte{byte(g)}, pt)
				if err != nil {
					errs <- err
					return
				}
				got, err := h.Open(ctx, ref, id(byte(i)), []byte{byte(g)}, body)
				if err != nil || !bytes.Equal(got, pt) {
					errs <- errors.Join(err, errors.New("round trip mismatch"))
					return
				}
				if i%10 == 0 {
					if _, err := h.GenerateKey(ctx, hsm.SymmetricDefault, id(byte(g)), id(byte(i))); err != nil {
						errs <- err
						return
					}
					if _, err := h.MAC(ctx, "test", pt); err != nil {
						errs <- err
						return
					}
					if _, err := h.Random(ctx, 16); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestConcurrentClose(t *testing.T) {
	t.Parallel()
	h := newTestHSM(t, WithCacheSize(2))
	refs := []hsm.KeyRef{newKey(t, h.HSM, id(1), id(1)), newKey(t, h.HSM, id(2), id(2)), newKey(t, h.HSM, id(3), id(3))}
	ctx := context.Background()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			<-start
			for i := range 200 {
				ref := refs[(g+i)%len(refs)]
				body, err := h.Seal(ctx, ref, id(0), nil, []byte("x"))
				if err == nil {
					_, err = h.Open(ctx, ref, id(0), nil, body)
				}
				if err != nil && !errors.Is(err, ErrClosed) {
					t.Errorf("unexpected error: %v", err)
					return
				}
			}
		})
	}
	close(start)
	h.Close()
	wg.Wait()
}
