// Package uuid makes, formats and parses the random (version 4) UUIDs
// that name keys, requests and audit events.
package uuid

import (
	"encoding/hex"
	"errors"
	"io"
)

// New returns a random version 4 UUID in canonical form, and its bytes.
func New(rand io.Reader) (string, [16]byte, error) {
	var b [16]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", b, err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return Format(b), b, nil
}

// Format renders b in the canonical lowercase 8-4-4-4-12 form.
func Format(b [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// ErrSyntax means a string is not a UUID in 8-4-4-4-12 form.
var ErrSyntax = errors.New("uuid: not in 8-4-4-4-12 hex form")

// Parse reads the 8-4-4-4-12 form, in either case.
func Parse(s string) ([16]byte, error) {
	var b [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return b, ErrSyntax
	}
	src := []byte(s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:])
	if _, err := hex.Decode(b[:], src); err != nil {
		return b, ErrSyntax
	}
	return b, nil
}
