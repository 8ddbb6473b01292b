package soft

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/trentkms/trent/hsm"
)

// cheapArgon2 keeps passphrase tests fast. Never use it in production.
var cheapArgon2 = WithArgon2(1, 64, 1)

// seeded returns a deterministic reader for WithRand.
func seeded(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

// testHSM is an HSM with its files in a temporary directory.
type testHSM struct {
	*HSM
	dir, state, key string
}

// newTestHSM creates an HSM with a domain key, sealed with a key file.
func newTestHSM(tb testing.TB, opts ...Option) *testHSM {
	tb.Helper()
	return newTestHSMDomain(tb, true, opts...)
}

func newTestHSMDomain(tb testing.TB, withDomain bool, opts ...Option) *testHSM {
	tb.Helper()
	dir := tb.TempDir()
	t := &testHSM{dir: dir, state: filepath.Join(dir, "hsm.state"), key: filepath.Join(dir, "hsm.key")}
	create := Create
	if !withDomain {
		create = CreateWithoutDomain
	}
	h, err := create(t.state, InsecureDevKeyFile(t.key, true), opts...)
	if err != nil {
		tb.Fatalf("create: %v", err)
	}
	tb.Cleanup(func() { h.Close() })
	t.HSM = h
	return t
}

// id returns a 16-byte id filled with b.
func id(b byte) [16]byte {
	var x [16]byte
	for i := range x {
		x[i] = b
	}
	return x
}

// newKey generates a SymmetricDefault key version.
func newKey(tb testing.TB, h *HSM, keyID, versionID [16]byte) hsm.KeyRef {
	tb.Helper()
	ekt, err := h.GenerateKey(context.Background(), hsm.SymmetricDefault, keyID, versionID)
	if err != nil {
		tb.Fatalf("GenerateKey: %v", err)
	}
	return hsm.KeyRef{KeyID: keyID, VersionID: versionID, Spec: hsm.SymmetricDefault, EKT: ekt}
}

func mustSeal(tb testing.TB, h *HSM, ref hsm.KeyRef, nonce [16]byte, aad, pt []byte) []byte {
	tb.Helper()
	body, err := h.Seal(context.Background(), ref, nonce, aad, pt)
	if err != nil {
		tb.Fatalf("Seal: %v", err)
	}
	return body
}

func mustOpen(tb testing.TB, h *HSM, ref hsm.KeyRef, nonce [16]byte, aad, body, want []byte) {
	tb.Helper()
	got, err := h.Open(context.Background(), ref, nonce, aad, body)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	if !bytes.Equal(got, want) {
		tb.Fatalf("Open = %x, want %x", got, want)
	}
}

func flipBit(b []byte, bit int) []byte {
	c := bytes.Clone(b)
	c[bit/8] ^= 1 << (bit % 8)
	return c
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func writeFile(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
}
