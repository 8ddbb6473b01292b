package grants

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// Keys that Unicode folding or lowercasing relates to ASCII letters, and
// their ASCII neighbours: U+017F (long s), U+212A (Kelvin sign), U+0130
// (I with dot above), U+0131 (dotless i), U+00DF (sharp s), U+1E9E
// (capital sharp s).
const (
	longS  = "\u017f"
	kelvin = "\u212a"
	dotI   = "\u0130"
	dotlss = "\u0131"
	sharpS = "\u00df"
	capSS  = "\u1e9e"
)

func TestConstraintKeyFold(t *testing.T) {
	t.Parallel()
	m := func(kv ...string) map[string]string {
		out := make(map[string]string)
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	tests := []struct {
		name string
		c    Constraints
		ec   map[string]string
		want error
	}{
		{"ASCII case is folded", Constraints{Subset: m("Tenant", "A")}, m("tENANT", "A"), nil},
		{"long s is not s", Constraints{Subset: m("s", "A")}, m(longS, "A"), ErrConstraint},
		{"s is not long s", Constraints{Subset: m(longS, "A")}, m("S", "A"), ErrConstraint},
		{"kelvin sign is not k", Constraints{Subset: m("k", "A")}, m(kelvin, "A"), ErrConstraint},
		{"dotted I is not i", Constraints{Equals: m("i", "A")}, m(dotI, "A"), ErrConstraint},
		{"dotless i is not I", Constraints{Equals: m("I", "A")}, m(dotlss, "A"), ErrConstraint},
		{"sharp s is not ss", Constraints{Subset: m("ss", "A")}, m(sharpS, "A"), ErrConstraint},
		{"long s beside s is no ambiguity", Constraints{Subset: m("s", "A")}, m("s", "A", longS, "B"), nil},
		// With the exact-match-first lookup, "Tenant" found its own pair
		// and the request passed with a second, case-variant tenant.
		{"exact key beside a case variant", Constraints{Subset: m("Tenant", "A")}, m("Tenant", "A", "tenant", "B"), ErrAmbiguousContext},
		{"case variants of an unconstrained key", Constraints{Subset: m("Tenant", "A")}, m("tenant", "A", "x", "1", "X", "2"), ErrAmbiguousContext},
		{"equals with case variants", Constraints{Equals: m("a", "1", "b", "2")}, m("a", "1", "A", "1"), ErrAmbiguousContext},
		{"no pairs, no ambiguity to refuse", Constraints{Subset: m()}, m("a", "1", "A", "2"), nil},
		{"no constraint", Constraints{}, m("a", "1", "A", "2"), nil},
		{"empty equals refuses any context", Constraints{Equals: m()}, m("a", "1"), ErrConstraint},
		{"unvalidated constraint with folding keys allows nothing", Constraints{Equals: m("k", "1", "K", "1")}, m("k", "1", "x", "1"), ErrConstraint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 5 { // the decision must not depend on map order
				if err := tt.c.Check(tt.ec); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
					t.Fatalf("Check = %v, want %v", err, tt.want)
				}
			}
		})
	}
}

func TestValidateUsesTheMatchingFold(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		keys  []string
		valid bool
	}{
		{"ASCII case variants", []string{"tenant", "Tenant"}, false},
		// strings.ToLower maps both of these to an ASCII letter, which
		// matching did not: validation refused what matching kept apart.
		{"kelvin sign and k", []string{kelvin, "k"}, true},
		{"dotted I and i", []string{dotI, "i"}, true},
		// And matching related these, which validation kept apart.
		{"long s and s", []string{longS, "s"}, true},
		{"sharp s and capital sharp s", []string{sharpS, capSS}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pairs := make(map[string]string)
			for i, k := range tt.keys {
				pairs[k] = fmt.Sprint(i)
			}
			c := Constraints{Subset: pairs}
			if err := c.Validate(); (err == nil) != tt.valid {
				t.Fatalf("Validate = %v, want valid %v", err, tt.valid)
			}
			if !tt.valid {
				return
			}
			// Valid keys are distinct to matching too: each pair is met
			// by its own key, and not by another's.
			for k, v := range pairs {
				if !c.Satisfied(pairs) || (Constraints{Subset: map[string]string{k: v}}).Satisfied(map[string]string{k: "other"}) {
					t.Fatalf("key %q is not matched on its own", k)
				}
			}
		})
	}
}

