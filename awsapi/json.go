package awsapi

import (
	"encoding/base64"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Responses are encoded here rather than with protojson, whose output AWS
// clients do not all read: protojson writes large doubles in exponent form
// (epoch seconds as 1.7e+09), int64 as strings, and non-finite floats as
// strings, and it cannot emit some zero values while omitting others. The
// rules, which follow what AWS KMS sends:
//
//   - Members use their JSON names (the AWS member names).
//   - A member is written when it is set: non-zero scalars, set optional
//     scalars, non-empty lists and maps, present messages. Unset members
//     are omitted, never null.
//   - Booleans without explicit presence are always written (Truncated,
//     Enabled, MultiRegion, KeyRotationEnabled, ...), as is the result
//     list of a List operation and KeyMetadata.Description.
//   - Numbers are plain decimals; timestamps (epoch-second doubles) keep
//     their fraction, as in 1712345678.123.
//   - Blobs are standard base64 with padding.
//   - Map keys are sorted, so output is deterministic.

// alwaysWritten lists members written even when empty, by full name.
var alwaysWritten = map[protoreflect.FullName]bool{
	"trent.kms.v1.KeyMetadata.description": true,
}

// appendMessage appends m as a JSON object.
func appendMessage(b []byte, m protoreflect.Message) []byte {
	b = append(b, '{')
	first := true
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !m.Has(fd) && !writeEmpty(fd) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, fd.JSONName())
		b = append(b, ':')
		b = appendField(b, fd, m.Get(fd))
	}
	return append(b, '}')
}

// writeEmpty reports whether fd is written even when it is unset.
func writeEmpty(fd protoreflect.FieldDescriptor) bool {
	switch {
	case fd.Kind() == protoreflect.BoolKind && fd.Cardinality() != protoreflect.Repeated && !fd.HasPresence():
		return true
	case fd.IsList():
		name := string(fd.ContainingMessage().Name())
		return strings.HasPrefix(name, "List") && strings.HasSuffix(name, "Response")
	}
	return alwaysWritten[fd.FullName()]
}

func appendField(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) []byte {
	switch {
	case fd.IsList():
		l := v.List()
		b = append(b, '[')
		for i := range l.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendScalar(b, fd, l.Get(i))
		}
		return append(b, ']')
	case fd.IsMap():
		type entry struct {
			k string
			v protoreflect.Value
		}
		m := v.Map()
		entries := make([]entry, 0, m.Len())
		m.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			entries = append(entries, entry{k.String(), v})
			return true
		})
		slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.k, b.k) })
		vd := fd.MapValue()
		b = append(b, '{')
		for i, e := range entries {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, e.k)
			b = append(b, ':')
			b = appendScalar(b, vd, e.v)
		}
		return append(b, '}')
	}
	return appendScalar(b, fd, v)
}

// appendScalar appends one value of fd's kind (a list element or map value
// when fd is a list or map value descriptor).
func appendScalar(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) []byte {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return appendString(b, v.String())
	case protoreflect.BytesKind:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes())
		return append(b, '"')
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(b, v.Int(), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(b, v.Uint(), 10)
	case protoreflect.FloatKind:
		return appendFloat(b, v.Float(), 32)
	case protoreflect.DoubleKind:
		return appendFloat(b, v.Float(), 64)
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return appendString(b, string(ev.Name()))
		}
		return strconv.AppendInt(b, int64(v.Enum()), 10)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return appendMessage(b, v.Message())
	}
	return append(b, "null"...)
}

// appendFloat writes f as a plain decimal. JSON has no NaN or infinity and
// the service never produces them; they become null.
func appendFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'f', -1, bits)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
