package cli

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// flagKind is how a flag's text becomes a field value.
type flagKind int

const (
	kindString     flagKind = iota // text, or file://PATH
	kindInt                        // decimal integer
	kindBool                       // --x / --no-x, no value
	kindBlob                       // bytes: base64 or raw text (see flagSpec.raw), fileb://PATH
	kindList                       // repeated string: values, a,b or a JSON list
	kindMap                        // map<string,string>: k=v,k2=v2 or a JSON object
	kindStruct                     // message: shorthand a=b,c={d=e} or JSON
	kindStructList                 // repeated message: one shorthand per value, or a JSON list
	kindTime                       // timestamp (a double of epoch seconds): RFC 3339, a date, or seconds
)

// flagSpec is one --flag of a verb: a field of the request message.
type flagSpec struct {
	name  string // kebab-case of the field name: key_id gives key-id
	field protoreflect.FieldDescriptor
	kind  flagKind
	raw   bool // kindBlob given as raw text (Plaintext, Message), not base64
}

// rawBlobFields are the bytes fields the AWS CLI takes as raw text; other
// blobs (ciphertexts, signatures, MACs) are given in base64.
var rawBlobFields = map[protoreflect.Name]bool{"plaintext": true, "message": true}

// flagsOf derives one flag per field of a request message, in field order.
func flagsOf(md protoreflect.MessageDescriptor) []*flagSpec {
	fields := md.Fields()
	flags := make([]*flagSpec, 0, fields.Len())
	for i := range fields.Len() {
		fd := fields.Get(i)
		f := &flagSpec{name: strings.ReplaceAll(string(fd.Name()), "_", "-"), field: fd}
		switch {
		case fd.IsMap():
			f.kind = kindMap
			if fd.MapKey().Kind() != protoreflect.StringKind || fd.MapValue().Kind() != protoreflect.StringKind {
				panic("cli: unsupported map field " + string(fd.FullName()))
			}
		case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
			f.kind = kindStructList
		case fd.IsList() && fd.Kind() == protoreflect.StringKind:
			f.kind = kindList
		case fd.IsList():
			panic("cli: unsupported list field " + string(fd.FullName()))
		case fd.Kind() == protoreflect.MessageKind:
			f.kind = kindStruct
		case fd.Kind() == protoreflect.StringKind:
			f.kind = kindString
		case fd.Kind() == protoreflect.BytesKind:
			f.kind, f.raw = kindBlob, rawBlobFields[fd.Name()]
		case fd.Kind() == protoreflect.BoolKind:
			f.kind = kindBool
		case fd.Kind() == protoreflect.Int32Kind || fd.Kind() == protoreflect.Int64Kind:
			f.kind = kindInt
		case fd.Kind() == protoreflect.DoubleKind: // timestamps, e.g. ImportKeyMaterial's ValidTo
			f.kind = kindTime
		default:
			panic("cli: unsupported field " + string(fd.FullName()))
		}
		flags = append(flags, f)
	}
	return flags
}

// repeated reports whether the flag takes several space-separated values.
func (f *flagSpec) repeated() bool { return f.kind == kindList || f.kind == kindStructList }

// expects describes the flag's value for error messages.
func (f *flagSpec) expects() string {
	if f.repeated() {
		return "at least one argument"
	}
	return "one argument"
}

// synopsis is the flag with a hint of its value, for usage text.
func (f *flagSpec) synopsis() string {
	n := "--" + f.name
	switch f.kind {
	case kindInt:
		return n + " <integer>"
	case kindTime:
		return n + " <timestamp>"
	case kindBool:
		return "[" + n + " | --no-" + f.name + "]"
	case kindBlob:
		if f.raw {
			return n + " <text|fileb://PATH>"
		}
		return n + " <base64|fileb://PATH>"
	case kindList:
		return n + " <value> [<value>...]"
	case kindMap:
		return n + " <k=v,...|JSON>"
	case kindStruct:
		return n + " <shorthand|JSON>"
	case kindStructList:
		return n + " <shorthand> [<shorthand>...]"
	}
	return n + " <value>"
}