func TestDelegationFoldsKeys(t *testing.T) {
	t.Parallel()
	ops := Set(Decrypt | Encrypt | CreateGrant)
	tests := []struct {
		name          string
		parent, child Constraints
		want          bool
	}{
		{"ASCII case variant of the parent's key", Constraints{Subset: map[string]string{"Tenant": "A"}}, Constraints{Subset: map[string]string{"TENANT": "A"}}, true},
		// The child {ſ:A} allowed {s:B, ſ:A}, which the parent refuses.
		{"long s for s", Constraints{Subset: map[string]string{"s": "A"}}, Constraints{Subset: map[string]string{longS: "A"}}, false},
		{"kelvin sign for k", Constraints{Subset: map[string]string{"k": "A"}}, Constraints{Equals: map[string]string{kelvin: "A"}}, false},
		{"equals with a long s for s", Constraints{Equals: map[string]string{"s": "A"}}, Constraints{Equals: map[string]string{longS: "A"}}, false},
		// An Equals and a Subset parent allows only contexts that meet
		// both; the same Equals alone allows more.
		{"equals child drops the parent's subset", Constraints{Equals: map[string]string{"a": "1"}, Subset: map[string]string{"b": "2"}}, Constraints{Equals: map[string]string{"a": "1"}}, false},
		{"equals child covers the parent's subset", Constraints{Equals: map[string]string{"a": "1", "b": "2"}, Subset: map[string]string{"B": "2"}}, Constraints{Equals: map[string]string{"A": "1", "b": "2"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MayDelegate(ops, tt.parent, Set(Decrypt), tt.child); got != tt.want {
				t.Fatalf("MayDelegate = %v, want %v", got, tt.want)
			}
		})
	}
}

// foldAlphabet is the key alphabet of the property and fuzz tests: ASCII
// letters in both cases and the characters that Unicode relates to them.
var foldAlphabet = []string{"a", "A", "s", "S", longS, "k", "K", kelvin, "i", "I", dotI, dotlss, "ss", sharpS, capSS}

// genPairs returns up to max pairs over foldAlphabet, values "A" or "B",
// or nil.
func genPairs(rng *rand.Rand, max int) map[string]string {
	if rng.IntN(3) == 0 {
		return nil
	}
	m := make(map[string]string)
	for range rng.IntN(max + 1) {
		m[foldAlphabet[rng.IntN(len(foldAlphabet))]] = string(rune('A' + rng.IntN(2)))
	}
	return m
}

// genChild derives a candidate child from a parent: its pairs with keys
// swapped for a random letter now and then, one pair dropped or added, and
// Subset turned into Equals at random.
func genChild(rng *rand.Rand, p Constraints) Constraints {
	mutate := func(m map[string]string) map[string]string {
		if m == nil {
			if rng.IntN(2) == 0 {
				return nil
			}
			m = map[string]string{}
		}
		out := make(map[string]string)
		for k, v := range m {
			switch rng.IntN(6) {
			case 0:
				k = foldAlphabet[rng.IntN(len(foldAlphabet))]
			case 1:
				continue
			}
			out[k] = v
		}
		if rng.IntN(3) == 0 {
			out[foldAlphabet[rng.IntN(len(foldAlphabet))]] = string(rune('A' + rng.IntN(2)))
		}
		return out
	}
	c := Constraints{Subset: mutate(p.Subset), Equals: mutate(p.Equals)}
	if rng.IntN(4) == 0 {
		c.Equals, c.Subset = c.Subset, nil
	}
	return c
}

// rebuild copies m by inserting its pairs in a random order, so that the
// copy iterates in another order.
func rebuild(rng *rand.Rand, m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	keys := slices.Collect(maps.Keys(m))
	out := make(map[string]string, len(m))
	for _, i := range rng.Perm(len(keys)) {
		out[keys[i]] = m[keys[i]]
	}
	return out
}

// checkFoldProperties checks, for one parent, child and context, that the
// decisions are the same on repeat and under reordered maps, and that a
// child the parent may delegate never allows a context the parent refuses.
func checkFoldProperties(t *testing.T, rng *rand.Rand, parent, child Constraints, ec map[string]string) {
	t.Helper()
	ops := Set(Decrypt | Encrypt | CreateGrant)
	may := MayDelegate(ops, parent, Set(Decrypt), child)
	pAllows, cAllows := Allows(ops, parent, Decrypt, ec), Allows(ops, child, Decrypt, ec)
	for range 4 {
		p2 := Constraints{Subset: rebuild(rng, parent.Subset), Equals: rebuild(rng, parent.Equals)}
		c2 := Constraints{Subset: rebuild(rng, child.Subset), Equals: rebuild(rng, child.Equals)}
		ec2 := rebuild(rng, ec)
		if MayDelegate(ops, p2, Set(Decrypt), c2) != may || Allows(ops, p2, Decrypt, ec2) != pAllows || Allows(ops, c2, Decrypt, ec2) != cAllows {
			t.Fatalf("decisions changed on repeat: parent %v child %v context %v", parent, child, ec)
		}
	}
	if may && cAllows && !pAllows {
		t.Fatalf("child %v, delegated under parent %v, allows context %v, which the parent refuses", child, parent, ec)
	}
}

// TestDelegationNeverWidens is the property test: for random valid
// constraints and contexts over an alphabet of case variants and Unicode
// fold characters, a delegated grant never allows what its parent refuses,
// and every decision is the same on repeat.
func TestDelegationNeverWidens(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	delegated := 0
	for range 4000 {
		parent := Constraints{Subset: genPairs(rng, 3), Equals: genPairs(rng, 2)}
		child := genChild(rng, parent)
		if parent.Validate() != nil || child.Validate() != nil {
			continue
		}
		if MayDelegate(Set(Decrypt|CreateGrant), parent, Set(Decrypt), child) {
			delegated++
		}
		for range 4 {
			ec := genPairs(rng, 4)
			// Often, a context built from the child's pairs with one
			// extra, possibly case-variant, pair.
			if rng.IntN(2) == 0 {
				ec = map[string]string{}
				maps.Copy(ec, child.Subset)
				maps.Copy(ec, child.Equals)
				ec[foldAlphabet[rng.IntN(len(foldAlphabet))]] = string(rune('A' + rng.IntN(2)))
			}
			checkFoldProperties(t, rng, parent, child, ec)
		}
	}
	t.Logf("%d delegated children", delegated)
	if delegated < 200 {
		t.Fatalf("only %d of the generated children could be delegated; the generator is too weak", delegated)
	}
}

// parseSpec reads a constraint written as "subset|equals", each part
// "k=v,k=v"; a missing part is a nil map.
func parseSpec(s string) Constraints {
	part := func(s string) map[string]string {
		m := make(map[string]string)
		for _, kv := range strings.Split(s, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				m[k] = v
			}
		}
		return m
	}
	sub, eq, hasEq := strings.Cut(s, "|")
	var c Constraints
	if sub != "" {
		c.Subset = part(sub)
	}
	if hasEq {
		c.Equals = part(eq)
	}
	return c
}

func FuzzDelegation(f *testing.F) {
	f.Add("s=A", longS+"=A", "s=B,"+longS+"=A")
	f.Add("k=A", "|"+kelvin+"=A", kelvin+"=A")
	f.Add("Tenant=A", "tenant=A", "Tenant=A,TENANT=B")
	f.Add("b=2|a=1", "|a=1", "a=1")
	f.Add("i=A", dotI+"=A", dotI+"=A,i=B")
	f.Add("|ss=A", "|"+sharpS+"=A", sharpS+"=A")
	f.Fuzz(func(t *testing.T, parentSpec, childSpec, ecSpec string) {
		parent, child := parseSpec(parentSpec), parseSpec(childSpec)
		if parent.Validate() != nil || child.Validate() != nil {
			return
		}
		ec := parseSpec(ecSpec).Subset
		rng := rand.New(rand.NewPCG(uint64(len(parentSpec)), uint64(len(ecSpec))))
		checkFoldProperties(t, rng, parent, child, ec)
	})
}
