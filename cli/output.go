package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// render prints resp as the AWS CLI would: JSON with 4-space indentation,
// or text, optionally reduced to the member selected by query. An empty
// response prints nothing.
func render(w io.Writer, resp proto.Message, output, query string) error {
	v, err := toJSONValue(resp)
	if err != nil {
		return err
	}
	if query != "" {
		q, err := parseQuery(query)
		if err != nil {
			return &usageError{msg: "argument --query: " + err.Error()}
		}
		v = q.apply(v)
	} else if obj, ok := v.(*object); ok && len(obj.names) == 0 {
		return nil
	}
	bw := bufio.NewWriter(w)
	if output == "text" {
		writeText(bw, v, "", nil)
	} else {
		writeJSON(bw, v, 0)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// toJSONValue converts a response to an ordered JSON tree shaped like the
// AWS response. protojson with EmitDefaultValues names members by their
// json_name (the AWS PascalCase name) and shows false, 0 and empty lists;
// proto3 cannot tell an unset string from an empty one, so the tree is then
// pruned as AWS omits absent members (see prune).
func toJSONValue(resp proto.Message) (any, error) {
	b, err := protojson.MarshalOptions{EmitDefaultValues: true}.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("encoding response: %v", err)
	}
	v, err := decodeOrdered(b)
	if err != nil {
		return nil, fmt.Errorf("decoding response: %v", err)
	}
	v, _ = prune(v, 0, "")
	return v, nil
}

// object is a JSON object that keeps its members in order.
type object struct {
	names  []string
	values []any
}

func (o *object) get(name string) (any, bool) {
	i := slices.Index(o.names, name)
	if i < 0 {
		return nil, false
	}
	return o.values[i], true
}

// decodeOrdered parses JSON into *object, []any, string, json.Number, bool
// and nil values, keeping member order.
func decodeOrdered(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := &object{}
			for dec.More() {
				name, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				obj.names = append(obj.names, name.(string))
				obj.values = append(obj.values, v)
			}
			_, err := dec.Token() // '}'
			return obj, err
		case '[':
			list := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			_, err := dec.Token() // ']'
			return list, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return t, nil
	}
}

// keepEmpty are members AWS returns even when empty.
var keepEmpty = map[string]bool{"Description": true}

// prune drops what AWS would not return: empty strings (except
// [keepEmpty] members) and, below the top level, empty lists and objects.
// The top-level lists of List* responses stay, so an empty ListKeys prints
// "Keys": []. Booleans and numbers stay: Truncated, Enabled and MultiRegion
// are always present in AWS responses.
func prune(v any, depth int, name string) (any, bool) {
	switch t := v.(type) {
	case *object:
		out := &object{}
		for i, n := range t.names {
			if pv, keep := prune(t.values[i], depth+1, n); keep {
				out.names = append(out.names, n)
				out.values = append(out.values, pv)
			}
		}
		return out, depth == 0 || len(out.names) > 0
	case []any:
		out := make([]any, 0, len(t))
		for _, e := range t {
			pe, _ := prune(e, depth+1, "")
			out = append(out, pe)
		}
		return out, depth <= 1 || len(out) > 0
	case string:
		return t, t != "" || keepEmpty[name] || name == ""
	}
	return v, true
}

// query is a small JMESPath subset: dotted member names, [N] indexes and
// [] or [*] projections, e.g. KeyMetadata.Arn, Keys[0].KeyId, Keys[].KeyId.
type query []queryStep

type queryStep struct {
	name    string // member name; empty for an index or projection step
	index   int
	project bool // [] or [*]: apply the rest of the query to each element
	isIndex bool
}

func parseQuery(s string) (query, error) {
	var q query
	rest := strings.TrimSpace(s)
	if rest == "" {
		return nil, errors.New("empty query")
	}
	for rest != "" {
		switch {
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("missing ']' in %q", s)
			}
			inner := rest[1:end]
			switch inner {
			case "", "*":
				q = append(q, queryStep{project: true})
			default:
				n, err := strconv.Atoi(inner)
				if err != nil {
					return nil, fmt.Errorf("unsupported index %q in %q (want a number, [] or [*])", inner, s)
				}
				q = append(q, queryStep{index: n, isIndex: true})
			}
			rest = rest[end+1:]
		case rest[0] == '.':
			rest = rest[1:]
			if rest == "" || rest[0] == '.' || rest[0] == '[' {
				return nil, fmt.Errorf("missing member name in %q", s)
			}
		default:
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			name := rest[:end]
			for _, r := range name {
				if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
					return nil, fmt.Errorf("unsupported query %q (supported: Member, A.B, A[0], A[].B)", s)
				}
			}
			q = append(q, queryStep{name: name})
			rest = rest[end:]
		}
	}
	return q, nil
}

// apply evaluates the query; a missing member gives nil (null).
func (q query) apply(v any) any {
	for i, step := range q {
		switch {
		case step.project:
			list, ok := v.([]any)
			if !ok {
				return nil
			}
			out := []any{}
			for _, e := range list {
				if r := q[i+1:].apply(e); r != nil {
					out = append(out, r)
				}
			}
			return out
		case step.isIndex:
			list, ok := v.([]any)
			if !ok {
				return nil
			}
			n := step.index
			if n < 0 {
				n += len(list)
			}
			if n < 0 || n >= len(list) {
				return nil
			}
			v = list[n]
		default:
			obj, ok := v.(*object)
			if !ok {
				return nil
			}
			v, _ = obj.get(step.name)
		}
	}
	return v
}

