package policy_test

import (
	"encoding/json"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/trentkms/trent/grants"
	"github.com/trentkms/trent/policy"
)

// jsonString quotes s as a JSON string.
func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// ecCond is a condition on one encryption context key.
func ecCond(op, key, value string) string {
	return `{` + jsonString(op) + `:{` + jsonString("kms:EncryptionContext:"+key) + `:` + jsonString(value) + `}}`
}

// TestEncryptionContextKeyFold checks that kms:EncryptionContext:<key> and
// kms:EncryptionContextKeys fold keys as grant constraints do (ASCII only),
// and that a context with two keys that fold together fails every
// kms:EncryptionContext: condition closed.
func TestEncryptionContextKeyFold(t *testing.T) {
	t.Parallel()
	allowIf := func(cond string) string {
		return doc(rootStatement, userStatement(`"kms:Decrypt"`, cond))
	}
	denyIf := func(cond string) string {
		return doc(rootStatement, userStatement(`"kms:Decrypt"`, ""),
			`{"Sid":"Deny","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":`+cond+`}`)
	}
	tests := []struct {
		name      string
		key       string
		ec        []string
		want      policy.Reason
		ambiguous bool
	}{
		{"ASCII case of the key is ignored", allowIf(ecCond("StringEquals", "Tenant", "A")), []string{"tENANT", "A"}, byKey, false},
		// Policies hold only U+0020 to U+00FF, but contexts any character.
		// strings.ToLower turned these context keys into the ASCII keys
		// of the policy; grant constraints kept them apart.
		{"kelvin sign is not k", allowIf(ecCond("StringEquals", "k", "A")), []string{"\u212a", "A"}, implicit, false},
		{"dotted I is not i", allowIf(ecCond("StringEquals", "id", "A")), []string{"\u0130d", "A"}, implicit, false},
		{"capital Y with diaeresis is not y with diaeresis", allowIf(ecCond("StringEquals", "\u00ff", "A")), []string{"\u0178", "A"}, implicit, false},
		{"Latin-1 capitals are not folded", allowIf(ecCond("StringEquals", "d\u00e9pt", "A")), []string{"D\u00c9PT", "A"}, implicit, false},
		{"long s is not s", allowIf(ecCond("StringEquals", "s", "A")), []string{"\u017f", "A"}, implicit, false},
		{"long s beside s is no ambiguity", allowIf(ecCond("StringEquals", "s", "A")), []string{"s", "A", "\u017f", "B"}, byKey, false},
		// Both pairs became values of kms:encryptioncontext:tenant, and
		// the Allow matched the one it liked.
		{"allow on a key with case variants", allowIf(ecCond("StringEquals", "tenant", "A")), []string{"Tenant", "A", "TENANT", "B"}, implicit, true},
		{"for any value on a key with case variants", allowIf(ecCond("ForAnyValue:StringEquals", "tenant", "A")), []string{"Tenant", "A", "TENANT", "B"}, implicit, true},
		{"allow on another key of an ambiguous context", allowIf(ecCond("StringEquals", "dept", "IT")), []string{"dept", "IT", "x", "1", "X", "2"}, implicit, true},
		// A Deny unless tenant is A: the A pair made StringNotEquals false.
		{"deny unless on a key with case variants", denyIf(ecCond("StringNotEquals", "tenant", "A")), []string{"tenant", "A", "TENANT", "B"}, deny, true},
		{"deny if on a key with case variants", denyIf(ecCond("StringEquals", "tenant", "B")), []string{"tenant", "A", "TENANT", "C"}, deny, true},
		// A variable with two values matched nothing, so the Deny lapsed.
		{"deny with a context variable", denyIf(`{"StringEquals":{"aws:username":"${kms:EncryptionContext:blocked}"}}`), []string{"blocked", "bob", "BLOCKED", "bob"}, deny, true},
		{"deny that does not apply otherwise", denyIf(`{"StringEquals":{"kms:EncryptionContext:tenant":"B","aws:username":"alice"}}`), []string{"tenant", "A", "TENANT", "B"}, byKey, false},
		{"no context condition", allowIf(""), []string{"tenant", "A", "TENANT", "B"}, byKey, false},
		{"context keys stay case-sensitive", allowIf(`{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["tenant","TENANT"]}}`), []string{"tenant", "A", "TENANT", "B"}, byKey, false},
		// strings.EqualFold let "ſid" pass for "sid".
		{"ignore case on context keys uses the key fold", allowIf(`{"ForAllValues:StringEqualsIgnoreCase":{"kms:EncryptionContextKeys":"sid"}}`), []string{"SID", "A", "\u017fid", "B"}, implicit, false},
		{"ignore case on context keys, ASCII", allowIf(`{"ForAllValues:StringEqualsIgnoreCase":{"kms:EncryptionContextKeys":"sid"}}`), []string{"SID", "A"}, byKey, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for range 5 {
				d := evaluate(t, evalCase{key: tt.key, caller: bobARN, action: "kms:Decrypt", setup: ec(tt.ec...)})
				if d.Reason != tt.want || d.AmbiguousContext != tt.ambiguous {
					t.Fatalf("Evaluate = %v (ambiguous %v), want %v (ambiguous %v)\n%s", d.Reason, d.AmbiguousContext, tt.want, tt.ambiguous, d.Explain())
				}
				if tt.ambiguous && !strings.Contains(d.Explain(), "differ only by case") {
					t.Fatalf("Explain does not say why: %s", d.Explain())
				}
			}
		})
	}
}

