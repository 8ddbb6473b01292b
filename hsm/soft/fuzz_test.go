package soft

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/trentkms/trent/hsm"
)

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// FuzzOpenEKT feeds arbitrary EKTs, ids and specs to Open: it must never
// panic, must fail with exactly hsm.ErrAuthentication, and must succeed only
// for the genuine key reference.
func FuzzOpenEKT(f *testing.F) {
	h := newTestHSM(f, WithRand(seeded(9)), WithCacheSize(2))
	good := newKey(f, h.HSM, id(1), id(2))
	nonce, aad, pt := id(3), []byte("aad"), []byte("plaintext")
	body := mustSeal(f, h.HSM, good, nonce, aad, pt)

	f.Add(good.EKT, good.KeyID[:], good.VersionID[:], byte(good.Spec))
	f.Add(flipBit(good.EKT, 3), good.KeyID[:], good.VersionID[:], byte(good.Spec))
	f.Add(good.EKT, good.VersionID[:], good.KeyID[:], byte(good.Spec))
	f.Add(good.EKT[:40], good.KeyID[:], good.VersionID[:], byte(2))
	f.Add([]byte{}, []byte{}, []byte{}, byte(0))
	f.Fuzz(func(t *testing.T, ekt, keyID, versionID []byte, spec byte) {
		ref := hsm.KeyRef{Spec: hsm.KeySpec(spec), EKT: ekt}
		copy(ref.KeyID[:], keyID)
		copy(ref.VersionID[:], versionID)
		genuine := ref.KeyID == good.KeyID && ref.VersionID == good.VersionID &&
			ref.Spec == good.Spec && bytes.Equal(ekt, good.EKT)

		got, err := h.Open(context.Background(), ref, nonce, aad, body)
		switch {
		case genuine && (err != nil || !bytes.Equal(got, pt)):
			t.Fatalf("genuine reference failed: %v", err)
		case !genuine && err != hsm.ErrAuthentication:
			t.Fatalf("forged reference: Open = %x, %v", got, err)
		}
		if !genuine {
			if _, err := unwrapEKT(h.ektKey, h.dkid, &ref); err != hsm.ErrAuthentication {
				t.Fatalf("unwrapEKT accepted a forged reference: %v", err)
			}
		}
	})
}

// fuzzKey is the key-file key FuzzStateFile seals its seed under.
var fuzzKey = bytes.Repeat([]byte{0x5a}, 32)

// FuzzStateFile runs the state file parser and decrypter on arbitrary
// files: no panics, only the documented errors, and an accepted state
// re-encodes to the same bytes.
func FuzzStateFile(f *testing.F) {
	seed := func(withDomain bool) []byte {
		r := seeded(4)
		s, err := newState(r, withDomain)
		if err != nil {
			f.Fatal(err)
		}
		h := sealHeader{kdf: kdfKeyFile}
		kek, _ := hkdf.Key(sha256.New, fuzzKey, h.salt[:], keyFileKEKLabel, keySize)
		file, err := sealState(&h, kek, r, s)
		if err != nil {
			f.Fatal(err)
		}
		return file
	}
	f.Add(seed(true))
	f.Add(seed(false))
	f.Add([]byte("TRENTHSM\x01\x02\x00\x00\x00\x03\x00\x01\x00\x00\x04"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, sealed, err := parseStateFile(data)
		if err != nil {
			if err != ErrCorruptState {
				t.Fatalf("parseStateFile err = %v", err)
			}
			return
		}
		if h.kdf != kdfKeyFile {
			return // Argon2 is too slow to fuzz; its parameters were checked.
		}
		kek, err := hkdf.Key(sha256.New, fuzzKey, h.salt[:], keyFileKEKLabel, keySize)
		if err != nil {
			t.Fatal(err)
		}
		s, err := openState(&h, kek, sealed)
		if err != nil {
			if !errors.Is(err, ErrWrongKey) && !errors.Is(err, ErrCorruptState) {
				t.Fatalf("openState err = %v", err)
			}
			return
		}
		// Only the seeds decrypt; they must re-encode identically.
		nonce := h.nonce
		again, err := sealState(&h, kek, bytes.NewReader(nonce[:]), s)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("re-encoded state differs: %v", err)
		}
	})
}

// FuzzParseState runs the state plaintext decoder on arbitrary input: no
// panics, and every accepted input is canonical.
func FuzzParseState(f *testing.F) {
	for _, withDomain := range []bool{true, false} {
		s, err := newState(seeded(5), withDomain)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s.marshal())
	}
	f.Add([]byte{1, 0, 0x20})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseState(data)
		if err != nil {
			if err != ErrCorruptState {
				t.Fatalf("parseState err = %v", err)
			}
			return
		}
		if !bytes.Equal(s.marshal(), data) {
			t.Fatal("accepted a non-canonical state")
		}
	})
}

// FuzzImportDomain feeds arbitrary tokens to the token decoder of an HSM
// without a domain key: no panics, and only a token that a's domain key was
// sealed into, with the right info, opens. (HPKE's ephemeral key is not
// injectable, so each fuzz worker's genuine token has different bytes.)
func FuzzImportDomain(f *testing.F) {
	a := newTestHSM(f, WithRand(seeded(6)))
	b := newTestHSMDomain(f, false, WithRand(seeded(7)))
	token, err := a.ExportDomain(context.Background(), b.IdentityPublicKey(), []byte("info"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(token, []byte("info"))
	f.Add(flipBit(token, 100), []byte("info"))
	f.Add(token[:50], []byte{})
	f.Fuzz(func(t *testing.T, tok, info []byte) {
		b.mu.Lock()
		dk, err := openToken(b.identity, tok, info)
		b.mu.Unlock()
		if err == nil {
			if !bytes.Equal(info, []byte("info")) || !bytes.Equal(dk, a.dk) {
				t.Fatal("a forged token opened")
			}
			return
		}
		if !errors.Is(err, hsm.ErrAuthentication) {
			t.Fatalf("openToken err = %v", err)
		}
	})
}
