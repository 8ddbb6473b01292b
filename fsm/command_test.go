package fsm

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// opConstants returns the Op constants declared in the package's source.
func opConstants(t *testing.T) []Op {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var ops []Op
	for _, name := range files {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Op" {
				return true
			}
			for _, v := range vs.Values {
				if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					ops = append(ops, Op(lit.Value[1:len(lit.Value)-1]))
				}
			}
			return true
		})
	}
	slices.Sort(ops)
	return ops
}

// Every Op constant has exactly one command type in the registry, which
// names itself by that Op and round-trips through Encode and Decode; the
// registry has nothing else.
func TestRegistry(t *testing.T) {
	ops := opConstants(t)
	if len(ops) == 0 {
		t.Fatal("found no Op constants")
	}
	if got := slices.Sorted(maps.Keys(registry)); !slices.Equal(got, ops) {
		t.Fatalf("registry has %v,\nOp constants are %v", got, ops)
	}
	members := map[string]Op{}
	types := map[reflect.Type]Op{}
	for _, op := range ops {
		k := registry[op]
		c := k.new()
		if c.Op() != op {
			t.Errorf("registry[%s] makes a %T, whose Op is %s", op, c, c.Op())
		}
		if other, dup := types[reflect.TypeOf(c)]; dup {
			t.Errorf("%s and %s share the type %T", op, other, c)
		}
		types[reflect.TypeOf(c)] = op
		if other, dup := members[k.member]; dup {
			t.Errorf("%s and %s share the envelope member %q", op, other, k.member)
		}
		members[k.member] = op
		// Fill the ids validate requires, then round-trip.
		fillIDs(reflect.ValueOf(c).Elem())
		b, err := Encode(c)
		if err != nil {
			t.Errorf("Encode(%s): %v", op, err)
			continue
		}
		d, err := Decode(b)
		if err != nil {
			t.Errorf("Decode(Encode(%s)): %v", op, err)
			continue
		}
		if !reflect.DeepEqual(d, c) {
			t.Errorf("%s round-trips to %#v", op, d)
		}
	}
}

// fillIDs sets every string field of v, recursively, and every byte slice.
func fillIDs(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			fillIDs(v.Field(i))
		}
	case reflect.String:
		v.SetString("x1")
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte{1})
		}
	}
}

// Decode reads what encoding/json's struct decoding read before the
// registry, including entries Encode never writes: a log may hold
// anything a member node proposed, and every node must read it alike.
func TestDecodeKeepsTheEnvelopeRules(t *testing.T) {
	tests := []struct {
		name, entry string
		want        Command // nil: malformed
	}{
		{"canonical", `{"op":"DeleteGrant","delete_grant":{"key_id":"k","grant_id":"g"}}`, &DeleteGrant{KeyID: "k", GrantID: "g"}},
		{"member name in another case", `{"OP":"DeleteGrant","Delete_Grant":{"KEY_ID":"k"}}`, &DeleteGrant{KeyID: "k"}},
		{"unknown members ignored", `{"op":"DeleteGrant","delete_grant":{},"extra":1}`, &DeleteGrant{}},
		{"null member is absent", `{"op":"Noop","create_key":null}`, &Noop{}},
		{"duplicates merge", `{"op":"Noop","op":"DeleteGrant","delete_grant":{"key_id":"a"},"delete_grant":{"grant_id":"b"}}`, &DeleteGrant{KeyID: "a", GrantID: "b"}},
		{"empty member object", `{"op":"ClusterFormed","cluster_formed":{}}`, &ClusterFormed{}},
		{"missing member", `{"op":"ClusterFormed"}`, nil},
		{"member of another op", `{"op":"DeleteGrant","delete_user":{}}`, nil},
		{"two members", `{"op":"DeleteGrant","delete_grant":{},"delete_user":{}}`, nil},
		{"noop with a member", `{"op":"Noop","delete_grant":{}}`, nil},
		{"unknown op", `{"op":"Frobnicate"}`, nil},
		{"op in another case", `{"op":"noop"}`, nil},
		{"missing required id", `{"op":"CreateKey","create_key":{"key":{}}}`, nil},
		{"not an object", `[]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Decode(append([]byte{commandVersion}, tt.entry...))
			switch {
			case tt.want == nil && !errors.Is(err, ErrMalformedCommand):
				t.Fatalf("got %#v, %v; want ErrMalformedCommand", c, err)
			case tt.want != nil && err != nil:
				t.Fatalf("Decode: %v", err)
			case tt.want != nil && !reflect.DeepEqual(c, tt.want):
				t.Fatalf("got %#v, want %#v", c, tt.want)
			}
		})
	}
}

func TestEncodeRefusesNilAndInvalidCommands(t *testing.T) {
	for _, c := range []Command{nil, (*CreateKey)(nil), &CreateKey{}, &CreateGrant{Grant: Grant{ID: "g"}}} {
		if _, err := Encode(c); !errors.Is(err, ErrMalformedCommand) {
			t.Errorf("Encode(%#v) = %v, want ErrMalformedCommand", c, err)
		}
	}
}