// writeJSON writes v like Python's json.dumps(v, indent=4), which is what
// the AWS CLI prints.
func writeJSON(w *bufio.Writer, v any, indent int) {
	switch t := v.(type) {
	case *object:
		if len(t.names) == 0 {
			w.WriteString("{}")
			return
		}
		w.WriteString("{\n")
		for i, n := range t.names {
			writeIndent(w, indent+1)
			writeJSONString(w, n)
			w.WriteString(": ")
			writeJSON(w, t.values[i], indent+1)
			if i < len(t.names)-1 {
				w.WriteByte(',')
			}
			w.WriteByte('\n')
		}
		writeIndent(w, indent)
		w.WriteByte('}')
	case []any:
		if len(t) == 0 {
			w.WriteString("[]")
			return
		}
		w.WriteString("[\n")
		for i, e := range t {
			writeIndent(w, indent+1)
			writeJSON(w, e, indent+1)
			if i < len(t)-1 {
				w.WriteByte(',')
			}
			w.WriteByte('\n')
		}
		writeIndent(w, indent)
		w.WriteByte(']')
	case string:
		writeJSONString(w, t)
	case json.Number:
		w.WriteString(formatNumber(t))
	case bool:
		w.WriteString(strconv.FormatBool(t))
	case nil:
		w.WriteString("null")
	}
}

func writeIndent(w *bufio.Writer, n int) {
	for range n {
		w.WriteString("    ")
	}
}

func writeJSONString(w *bufio.Writer, s string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// formatNumber prints a number without an exponent, as the AWS CLI prints
// epoch-second dates (1700000000.123, not 1.700000000123e+09).
func formatNumber(n json.Number) string {
	s := n.String()
	if !strings.ContainsAny(s, "eE") {
		return s
	}
	f, err := n.Float64()
	if err != nil {
		return s
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// writeText writes v in the AWS CLI text format (awscli/text.py): the
// scalars of an object on one tab-separated line, prefixed by the
// upper-cased member name that holds it, then its lists and objects.
func writeText(w *bufio.Writer, v any, ident string, scalarKeys []string) {
	switch t := v.(type) {
	case *object:
		writeTextObject(w, t, ident, scalarKeys)
	case []any:
		writeTextList(w, t, ident)
	default:
		w.WriteString(textScalar(t))
		w.WriteByte('\n')
	}
}

func writeTextObject(w *bufio.Writer, obj *object, ident string, scalarKeys []string) {
	var scalars []string
	type member struct {
		name string
		v    any
	}
	var nested []member
	if scalarKeys == nil {
		order := make([]int, len(obj.names))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return strings.Compare(obj.names[a], obj.names[b]) })
		for _, i := range order {
			if isScalar(obj.values[i]) {
				scalars = append(scalars, textScalar(obj.values[i]))
			} else {
				nested = append(nested, member{obj.names[i], obj.values[i]})
			}
		}
	} else {
		for _, k := range scalarKeys {
			v, _ := obj.get(k)
			if v == nil {
				scalars = append(scalars, "")
			} else {
				scalars = append(scalars, textScalar(v))
			}
		}
		var rest []string
		for _, n := range obj.names {
			if !slices.Contains(scalarKeys, n) {
				rest = append(rest, n)
			}
		}
		slices.Sort(rest)
		for _, n := range rest {
			v, _ := obj.get(n)
			nested = append(nested, member{n, v})
		}
	}
	if len(scalars) > 0 {
		if ident != "" {
			scalars = append([]string{strings.ToUpper(ident)}, scalars...)
		}
		w.WriteString(strings.Join(scalars, "\t"))
		w.WriteByte('\n')
	}
	for _, m := range nested {
		writeText(w, m.v, m.name, nil)
	}
}

func writeTextList(w *bufio.Writer, list []any, ident string) {
	if len(list) == 0 {
		return
	}
	hasObject := slices.ContainsFunc(list, func(e any) bool { _, ok := e.(*object); return ok })
	if hasObject {
		// Every object of the list prints the union of their scalar keys.
		var keys []string
		for _, e := range list {
			if obj, ok := e.(*object); ok {
				for i, n := range obj.names {
					if isScalar(obj.values[i]) && !slices.Contains(keys, n) {
						keys = append(keys, n)
					}
				}
			}
		}
		slices.Sort(keys)
		for _, e := range list {
			writeText(w, e, ident, keys)
		}
		return
	}
	var scalars []string
	var lists []any
	for _, e := range list {
		if isScalar(e) {
			scalars = append(scalars, textScalar(e))
		} else {
			lists = append(lists, e)
		}
	}
	if len(scalars) > 0 {
		if ident != "" {
			for _, s := range scalars {
				fmt.Fprintf(w, "%s\t%s\n", strings.ToUpper(ident), s)
			}
		} else {
			w.WriteString(strings.Join(scalars, "\t"))
			w.WriteByte('\n')
		}
	}
	for _, e := range lists {
		writeText(w, e, ident, nil)
	}
}

func isScalar(v any) bool {
	switch v.(type) {
	case *object, []any:
		return false
	}
	return true
}

// textScalar prints a scalar as Python's str() does in the AWS CLI.
func textScalar(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return formatNumber(t)
	case bool:
		if t {
			return "True"
		}
		return "False"
	case nil:
		return "None"
	}
	return fmt.Sprint(v)
}