// The key alphabets of the property tests. Policy keys may use U+0020 to
// U+00FF: ASCII letters in both cases, sharp s (U+00DF), e acute (U+00E9,
// U+00C9), y with diaeresis (U+00FF) and the micro sign (U+00B5).
// Context keys may also use the characters Unicode relates to these: long
// s (U+017F), the Kelvin sign (U+212A), I with dot above (U+0130), dotless
// i (U+0131), capital sharp s (U+1E9E), capital Y with diaeresis (U+0178)
// and Greek mu (U+03BC, U+039C).
var (
	policyAlphabet  = []string{"a", "A", "s", "S", "k", "K", "i", "I", "ss", "\u00df", "\u00e9", "\u00c9", "\u00ff", "\u00b5"}
	contextAlphabet = append(slices.Clip(policyAlphabet), "\u017f", "\u212a", "\u0130", "\u0131", "\u1e9e", "\u0178", "\u03bc", "\u039c")
)

func randomPairs(rng *rand.Rand, alphabet []string, n int) map[string]string {
	m := make(map[string]string)
	for range n {
		m[alphabet[rng.IntN(len(alphabet))]] = string(rune('A' + rng.IntN(2)))
	}
	return m
}

// shuffled copies m by inserting its pairs in a random order.
func shuffled(rng *rand.Rand, m map[string]string) map[string]string {
	keys := slices.Collect(maps.Keys(m))
	out := make(map[string]string, len(m))
	for _, i := range rng.Perm(len(keys)) {
		out[keys[i]] = m[keys[i]]
	}
	return out
}

// TestEncryptionContextConditionsMatchGrantConstraints is a property test
// of "one fold everywhere": an Allow whose conditions are StringEquals
// kms:EncryptionContext:<k> for each pair of a Subset allows exactly the
// contexts that a grant with that Subset constraint allows, over keys with
// case variants and Unicode fold characters; and every decision is the
// same on repeat, with the context built in shuffled orders.
func TestEncryptionContextConditionsMatchGrantConstraints(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	allowed := 0
	for range 1500 {
		subset := randomPairs(rng, policyAlphabet, 1+rng.IntN(3))
		c := grants.Constraints{Subset: subset}
		if c.Validate() != nil {
			continue
		}
		conds := make([]string, 0, len(subset))
		for k, v := range subset {
			conds = append(conds, jsonString("kms:EncryptionContext:"+k)+`:`+jsonString(v))
		}
		key := mustParse(t, doc(rootStatement, userStatement(`"kms:Decrypt"`, `{"StringEquals":{`+strings.Join(conds, ",")+`}}`)), policy.KeyPolicy)
		for range 4 {
			ec := randomPairs(rng, contextAlphabet, rng.IntN(5))
			if rng.IntN(2) == 0 {
				maps.Copy(ec, subset) // a context that usually meets the constraint
				ec[contextAlphabet[rng.IntN(len(contextAlphabet))]] = "A"
			}
			want := c.Satisfied(ec)
			for range 4 {
				req := policy.NewRequest(principal(t, bobARN), "kms:Decrypt", keyARN, acct)
				req.SetEncryptionContext(shuffled(rng, ec))
				if d := policy.Evaluate(req, key, nil); d.Allowed != want {
					t.Fatalf("subset %q, context %q: policy allows %v, grant constraint allows %v\n%s", subset, ec, d.Allowed, want, d.Explain())
				}
			}
			if want {
				allowed++
			}
		}
	}
	if allowed < 300 {
		t.Fatalf("only %d allowed cases; the generator is too weak", allowed)
	}
}

// FuzzEncryptionContextFold checks the property of
// TestEncryptionContextConditionsMatchGrantConstraints on fuzzed keys: a
// StringEquals kms:EncryptionContext:<key> condition and a grant Subset
// constraint with the same pair allow the same contexts (given as
// "k=v,k=v"), and the policy decides the same on repeat.
func FuzzEncryptionContextFold(f *testing.F) {
	f.Add("s", "A", "\u017f=A,s=B")
	f.Add("k", "A", "\u212a=A")
	f.Add("tenant", "A", "Tenant=A,TENANT=B")
	f.Add("\u00e9", "A", "\u00c9=A")
	f.Add("id", "A", "\u0130d=A")
	f.Fuzz(func(t *testing.T, key, value, ecSpec string) {
		c := grants.Constraints{Subset: map[string]string{key: value}}
		if c.Validate() != nil || strings.Contains(value, "${") {
			return // policy variables are not literal text
		}
		p, err := policy.Parse(doc(rootStatement, userStatement(`"kms:Decrypt"`, ecCond("StringEquals", key, value))), policy.KeyPolicy)
		if err != nil {
			return // a key or value a policy cannot hold
		}
		ec := make(map[string]string)
		for _, kv := range strings.Split(ecSpec, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
				ec[k] = v
			}
		}
		want := c.Satisfied(ec)
		for range 3 {
			req := policy.NewRequest(principal(t, bobARN), "kms:Decrypt", keyARN, acct)
			req.SetEncryptionContext(ec)
			if d := policy.Evaluate(req, p, nil); d.Allowed != want {
				t.Fatalf("key %q value %q context %q: policy allows %v, grant constraint %v", key, value, ec, d.Allowed, want)
			}
		}
	})
}
