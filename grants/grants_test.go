package grants

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

func TestConstraintsSatisfied(t *testing.T) {
	t.Parallel()
	subset := Constraints{Subset: map[string]string{"customerID": "3369"}}
	equals := Constraints{Equals: map[string]string{"customerID": "3369", "purpose": "test"}}
	tests := []struct {
		name string
		c    Constraints
		ec   map[string]string
		want bool
	}{
		{"subset exact", subset, map[string]string{"customerID": "3369"}, true},
		{"subset with extra pairs", subset, map[string]string{"customerID": "3369", "x": "y"}, true},
		{"subset no context", subset, nil, false},
		{"subset other value", subset, map[string]string{"customerID": "1234"}, false},
		{"subset key case ignored", subset, map[string]string{"CUSTOMERID": "3369"}, true},
		{"subset value case kept", Constraints{Subset: map[string]string{"a": "Value"}}, map[string]string{"a": "value"}, false},
		{"equals exact", equals, map[string]string{"purpose": "test", "customerID": "3369"}, true},
		{"equals extra pair", equals, map[string]string{"purpose": "test", "customerID": "3369", "x": "y"}, false},
		{"equals missing pair", equals, map[string]string{"customerID": "3369"}, false},
		{"equals empty never matches a non-empty context", Constraints{Equals: map[string]string{}}, map[string]string{"a": "b"}, false},
		{"equals empty matches no context", Constraints{Equals: map[string]string{}}, nil, true},
		{"no constraint", Constraints{}, map[string]string{"a": "b"}, true},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			if got := tt.c.Satisfied(tt.ec); got != tt.want {
				t.Fatalf("Satisfied = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAllowsIgnoresConstraintsForContextFreeOperations(t *testing.T) {
	t.Parallel()
	ops := Set(GenerateDataKey | Decrypt | DescribeKey | RetireGrant)
	c := Constraints{Subset: map[string]string{"customerID": "3369"}}
	if !Allows(ops, c, DescribeKey, nil) || !Allows(ops, c, RetireGrant, nil) {
		t.Fatal("constraints must not apply to DescribeKey and RetireGrant")
	}
	if Allows(ops, c, Decrypt, nil) || !Allows(ops, c, Decrypt, map[string]string{"customerID": "3369"}) {
		t.Fatal("constraints must apply to Decrypt")
	}
	if Allows(ops, c, Encrypt, map[string]string{"customerID": "3369"}) {
		t.Fatal("Encrypt was not granted")
	}
}

func TestDelegation(t *testing.T) {
	t.Parallel()
	parentOps := Set(Decrypt | Encrypt | CreateGrant)
	sub := Constraints{Subset: map[string]string{"a": "1"}}
	tests := []struct {
		name     string
		parentOp Set
		parent   Constraints
		childOp  Set
		child    Constraints
		want     bool
	}{
		{"same ops same constraint", parentOps, sub, parentOps, sub, true},
		{"fewer ops", parentOps, sub, Set(Decrypt), sub, true},
		{"more ops", parentOps, sub, Set(Decrypt | GenerateDataKey), sub, false},
		{"parent lacks CreateGrant", Set(Decrypt), Constraints{}, Set(Decrypt), Constraints{}, false},
		{"add subset pair", parentOps, sub, Set(Decrypt), Constraints{Subset: map[string]string{"a": "1", "b": "2"}}, true},
		{"drop subset pair", parentOps, sub, Set(Decrypt), Constraints{}, false},
		{"change subset value", parentOps, sub, Set(Decrypt), Constraints{Subset: map[string]string{"a": "2"}}, false},
		{"subset to equals", parentOps, sub, Set(Decrypt), Constraints{Equals: map[string]string{"a": "1", "c": "3"}}, true},
		{"equals to subset", parentOps, Constraints{Equals: map[string]string{"a": "1"}}, Set(Decrypt), sub, false},
		{"equals to same equals", parentOps, Constraints{Equals: map[string]string{"a": "1"}}, Set(Decrypt), Constraints{Equals: map[string]string{"A": "1"}}, true},
		{"equals to wider equals", parentOps, Constraints{Equals: map[string]string{"a": "1"}}, Set(Decrypt), Constraints{Equals: map[string]string{"a": "1", "b": "2"}}, false},
		{"unconstrained parent", parentOps, Constraints{}, Set(Encrypt), Constraints{}, true},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			if got := MayDelegate(tt.parentOp, tt.parent, tt.childOp, tt.child); got != tt.want {
				t.Fatalf("MayDelegate = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseSetAndValidForKey(t *testing.T) {
	t.Parallel()
	s, err := ParseSet([]string{"GenerateDataKey", "Decrypt", "Decrypt"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Names(), ","); got != "Decrypt,GenerateDataKey" {
		t.Fatalf("Names = %s", got)
	}
	for _, bad := range [][]string{nil, {"ReEncrypt"}, {"decrypt"}, {"ScheduleKeyDeletion"}} {
		if _, err := ParseSet(bad); err == nil {
			t.Fatalf("ParseSet(%v) succeeded", bad)
		}
	}
	if err := ValidForKey(s, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"); err != nil {
		t.Fatal(err)
	}
	sign, _ := ParseSet([]string{"Sign"})
	err = ValidForKey(sign, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
	var opErr *OperationError
	const want = "Grant operation Sign is not valid for a SYMMETRIC_DEFAULT key with key usage ENCRYPT_DECRYPT"
	if !errors.As(err, &opErr) || opErr.Op != Sign || err.Error() != want {
		t.Fatalf("got %v, want an OperationError naming Sign: %q", err, want)
	}
	for i, n := range names {
		if op, ok := Lookup(n); !ok || op != Operation(1<<i) || op.String() != n {
			t.Fatalf("operation %s does not round-trip", n)
		}
	}
}

func TestConstraintsValidate(t *testing.T) {
	t.Parallel()
	nine := map[string]string{}
	for _, k := range "abcdefghi" {
		nine[string(k)] = "v"
	}
	tests := map[string]Constraints{
		"nine pairs":      {Subset: nine},
		"empty key":       {Equals: map[string]string{"": "v"}},
		"long value":      {Subset: map[string]string{"k": strings.Repeat("x", 385)}},
		"keys fold equal": {Subset: map[string]string{"k": "1", "K": "2"}},
	}
	for name, c := range tests {
		if c.Validate() == nil {
			t.Errorf("%s: validated", name)
		}
	}
	if err := (Constraints{Subset: map[string]string{"k": strings.Repeat("x", 384)}}).Validate(); err != nil {
		t.Fatal(err)
	}
}

type testMAC []byte

func (k testMAC) MAC(_ context.Context, label string, msg []byte) ([]byte, error) {
	h := hmac.New(sha256.New, append([]byte(label), k...))
	h.Write(msg)
	return h.Sum(nil), nil
}

func TestTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := testMAC("cluster-key")
	want := Token{CreatedIndex: 42}
	want.GrantID[0], want.KeyID[15] = 7, 9
	a, err := IssueToken(ctx, m, rand.Reader, want)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := IssueToken(ctx, m, rand.Reader, want)
	if a == b {
		t.Fatal("two tokens for the same grant are equal")
	}
	if len(a) > MaxTokenLength {
		t.Fatalf("token of %d chars exceeds MaxTokenLength %d", len(a), MaxTokenLength)
	}
	got, err := VerifyToken(ctx, m, a)
	if err != nil || got != want {
		t.Fatalf("VerifyToken = %+v, %v", got, err)
	}
	// Another cluster's key, any flipped character, and junk all fail alike.
	if _, err := VerifyToken(ctx, testMAC("other"), a); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("foreign token: %v", err)
	}
	for i := len(tokenPrefix); i < len(a); i++ {
		c := []byte(a)
		c[i] ^= 1
		if _, err := VerifyToken(ctx, m, string(c)); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("flipping char %d: %v", i, err)
		}
	}
	for _, junk := range []string{"", "v1.", "v2." + a[3:], a + "A", strings.Repeat("x", 9000)} {
		if _, err := VerifyToken(ctx, m, junk); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("junk %q: %v", junk, err)
		}
	}
}

func FuzzVerifyToken(f *testing.F) {
	m := testMAC("k")
	tok, _ := IssueToken(context.Background(), m, rand.Reader, Token{CreatedIndex: 1})
	f.Add(tok)
	f.Add("v1.")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tk, err := VerifyToken(context.Background(), m, s)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		// Only a token that re-parses to the same reference verifies.
		again, _, _, err := ParseToken(s)
		if err != nil || again != tk {
			t.Fatal("verified token does not re-parse")
		}
	})
}

func TestValidName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"a", "my-grant:1/x_y", strings.Repeat("n", 256)} {
		if err := ValidName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "has space", "é", strings.Repeat("n", 257)} {
		if ValidName(bad) == nil {
			t.Errorf("%q validated", bad)
		}
	}
	if _, err := ParseID(strings.Repeat("ab", 32)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", strings.Repeat("AB", 32), strings.Repeat("a", 63)} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
