package audit

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// The record's line is written by hand, without reflection, and must be
// byte for byte what json.Marshal(r) wrote before it (and what the chain
// hashes): members in declaration order, omitempty exactly as the struct
// tags of Record say, strings escaped as encoding/json escapes them by
// default, json.RawMessage members compacted and HTML-escaped as
// encoding/json does. encode_test.go compares the two on many records and
// under fuzzing.

// appendRecord appends r as the JSON object json.Marshal(r) writes.
func appendRecord(b []byte, r *Record) ([]byte, error) {
	b = append(b, `{"eventVersion":`...)
	b = appendJSONString(b, r.EventVersion)
	u := &r.UserIdentity
	b = append(b, `,"userIdentity":{"type":`...)
	b = appendJSONString(b, u.Type)
	b = appendOmitEmpty(b, `,"principalId":`, u.PrincipalID)
	b = appendOmitEmpty(b, `,"arn":`, u.ARN)
	b = appendOmitEmpty(b, `,"accountId":`, u.AccountID)
	b = appendOmitEmpty(b, `,"accessKeyId":`, u.AccessKeyID)
	b = appendOmitEmpty(b, `,"userName":`, u.UserName)
	b = appendOmitEmpty(b, `,"invokedBy":`, u.InvokedBy)
	b = append(b, `},"eventTime":`...)
	b = appendJSONString(b, r.EventTime)
	b = append(b, `,"eventSource":`...)
	b = appendJSONString(b, r.EventSource)
	b = append(b, `,"eventName":`...)
	b = appendJSONString(b, r.EventName)
	b = append(b, `,"awsRegion":`...)
	b = appendJSONString(b, r.AWSRegion)
	b = append(b, `,"sourceIPAddress":`...)
	b = appendJSONString(b, r.SourceIPAddress)
	b = append(b, `,"userAgent":`...)
	b = appendJSONString(b, r.UserAgent)
	b = appendOmitEmpty(b, `,"errorCode":`, r.ErrorCode)
	b = appendOmitEmpty(b, `,"errorMessage":`, r.ErrorMessage)
	b = append(b, `,"requestParameters":`...)
	b, err := appendRaw(b, r.RequestParameters)
	if err != nil {
		return b, fmt.Errorf("requestParameters: %w", err)
	}
	b = append(b, `,"responseElements":`...)
	if b, err = appendRaw(b, r.ResponseElements); err != nil {
		return b, fmt.Errorf("responseElements: %w", err)
	}
	b = append(b, `,"requestID":`...)
	b = appendJSONString(b, r.RequestID)
	b = append(b, `,"eventID":`...)
	b = appendJSONString(b, r.EventID)
	b = append(b, `,"readOnly":`...)
	b = strconv.AppendBool(b, r.ReadOnly)
	if len(r.Resources) > 0 {
		b = append(b, `,"resources":[`...)
		for i := range r.Resources {
			res := &r.Resources[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			if res.AccountID != "" {
				b = append(b, `"accountId":`...)
				b = appendJSONString(b, res.AccountID)
				b = append(b, ',')
			}
			b = append(b, `"type":`...)
			b = appendJSONString(b, res.Type)
			b = append(b, `,"ARN":`...)
			b = appendJSONString(b, res.ARN)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"eventType":`...)
	b = appendJSONString(b, r.EventType)
	b = append(b, `,"managementEvent":`...)
	b = strconv.AppendBool(b, r.ManagementEvent)
	b = appendOmitEmpty(b, `,"recipientAccountId":`, r.RecipientAccount)
	b = append(b, `,"eventCategory":`...)
	b = appendJSONString(b, r.EventCategory)
	t := &r.Trent
	b = append(b, `,"trent":{"servedBy":`...)
	b = appendJSONString(b, t.ServedBy)
	b = appendOmitEmpty(b, `,"protocol":`, t.Protocol)
	if t.AppliedIndex != 0 {
		b = append(b, `,"appliedIndex":`...)
		b = strconv.AppendUint(b, t.AppliedIndex, 10)
	}
	b = appendOmitEmpty(b, `,"consistency":`, t.Consistency)
	b = appendOmitEmpty(b, `,"stalenessBound":`, t.StalenessBound)
	b = appendOmitEmpty(b, `,"simulatedPropagation":`, t.SimulatedPropagation)
	b = append(b, `},"seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, `,"prevHash":`...)
	b = appendJSONString(b, r.PrevHash)
	return append(b, '}'), nil
}

// appendOmitEmpty appends key (`,"name":`) and s, unless s is empty.
func appendOmitEmpty(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendJSONString(append(b, key...), s)
}

// appendJSONString appends s as json.Marshal writes a string: ", \ and
// control characters escaped (\b, \f, \n, \r, \t by name, the rest as
// \u00XX), <, > and & as \u003c, \u003e and \u0026 (encoding/json's
// default HTML escaping), U+2028 and U+2029 as \u2028 and \u2029, and
// each byte of invalid UTF-8 as \ufffd. (appendString, which writes
// request parameters, differs: see there.)
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; ; {
		i += plainPrefix(s[i:])
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plainPrefix returns the length of the longest prefix of s that a JSON
// string holds as it is: ASCII from 0x20 up other than ", \, <, > and &.
// It tests 8 bytes at a time: in x (the bytes little-endian), bit 7 of
// each byte of m is set where the byte is one to stop at, except that a
// byte above (after) the first one to stop at may be flagged wrongly (the
// borrow of a subtraction runs upward), so the lowest flag is exact.
func plainPrefix[T string | []byte](s T) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	zero := func(v uint64) uint64 { return (v - ones) &^ v & highs } // flags bytes == 0
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		m := x&highs | (x-ones*0x20)&^x&highs | // >= 0x80, < 0x20
			zero(x^(ones*'"')) | zero(x^(ones*'\\')) | zero(x^(ones*'<')) | zero(x^(ones*'>')) | zero(x^(ones*'&'))
		if m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return i
		}
	}
	return len(s)
}

// maxRawDepth is the deepest nesting of arrays and objects encoding/json
// accepts.
const maxRawDepth = 10000

// errRawJSON is wrapped when a RawMessage member is not one JSON value.
var errRawJSON = errors.New("not a valid JSON value")

// appendRaw appends raw as json.Marshal writes a json.RawMessage member:
// null if raw is nil, else raw compacted (the whitespace between tokens
// dropped) with <, >, & and U+2028, U+2029 escaped as in appendJSONString,
// and every other byte as it is (invalid UTF-8 in a string included, as
// encoding/json leaves it); an error if raw is not exactly one JSON value
// (empty included). params writes compact JSON without those characters
// escaped, so for a record of build this copies and escapes.
func appendRaw(b, raw []byte) ([]byte, error) {
	if raw == nil {
		return append(b, "null"...), nil
	}
	s := rawScanner{src: raw}
	b, ok := s.value(b, 0)
	if ok {
		s.space()
		ok = s.i == len(raw)
	}
	if !ok {
		return b, fmt.Errorf("%w (at byte %d of %d)", errRawJSON, s.i, len(raw))
	}
	return b, nil
}

// rawScanner checks and compacts one JSON value of src from i on.
type rawScanner struct {
	src []byte
	i   int
}

func (s *rawScanner) space() {
	for s.i < len(s.src) {
		switch s.src[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value appends the value at i (after whitespace); depth is the number of
// arrays and objects it is in.
func (s *rawScanner) value(b []byte, depth int) ([]byte, bool) {
	s.space()
	if s.i >= len(s.src) {
		return b, false
	}
	switch c := s.src[s.i]; c {
	case '{', '[':
		return s.container(b, depth+1)
	case '"':
		return s.str(b)
	case 't':
		return s.literal(b, "true")
	case 'f':
		return s.literal(b, "false")
	case 'n':
		return s.literal(b, "null")
	default:
		if c == '-' || c >= '0' && c <= '9' {
			return s.number(b)
		}
		return b, false
	}
}

// container appends the object or array at i, the depth-th nested one.
func (s *rawScanner) container(b []byte, depth int) ([]byte, bool) {
	if depth > maxRawDepth {
		return b, false
	}
	open := s.src[s.i]
	end := byte(']')
	if open == '{' {
		end = '}'
	}
	b = append(b, open)
	s.i++
	s.space()
	if s.i < len(s.src) && s.src[s.i] == end {
		s.i++
		return append(b, end), true
	}
	for {
		var ok bool
		if open == '{' {
			s.space()
			if s.i >= len(s.src) || s.src[s.i] != '"' {
				return b, false
			}
			if b, ok = s.str(b); !ok {
				return b, false
			}
			s.space()
			if s.i >= len(s.src) || s.src[s.i] != ':' {
				return b, false
			}
			b = append(b, ':')
			s.i++
		}
		if b, ok = s.value(b, depth); !ok {
			return b, false
		}
		s.space()
		if s.i >= len(s.src) {
			return b, false
		}
		switch s.src[s.i] {
		case ',':
			b = append(b, ',')
			s.i++
		case end:
			s.i++
			return append(b, end), true
		default:
			return b, false
		}
	}
}

// str appends the string at i (its opening quote).
func (s *rawScanner) str(b []byte) ([]byte, bool) {
	const hex = "0123456789abcdef"
	src := s.src
	b = append(b, '"')
	s.i++
	start := s.i
	for s.i < len(src) {
		if s.i += plainPrefix(src[s.i:]); s.i == len(src) {
			break
		}
		switch c := src[s.i]; {
		case c == '"':
			b = append(b, src[start:s.i]...)
			s.i++
			return append(b, '"'), true
		case c < 0x20:
			return b, false
		case c == '\\':
			if s.i+1 >= len(src) {
				return b, false
			}
			switch src[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(src) || !isHex4(src[s.i+2:s.i+6]) {
					return b, false
				}
				s.i += 6
			default:
				return b, false
			}
		case c == '<' || c == '>' || c == '&':
			b = append(b, src[start:s.i]...)
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			s.i++
			start = s.i
		case c == 0xE2 && s.i+2 < len(src) && src[s.i+1] == 0x80 && src[s.i+2]&^1 == 0xA8:
			b = append(b, src[start:s.i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[src[s.i+2]&0xf])
			s.i += 3
			start = s.i
		default:
			s.i++
		}
	}
	return b, false
}

func isHex4(h []byte) bool {
	for _, c := range h {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

// number appends the number at i: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *rawScanner) number(b []byte) ([]byte, bool) {
	src, start := s.src, s.i
	if src[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(src) && src[s.i] == '0':
		s.i++
	case s.digits() == 0:
		return b, false
	}
	if s.i < len(src) && src[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return b, false
		}
	}
	if s.i < len(src) && (src[s.i] == 'e' || src[s.i] == 'E') {
		s.i++
		if s.i < len(src) && (src[s.i] == '+' || src[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return b, false
		}
	}
	return append(b, src[start:s.i]...), true
}

// digits skips decimal digits and says how many.
func (s *rawScanner) digits() int {
	n := 0
	for s.i < len(s.src) && s.src[s.i] >= '0' && s.src[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *rawScanner) literal(b []byte, lit string) ([]byte, bool) {
	if len(s.src)-s.i < len(lit) || string(s.src[s.i:s.i+len(lit)]) != lit {
		return b, false
	}
	s.i += len(lit)
	return append(b, lit...), true
}
