package soft

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/trentkms/trent/hsm"
)

// aesKeyWrap is RFC 3394 section 2.2.1, for building test EKTs (the
// pkcs11 backend wraps in its token).
func aesKeyWrap(t testing.TB, kek, p []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(kek)
	if err != nil {
		t.Fatal(err)
	}
	n := len(p) / 8
	r := bytes.Clone(p)
	a := uint64(aesKeyDefaultIV)
	var b [16]byte
	for j := range 6 {
		for i := 1; i <= n; i++ {
			binary.BigEndian.PutUint64(b[:8], a)
			copy(b[8:], r[(i-1)*8:i*8])
			block.Encrypt(b[:], b[:])
			a = binary.BigEndian.Uint64(b[:8]) ^ uint64(n*j+i)
			copy(r[(i-1)*8:i*8], b[8:])
		}
	}
	out := binary.BigEndian.AppendUint64(nil, a)
	return append(out, r...)
}

// TestAESKeyWrapRFC3394 checks the unwrap against RFC 3394 section 4.6
// (256-bit key data, 256-bit KEK).
func TestAESKeyWrapRFC3394(t *testing.T) {
	t.Parallel()
	kek, _ := hex.DecodeString("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
	data, _ := hex.DecodeString("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F")
	want, _ := hex.DecodeString("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21")
	if got := aesKeyWrap(t, kek, data); !bytes.Equal(got, want) {
		t.Fatalf("wrap = %X, want %X", got, want)
	}
	got, ok := aesKeyUnwrap(kek, want)
	if !ok || !bytes.Equal(got, data) {
		t.Fatalf("unwrap = %X, %v", got, ok)
	}
	for i := range want {
		bad := bytes.Clone(want)
		bad[i] ^= 1
		if _, ok := aesKeyUnwrap(kek, bad); ok {
			t.Fatalf("unwrap accepted a flipped byte %d", i)
		}
	}
	for _, c := range [][]byte{nil, want[:16], want[:len(want)-1]} {
		if _, ok := aesKeyUnwrap(kek, c); ok {
			t.Fatalf("unwrap accepted %d bytes", len(c))
		}
	}
}

// wrappedEKTFor builds an EKT v2 for material under h's domain key, from
// the format's definition.
func wrappedEKTFor(t testing.TB, h *HSM, material []byte, keyID, versionID [16]byte) []byte {
	t.Helper()
	wrapKey, _ := hkdf.Expand(sha256.New, h.dk, ektWrapLabel, keySize)
	macKey, _ := hkdf.Expand(sha256.New, h.dk, ektMACLabel, keySize)
	e := append([]byte{ektWrapVersion, byte(hsm.SymmetricDefault)}, h.dkid[:]...)
	e = append(e, aesKeyWrap(t, wrapKey, material)...)
	return append(e, MACWithKey(macKey, ektAAD(e, keyID, versionID))...)
}

// TestWrappedEKT: the soft HSM opens EKTs v2 (the pkcs11 backend's) bound
// to their ids, spec and domain key, and refuses any change.
func TestWrappedEKT(t *testing.T) {
	t.Parallel()
	h := newTestHSM(t)
	material := bytes.Repeat([]byte{7}, 32)
	ref := hsm.KeyRef{KeyID: id(1), VersionID: id(2), Spec: hsm.SymmetricDefault}
	ref.EKT = wrappedEKTFor(t, h.HSM, material, ref.KeyID, ref.VersionID)
	if len(ref.EKT) != ektWrapSize {
		t.Fatalf("EKT v2 is %d bytes, want %d", len(ref.EKT), ektWrapSize)
	}
	// It opens a body sealed with the same material.
	body, err := sealMessage(material, ref.KeyID, ref.VersionID, id(3), nil, nil, []byte("v2"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := h.Open(context.Background(), ref, id(3), nil, body); err != nil || string(got) != "v2" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	h.cache.purge()
	for i := range ref.EKT {
		bad := ref
		bad.EKT = bytes.Clone(ref.EKT)
		bad.EKT[i] ^= 0x10
		if _, err := h.Open(context.Background(), bad, id(3), nil, body); !errors.Is(err, hsm.ErrAuthentication) {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
	}
	for name, mutate := range map[string]func(*hsm.KeyRef){
		"key id":     func(r *hsm.KeyRef) { r.KeyID = id(9) },
		"version id": func(r *hsm.KeyRef) { r.VersionID = id(9) },
		"truncated":  func(r *hsm.KeyRef) { r.EKT = r.EKT[:len(r.EKT)-1] },
	} {
		bad := ref
		mutate(&bad)
		if _, err := h.Open(context.Background(), bad, id(3), nil, body); !errors.Is(err, hsm.ErrAuthentication) {
			t.Fatalf("another %s: %v", name, err)
		}
	}
}

// FuzzOpenWrappedEKT: an EKT v2 opens only as made: for its ids and spec,
// byte for byte; anything else is ErrAuthentication, and nothing panics.
func FuzzOpenWrappedEKT(f *testing.F) {
	h := newTestHSM(f, WithRand(seeded(11)), WithCacheSize(0))
	material := bytes.Repeat([]byte{3}, 32)
	good := hsm.KeyRef{KeyID: id(1), VersionID: id(2), Spec: hsm.SymmetricDefault}
	good.EKT = wrappedEKTFor(f, h.HSM, material, good.KeyID, good.VersionID)
	body, err := sealMessage(material, good.KeyID, good.VersionID, id(3), nil, nil, []byte("pt"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.EKT, good.KeyID[:], byte(good.Spec))
	f.Add(flipBit(good.EKT, 30*8), good.KeyID[:], byte(good.Spec))
	f.Add(good.EKT[:58], good.KeyID[:], byte(good.Spec))
	f.Add([]byte{2}, []byte{}, byte(1))
	f.Fuzz(func(t *testing.T, ekt, keyID []byte, spec byte) {
		ref := hsm.KeyRef{VersionID: good.VersionID, Spec: hsm.KeySpec(spec), EKT: ekt}
		copy(ref.KeyID[:], keyID)
		genuine := ref.KeyID == good.KeyID && ref.Spec == good.Spec && bytes.Equal(ekt, good.EKT)
		got, err := h.Open(context.Background(), ref, id(3), nil, body)
		switch {
		case genuine && (err != nil || string(got) != "pt"):
			t.Fatalf("genuine EKT v2 failed: %v", err)
		case !genuine && err != hsm.ErrAuthentication:
			t.Fatalf("forged EKT: Open = %x, %v", got, err)
		}
	})
}
