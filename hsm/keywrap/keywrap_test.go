package keywrap

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRFC5649 checks the vectors of RFC 5649 section 6.
func TestRFC5649(t *testing.T) {
	kek := unhex(t, "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8")
	for _, tc := range []struct{ name, key, wrapped string }{
		{"20 bytes", "c37b7e6492584340bed12207808941155068f738", "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
		{"7 bytes", "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Wrap(kek, unhex(t, tc.key))
			if err != nil || hex.EncodeToString(got) != tc.wrapped {
				t.Fatalf("Wrap = %x, %v; want %s", got, err, tc.wrapped)
			}
			pt, err := Unwrap(kek, got)
			if err != nil || hex.EncodeToString(pt) != tc.key {
				t.Fatalf("Unwrap = %x, %v", pt, err)
			}
		})
	}
}

// TestOpenSSL checks a wrapping made by openssl enc -id-aes256-wrap-pad
// -iv A65959A6, the command AWS documents for RSA_AES_KEY_WRAP.
func TestOpenSSL(t *testing.T) {
	kek := unhex(t, "1490295b9fe62cbea325aaa2315a9c269a26c0192550a3d5c7d155cae6a55abb")
	w := unhex(t, "d2c9f1a1c7f065520cf283cb0293d4008d1120a9fb4e082789cb24e0289bd492")
	pt, err := Unwrap(kek, w)
	if err != nil || string(pt) != "hello world 12345" {
		t.Fatalf("Unwrap = %q, %v", pt, err)
	}
	if again, _ := Wrap(kek, pt); !bytes.Equal(again, w) {
		t.Fatalf("Wrap = %x, want openssl's %x", again, w)
	}
}

func TestRoundTripAndTamper(t *testing.T) {
	kek := bytes.Repeat([]byte{7}, 32)
	for n := 1; n <= 70; n++ {
		pt := bytes.Repeat([]byte{byte(n)}, n)
		w, err := Wrap(kek, pt)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Unwrap(kek, w); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%d bytes: Unwrap = %x, %v", n, got, err)
		}
		for i := range w {
			bad := bytes.Clone(w)
			bad[i] ^= 1
			if _, err := Unwrap(kek, bad); !errors.Is(err, ErrUnwrap) {
				t.Fatalf("%d bytes, bit flipped at %d: err = %v", n, i, err)
			}
		}
		if _, err := Unwrap(bytes.Repeat([]byte{8}, 32), w); !errors.Is(err, ErrUnwrap) {
			t.Fatalf("%d bytes, wrong key: err = %v", n, err)
		}
	}
	if _, err := Wrap(kek, nil); err == nil {
		t.Fatal("Wrap of nothing succeeded")
	}
}

func FuzzUnwrap(f *testing.F) {
	kek := bytes.Repeat([]byte{7}, 32)
	w, _ := Wrap(kek, []byte("0123456789abcdef0123456789abcdef"))
	f.Add(w)
	f.Add(make([]byte, 16))
	f.Fuzz(func(t *testing.T, in []byte) {
		pt, err := Unwrap(kek, in)
		if err != nil {
			return
		}
		again, err := Wrap(kek, pt)
		if err != nil || !bytes.Equal(again, in) {
			t.Fatalf("Unwrap accepted %x, which does not rewrap to itself", in)
		}
	})
}
