package ciphertext

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"unicode/utf8"
)

// MaxContextSize is the largest canonical encryption context, in bytes,
// count prefix included.
const MaxContextSize = 8192

// maxField is the largest key or value a u16 length prefix can describe,
// and the largest pair count.
const maxField = 0xFFFF

// ErrInvalidContext is wrapped by every error of [CanonicalContext],
// [ParseCanonicalContext] and [AAD] that concerns an encryption context.
// Those errors are a [*ContextError] naming the rule that failed; the
// message never includes keys or values.
var ErrInvalidContext = errors.New("ciphertext: invalid encryption context")

// A ContextError says which rule an encryption context breaks. It wraps
// [ErrInvalidContext].
type ContextError struct {
	// Rule names the broken rule, such as "empty key" or "trailing bytes".
	// It never includes keys or values, so it may be shown to the caller.
	Rule string
}

// Error returns ErrInvalidContext's text and the rule.
func (e *ContextError) Error() string { return ErrInvalidContext.Error() + ": " + e.Rule }

// Unwrap returns [ErrInvalidContext].
func (e *ContextError) Unwrap() error { return ErrInvalidContext }

func contextErr(rule string) error { return &ContextError{Rule: rule} }

// contextSize checks ec against every rule and returns the length of its
// canonical encoding.
func contextSize(ec map[string]string) (int, error) {
	if len(ec) > maxField {
		return 0, contextErr("more than 65535 pairs")
	}
	size := 2
	for k, v := range ec {
		switch {
		case k == "":
			return 0, contextErr("empty key")
		case len(k) > maxField:
			return 0, contextErr("key longer than 65535 bytes")
		case len(v) > maxField:
			return 0, contextErr("value longer than 65535 bytes")
		case !utf8.ValidString(k):
			return 0, contextErr("key is not valid UTF-8")
		case !utf8.ValidString(v):
			return 0, contextErr("value is not valid UTF-8")
		}
		size += 4 + len(k) + len(v)
	}
	if size > MaxContextSize {
		return 0, contextErr("encoding longer than 8192 bytes")
	}
	return size, nil
}

// appendContext appends the canonical encoding of an already checked ec.
func appendContext(dst []byte, ec map[string]string) []byte {
	keys := make([]string, 0, len(ec))
	for k := range ec {
		keys = append(keys, k)
	}
	slices.Sort(keys) // string order is byte order
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(keys)))
	for _, k := range keys {
		v := ec[k]
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(k)))
		dst = append(dst, k...)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(v)))
		dst = append(dst, v...)
	}
	return dst
}

// CanonicalContext returns the canonical encoding of the encryption context
// ec (see the package documentation). A nil or empty map encodes as 0x0000.
// Errors wrap [ErrInvalidContext].
func CanonicalContext(ec map[string]string) ([]byte, error) {
	size, err := contextSize(ec)
	if err != nil {
		return nil, err
	}
	return appendContext(make([]byte, 0, size), ec), nil
}

// ParseCanonicalContext decodes a canonical encryption context. It accepts
// only the canonical encoding: pairs strictly ascending by key bytes (so no
// duplicates), no trailing bytes, and every rule of [CanonicalContext].
// Hence CanonicalContext(ParseCanonicalContext(b)) == b for every accepted b.
// The result is never nil. Errors wrap [ErrInvalidContext].
func ParseCanonicalContext(b []byte) (map[string]string, error) {
	if len(b) > MaxContextSize {
		return nil, contextErr("encoding longer than 8192 bytes")
	}
	if len(b) < 2 {
		return nil, contextErr("truncated")
	}
	n := int(binary.BigEndian.Uint16(b))
	rest := b[2:]
	ec := make(map[string]string, min(n, len(rest)/4))
	var prev []byte
	for i := range n {
		key, r, ok := cutField(rest)
		if !ok {
			return nil, contextErr("truncated")
		}
		val, r, ok := cutField(r)
		if !ok {
			return nil, contextErr("truncated")
		}
		rest = r
		switch {
		case len(key) == 0:
			return nil, contextErr("empty key")
		case i > 0 && bytes.Compare(prev, key) >= 0:
			return nil, contextErr("keys not strictly ascending")
		case !utf8.Valid(key):
			return nil, contextErr("key is not valid UTF-8")
		case !utf8.Valid(val):
			return nil, contextErr("value is not valid UTF-8")
		}
		prev = key
		ec[string(key)] = string(val)
	}
	if len(rest) != 0 {
		return nil, contextErr("trailing bytes")
	}
	return ec, nil
}

// cutField splits a u16-length-prefixed field off the front of b.
func cutField(b []byte) (field, rest []byte, ok bool) {
	if len(b) < 2 {
		return nil, nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b)-2 < n {
		return nil, nil, false
	}
	return b[2 : 2+n], b[2+n:], true
}