// set parses vals into the flag's field of m.
func (f *flagSpec) set(m protoreflect.Message, vals []string, files fileReader) error {
	fd := f.field
	switch f.kind {
	case kindString:
		s, err := files.text(vals[0])
		if err != nil {
			return err
		}
		m.Set(fd, protoreflect.ValueOfString(s))
	case kindInt:
		n, err := strconv.ParseInt(strings.TrimSpace(vals[0]), 10, 32)
		if err != nil {
			return fmt.Errorf("invalid integer %q", vals[0])
		}
		if fd.Kind() == protoreflect.Int64Kind {
			m.Set(fd, protoreflect.ValueOfInt64(n))
		} else {
			m.Set(fd, protoreflect.ValueOfInt32(int32(n)))
		}
	case kindTime:
		secs, err := parseTimestamp(vals[0])
		if err != nil {
			return err
		}
		m.Set(fd, protoreflect.ValueOfFloat64(secs))
	case kindBlob:
		b, err := files.blob(vals[0], f.raw && !files.base64Blobs)
		if err != nil {
			return err
		}
		m.Set(fd, protoreflect.ValueOfBytes(b))
	case kindList:
		list := m.Mutable(fd).List()
		for _, v := range vals {
			items, err := parseList(v)
			if err != nil {
				return err
			}
			for _, s := range items {
				list.Append(protoreflect.ValueOfString(s))
			}
		}
	case kindMap:
		s, err := files.text(vals[0])
		if err != nil {
			return err
		}
		kv, err := parseStringMap(s)
		if err != nil {
			return err
		}
		mp := m.Mutable(fd).Map()
		for k, v := range kv {
			mp.Set(protoreflect.ValueOfString(k).MapKey(), protoreflect.ValueOfString(v))
		}
	case kindStruct, kindStructList:
		var elems []any // JSON values: one object, or the list's elements
		for _, v := range vals {
			s, err := files.text(v)
			if err != nil {
				return err
			}
			vs, err := parseStructArg(s, f.kind == kindStructList)
			if err != nil {
				return err
			}
			elems = append(elems, vs...)
		}
		var member any = elems
		if f.kind == kindStruct {
			member = elems[0]
		}
		doc, err := json.Marshal(map[string]any{fd.JSONName(): member})
		if err != nil {
			return err
		}
		tmp := m.New()
		if err := protojson.Unmarshal(doc, tmp.Interface()); err != nil {
			return errors.New(cleanProtoJSONError(err))
		}
		if f.kind == kindStruct {
			m.Set(fd, tmp.Get(fd))
		} else {
			list, from := m.Mutable(fd).List(), tmp.Get(fd).List()
			for i := range from.Len() {
				list.Append(from.Get(i))
			}
		}
	default:
		return fmt.Errorf("unsupported flag kind %d", f.kind)
	}
	return nil
}

var protoJSONErrorPrefix = regexp.MustCompile(`^proto:\s*(\(line \d+:\d+\):\s*)?`)

func cleanProtoJSONError(err error) string {
	return protoJSONErrorPrefix.ReplaceAllString(err.Error(), "")
}

// fileReader loads file:// and fileb:// values; "-" is standard input.
type fileReader struct {
	stdin io.Reader
	// base64Blobs makes every blob flag take base64, as the AWS CLI v2 does
	// with --cli-binary-format base64.
	base64Blobs bool
}

func (r fileReader) read(path string) ([]byte, error) {
	if path == "-" {
		if r.stdin == nil {
			return nil, errors.New("no standard input")
		}
		return io.ReadAll(r.stdin)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("unable to load paramfile: %v", err)
	}
	return b, nil
}

// text is a string value: the argument, or the contents of file://PATH or
// fileb://PATH.
func (r fileReader) text(arg string) (string, error) {
	for _, prefix := range []string{"file://", "fileb://"} {
		if path, ok := strings.CutPrefix(arg, prefix); ok {
			b, err := r.read(path)
			return string(b), err
		}
	}
	return arg, nil
}

// blob is a bytes value. fileb://PATH is the file's bytes. Otherwise the
// text (the argument or the contents of file://PATH) is the value itself
// when raw, and base64 of the value when not.
func (r fileReader) blob(arg string, raw bool) ([]byte, error) {
	if path, ok := strings.CutPrefix(arg, "fileb://"); ok {
		return r.read(path)
	}
	text := arg
	if path, ok := strings.CutPrefix(arg, "file://"); ok {
		b, err := r.read(path)
		if err != nil {
			return nil, err
		}
		if raw {
			return b, nil
		}
		text = string(b)
	}
	if raw {
		return []byte(text), nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil {
		return nil, errors.New("invalid base64; give the value in base64 or a binary file as fileb://PATH")
	}
	return b, nil
}

// parseList splits one list argument: a JSON list of strings, or
// comma-separated values.
func parseList(s string) ([]string, error) {
	if strings.HasPrefix(strings.TrimSpace(s), "[") {
		var items []string
		if err := json.Unmarshal([]byte(s), &items); err != nil {
			return nil, fmt.Errorf("invalid JSON list of strings: %v", err)
		}
		return items, nil
	}
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	if len(items) == 0 {
		return nil, errors.New("empty list")
	}
	return items, nil
}

// parseStringMap parses an encryption context: k=v,k2=v2 or a JSON object
// of strings.
func parseStringMap(s string) (map[string]string, error) {
	trimmed := strings.TrimSpace(s)
	if trimmed == "" {
		return nil, errors.New("empty value; want k=v,k2=v2 or a JSON object")
	}
	var tree map[string]any
	if strings.HasPrefix(trimmed, "{") {
		if err := json.Unmarshal([]byte(trimmed), &tree); err != nil {
			return nil, fmt.Errorf("invalid JSON object: %v", err)
		}
	} else {
		obj, err := parseShorthand(trimmed)
		if err != nil {
			return nil, err
		}
		tree = obj
	}
	out := make(map[string]string, len(tree))
	for k, v := range tree {
		sv, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("value of %q must be a string", k)
		}
		if k == "" {
			return nil, errors.New("empty key")
		}
		out[k] = sv
	}
	return out, nil
}

