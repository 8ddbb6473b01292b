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

// Parse reads the 8-4-4-4-12 form, in either case. It allocates nothing:
// it runs on every call that names a key.
func Parse(s string) ([16]byte, error) {
	var b [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return b, ErrSyntax
	}
	i := 0
	for _, g := range [5][2]int{{0, 8}, {9, 13}, {14, 18}, {19, 23}, {24, 36}} {
		for j := g[0]; j < g[1]; j += 2 {
			hi, ok1 := fromHex(s[j])
			lo, ok2 := fromHex(s[j+1])
			if !ok1 || !ok2 {
				return [16]byte{}, ErrSyntax
			}
			b[i] = hi<<4 | lo
			i++
		}
	}
	return b, nil
}

// fromHex returns the value of a hex digit of either case.
func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
