package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// jkind is the type of a JSON value.
type jkind uint8

const (
	jString jkind = iota + 1
	jNumber
	jBool
	jNull
	jObject
	jArray
)

func (k jkind) String() string {
	switch k {
	case jString:
		return "a string"
	case jNumber:
		return "a number"
	case jBool:
		return "a boolean"
	case jNull:
		return "null"
	case jObject:
		return "an object"
	case jArray:
		return "a list"
	}
	return "a value"
}

// A jnode is one decoded JSON value. Objects keep their members in
// document order, and remember the first repeated key instead of failing,
// so that the validator can report it with the statement it belongs to.
type jnode struct {
	kind  jkind
	s     string   // string value, number text, or "true"/"false"
	keys  []string // object member names
	elems []*jnode // object member values (parallel to keys) or list elements
	dup   string   // first member name that occurs twice in an object
	has   bool     // dup is set
}

// member returns the value of the object member named key, or nil.
func (n *jnode) member(key string) *jnode {
	for i, k := range n.keys {
		if k == key {
			return n.elems[i]
		}
	}
	return nil
}

// decodeJSON decodes doc into a tree, token by token, so that it can
// detect repeated object keys and refuse nesting deeper than MaxDepth before
// reading further. Its work is linear in len(doc).
func decodeJSON(doc string) (*jnode, error) {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	root, err := decodeValue(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, docError("invalid JSON: unexpected data after the policy document at byte %d", dec.InputOffset())
	}
	return root, nil
}

func decodeValue(dec *json.Decoder, depth int) (*jnode, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonError(dec, err)
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth > MaxDepth {
			return nil, docError("JSON is nested more than %d levels deep (at byte %d)", MaxDepth, dec.InputOffset())
		}
		switch t {
		case '{':
			n := &jnode{kind: jObject}
			var seen map[string]bool
			for dec.More() {
				ktok, err := dec.Token()
				if err != nil {
					return nil, jsonError(dec, err)
				}
				key, _ := ktok.(string) // the decoder guarantees a string here
				if !n.has {
					if seen == nil && len(n.keys) >= 8 {
						seen = make(map[string]bool, 2*len(n.keys))
						for _, k := range n.keys {
							seen[k] = true
						}
					}
					var dup bool
					if seen != nil {
						dup = seen[key]
						seen[key] = true
					} else {
						dup = containsString(n.keys, key)
					}
					if dup {
						n.dup, n.has = key, true
					}
				}
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, key)
				n.elems = append(n.elems, v)
			}
			if _, err := dec.Token(); err != nil { // '}'
				return nil, jsonError(dec, err)
			}
			return n, nil
		case '[':
			n := &jnode{kind: jArray}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.elems = append(n.elems, v)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return nil, jsonError(dec, err)
			}
			return n, nil
		}
		return nil, docError("invalid JSON: unexpected %q at byte %d", rune(t), dec.InputOffset())
	case string:
		return &jnode{kind: jString, s: t}, nil
	case json.Number:
		return &jnode{kind: jNumber, s: string(t)}, nil
	case bool:
		if t {
			return &jnode{kind: jBool, s: "true"}, nil
		}
		return &jnode{kind: jBool, s: "false"}, nil
	case nil:
		return &jnode{kind: jNull}, nil
	}
	return nil, docError("invalid JSON at byte %d", dec.InputOffset())
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// jsonError turns a decoder error into a document-level MalformedError.
func jsonError(dec *json.Decoder, err error) error {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return docError("invalid JSON at byte %d: %s", syn.Offset, syn.Error())
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return docError("invalid JSON: the document ends early (at byte %d)", dec.InputOffset())
	default:
		return docError("invalid JSON at byte %d: %v", dec.InputOffset(), err)
	}
}

// docError returns a MalformedError about the document as a whole.
func docError(format string, args ...any) error {
	return &MalformedError{Statement: -1, Reason: fmt.Sprintf(format, args...)}
}
