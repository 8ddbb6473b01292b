package kms

import (
	"bytes"
	"testing"

	"github.com/trentkms/trent/hsm"
)

// FuzzParseImportToken: the token parser never panics, accepts only what
// encodes back to the same bytes, and never reads past the token.
func FuzzParseImportToken(f *testing.F) {
	t := &importToken{keyID: [16]byte{1}, wrapID: [16]byte{2}, alg: hsm.RsaAesKeyWrapSHA256, spec: hsm.Rsa4096,
		expires: 1_700_000_000_000, ekt: bytes.Repeat([]byte{3}, 40)}
	good := append(t.encode(), bytes.Repeat([]byte{4}, importTokenMAC)...)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := parseImportToken(b)
		if err != nil {
			return
		}
		if again := append(tok.encode(), tok.mac...); !bytes.Equal(again, b) {
			t.Fatalf("parsed %x, which encodes to %x", b, again)
		}
		if tok.alg.Hash() == 0 || len(tok.ekt) == 0 || len(tok.mac) != importTokenMAC || len(b) > maxImportToken {
			t.Fatalf("accepted a token with algorithm %d, EKT of %d bytes, MAC of %d", tok.alg, len(tok.ekt), len(tok.mac))
		}
	})
}
