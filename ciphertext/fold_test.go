package ciphertext_test

import (
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/trentkms/trent/ciphertext"
)

func TestFoldKey(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"lower", "tenant", "tenant"},
		{"upper", "TENANT", "tenant"},
		{"mixed with punctuation", "aws:DynamoDB:TableName-1", "aws:dynamodb:tablename-1"},
		{"long s is not s", "\u017f", "\u017f"},
		{"kelvin sign is not k", "\u212a", "\u212a"},
		{"dotted capital I is not i", "\u0130", "\u0130"},
		{"dotless i is not i", "\u0131", "\u0131"},
		{"sharp s is not ss", "\u00df", "\u00df"},
		{"non-ASCII capital is kept", "\u00c9t\u00c9", "\u00c9t\u00c9"},
		{"ASCII around non-ASCII", "A\u00c9Z", "a\u00c9z"},
		{"invalid UTF-8 bytes are kept", "K\xff\xc0", "k\xff\xc0"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ciphertext.FoldKey(tt.in)
			if got != tt.want {
				t.Fatalf("FoldKey(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if again := ciphertext.FoldKey(got); again != got {
				t.Fatalf("FoldKey is not idempotent: %q then %q", got, again)
			}
		})
	}
}

func TestFoldContext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ec   map[string]string
		want map[string]string // nil: ambiguous
	}{
		{"nil", nil, map[string]string{}},
		{"distinct keys", map[string]string{"Tenant": "A", "dept": "B"}, map[string]string{"tenant": "A", "dept": "B"}},
		{"ASCII case variants collide", map[string]string{"Tenant": "A", "TENANT": "B"}, nil},
		{"same value still collides", map[string]string{"k": "A", "K": "A"}, nil},
		{"long s and s are distinct", map[string]string{"s": "A", "\u017f": "B"}, map[string]string{"s": "A", "\u017f": "B"}},
		{"kelvin sign and k are distinct", map[string]string{"K": "A", "\u212a": "B"}, map[string]string{"k": "A", "\u212a": "B"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ciphertext.FoldContext(tt.ec)
			if ok != (tt.want != nil) {
				t.Fatalf("FoldContext ok = %v, want %v", ok, tt.want != nil)
			}
			if ok && !maps.Equal(got, tt.want) {
				t.Fatalf("FoldContext = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestFoldContextIsDeterministic builds the same contexts in shuffled
// insertion orders (which changes map iteration order) and checks that
// FoldContext answers the same every time.
func TestFoldContextIsDeterministic(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 0))
	alphabet := []string{"a", "A", "b", "B", "s", "S", "\u017f", "k", "K", "\u212a"}
	for range 500 {
		var keys []string
		for range 1 + rng.IntN(4) {
			keys = append(keys, alphabet[rng.IntN(len(alphabet))]+alphabet[rng.IntN(len(alphabet))])
		}
		build := func() map[string]string {
			ec := make(map[string]string)
			for _, i := range rng.Perm(len(keys)) {
				ec[keys[i]] = "v" + keys[i]
			}
			return ec
		}
		first, firstOK := ciphertext.FoldContext(build())
		for range 8 {
			got, ok := ciphertext.FoldContext(build())
			if ok != firstOK || !maps.Equal(got, first) {
				t.Fatalf("keys %q: FoldContext = %v, %v then %v, %v", keys, first, firstOK, got, ok)
			}
		}
	}
}