// parseStructArg parses one argument of a structure flag into JSON values:
// a JSON document (an object, or a list when list is set) or one shorthand
// structure.
func parseStructArg(s string, list bool) ([]any, error) {
	trimmed := strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(trimmed, "["):
		if !list {
			return nil, errors.New("expected a structure, got a list")
		}
		var items []any
		if err := json.Unmarshal([]byte(trimmed), &items); err != nil {
			return nil, fmt.Errorf("invalid JSON: %v", err)
		}
		return items, nil
	case strings.HasPrefix(trimmed, "{"):
		var obj map[string]any
		if err := json.Unmarshal([]byte(trimmed), &obj); err != nil {
			return nil, fmt.Errorf("invalid JSON: %v", err)
		}
		return []any{obj}, nil
	}
	obj, err := parseShorthand(trimmed)
	if err != nil {
		return nil, err
	}
	return []any{obj}, nil
}

// parseShorthand parses the AWS CLI shorthand syntax for a structure:
//
//	key=value,key2={nested=value},key3=[a,b],key4="quoted, value"
//
// Scalars are strings; values may be quoted with ' or ".
func parseShorthand(s string) (map[string]any, error) {
	p := &shorthand{s: s}
	obj, err := p.members(0)
	if err != nil {
		return nil, err
	}
	if p.i < len(p.s) {
		return nil, p.errorf("unexpected %q", p.s[p.i])
	}
	return obj, nil
}

type shorthand struct {
	s string
	i int
}

func (p *shorthand) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid shorthand at position %d: %s", p.i+1, fmt.Sprintf(format, args...))
}

func (p *shorthand) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *shorthand) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

// members parses key=value pairs up to the end or, nested, a closing brace.
func (p *shorthand) members(depth int) (map[string]any, error) {
	obj := make(map[string]any)
	for {
		p.skipSpace()
		if depth > 0 && p.peek() == '}' {
			return obj, nil
		}
		start := p.i
		for p.i < len(p.s) && !strings.ContainsRune("=,{}[]", rune(p.s[p.i])) {
			p.i++
		}
		key := strings.TrimSpace(p.s[start:p.i])
		if p.peek() != '=' {
			if p.i >= len(p.s) {
				return nil, p.errorf("expected '=' after %q", key)
			}
			return nil, p.errorf("expected '=' after %q, got %q", key, p.s[p.i])
		}
		if key == "" {
			return nil, p.errorf("empty key")
		}
		p.i++ // '='
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		if _, dup := obj[key]; dup {
			return nil, fmt.Errorf("invalid shorthand: key %q given twice", key)
		}
		obj[key] = v
		p.skipSpace()
		switch c := p.peek(); {
		case c == ',':
			p.i++
		case c == 0 && depth == 0, c == '}' && depth > 0:
			return obj, nil
		case c == 0:
			return nil, p.errorf("missing '}'")
		default:
			return nil, p.errorf("expected ',' or end, got %q", c)
		}
	}
}

// value parses a scalar, {structure} or [list]. A bare scalar ends at ',',
// '{', '}', '[' or ']'; it may contain '=' and inner spaces.
func (p *shorthand) value(depth int) (any, error) {
	p.skipSpace()
	switch p.peek() {
	case '{':
		p.i++
		obj, err := p.members(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.peek() != '}' {
			return nil, p.errorf("missing '}'")
		}
		p.i++
		return obj, nil
	case '[':
		p.i++
		var list []any
		for {
			p.skipSpace()
			if p.peek() == ']' {
				p.i++
				return list, nil
			}
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
			p.skipSpace()
			switch p.peek() {
			case ',':
				p.i++
			case ']':
			default:
				return nil, p.errorf("missing ']'")
			}
		}
	case '"', '\'':
		q := p.s[p.i]
		end := strings.IndexByte(p.s[p.i+1:], q)
		if end < 0 {
			return nil, p.errorf("unterminated quote")
		}
		v := p.s[p.i+1 : p.i+1+end]
		p.i += end + 2
		return v, nil
	}
	start := p.i
	for p.i < len(p.s) && !strings.ContainsRune(",{}[]", rune(p.s[p.i])) {
		p.i++
	}
	return strings.TrimSpace(p.s[start:p.i]), nil
}

// parseTimestamp parses a timestamp as the AWS CLI takes it: RFC 3339
// (2026-12-31T23:59:59Z), a date (2026-12-31, midnight UTC) or seconds
// since 1970; it returns seconds since 1970.
func parseTimestamp(v string) (float64, error) {
	v = strings.TrimSpace(v)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return float64(t.UnixMilli()) / 1000, nil
		}
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return secs, nil
	}
	return 0, fmt.Errorf("invalid timestamp %q; give RFC 3339 (2026-12-31T23:59:59Z), a date or seconds since 1970", v)
}
