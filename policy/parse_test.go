package policy_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trentkms/trent/policy"
)

var update = flag.Bool("update", false, "rewrite the .golden files of testdata/malformed")

// TestParseMalformedGolden parses every testdata/malformed/*.json (as an
// identity policy when its name starts with "identity_", else as a key
// policy) and compares the error message with the .golden file beside it.
// Run with -update to rewrite them; commit only diffs you understand.
func TestParseMalformedGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "malformed", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 40 {
		t.Fatalf("only %d malformed policies", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			text, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			kind := policy.KeyPolicy
			if strings.HasPrefix(name, "identity_") {
				kind = policy.IdentityPolicy
			}
			_, err = policy.Parse(string(text), kind)
			if err == nil {
				t.Fatalf("Parse accepted %s", file)
			}
			var me *policy.MalformedError
			if !errors.As(err, &me) || !errors.Is(err, policy.ErrMalformed) {
				t.Fatalf("error %v is not a *MalformedError matching ErrMalformed", err)
			}
			golden := strings.TrimSuffix(file, ".json") + ".golden"
			got := err.Error() + "\n"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("error message\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestMalformedErrorFields(t *testing.T) {
	t.Parallel()
	text, err := os.ReadFile(filepath.Join("testdata", "malformed", "effect_lowercase.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = policy.Parse(string(text), policy.KeyPolicy)
	var me *policy.MalformedError
	if !errors.As(err, &me) {
		t.Fatalf("Parse error = %v", err)
	}
	want := policy.MalformedError{Statement: 2, Sid: "AllowUse", Element: "Effect", Reason: `Effect must be "Allow" or "Deny", got "allow"`}
	if *me != want {
		t.Errorf("MalformedError = %+v, want %+v", *me, want)
	}
	if got, want := me.Error(), `Statement[2] (Sid "AllowUse"): Effect must be "Allow" or "Deny", got "allow"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestParseAccepts(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		kind policy.Kind
		text string
	}{
		{"default", policy.KeyPolicy, policy.DefaultKeyPolicy(acct)},
		{"console", policy.KeyPolicy, consolePolicy},
		{"single_statement_object", policy.KeyPolicy, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}`},
		{"no_version", policy.KeyPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*"}]}`},
		{"version_2008_literal_variables", policy.KeyPolicy, `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:username":"${oops"}}}]}`},
		{"service_principal", policy.KeyPolicy, doc(`{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com","logs.us-east-1.amazonaws.com"]},"Action":"kms:*","Resource":"*"}`)},
		{"missing_action_is_inert", policy.KeyPolicy, doc(`{"Effect":"Allow","Principal":"*","Resource":"*"}`)},
		{"every_operator", policy.KeyPolicy, doc(`{"Sid":"All operators, with spaces","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{
			"StringEquals":{"a:b":"x"},"StringNotEquals":{"a:b":"x"},"StringEqualsIgnoreCase":{"a:b":"x"},"StringNotEqualsIgnoreCase":{"a:b":"x"},
			"StringLike":{"a:b":"x*"},"StringNotLike":{"a:b":"x?"},"ArnEquals":{"a:b":"arn:aws:iam::111122223333:role/x"},"ArnNotEquals":{"a:b":"arn:*"},
			"ArnLike":{"a:b":"arn:aws:iam::*:role/*"},"ArnNotLike":{"a:b":"arn:aws:iam::*:user/*"},"Bool":{"a:b":true},"Null":{"a:b":"TRUE"},
			"NumericEquals":{"a:b":1},"NumericNotEquals":{"a:b":"-2.5"},"NumericLessThan":{"a:b":3},"NumericLessThanEquals":{"a:b":3},
			"NumericGreaterThan":{"a:b":3},"NumericGreaterThanEquals":{"a:b":3},"DateEquals":{"a:b":"2026-01-01"},"DateNotEquals":{"a:b":"2026-01-01T00:00:00Z"},
			"DateLessThan":{"a:b":"2026-01-01T00:00:00.123+02:00"},"DateLessThanEquals":{"a:b":0},"DateGreaterThan":{"a:b":"20260101T000000Z"},
			"DateGreaterThanEquals":{"a:b":"2026-01-01T00:00"},"IpAddress":{"a:b":["192.0.2.0/24","2001:db8::/32"]},"NotIpAddress":{"a:b":"192.0.2.1"},
			"ForAnyValue:StringLikeIfExists":{"a:b":"x"},"ForAllValues:ArnLike":{"a:b":"arn:*"},"StringEqualsIfExists":{"a:b":"x"},
			"ForAnyValue:StringEquals":{"kms:EncryptionContext:k":"v"}}}`)},
		{"identity_minimal", policy.IdentityPolicy, allowAll},
		{"identity_not_action", policy.IdentityPolicy, doc(`{"Sid":"A1","Effect":"Allow","NotAction":"kms:Schedule*","NotResource":"arn:aws:kms:*:*:key/secret"}`)},
		{"policy_variables", policy.IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:${aws:PrincipalAccount}:key/*","Condition":{"StringLike":{"kms:RequestAlias":"alias/${aws:username, 'none'}-${*}"}}}`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := policy.Parse(tt.text, tt.kind)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if p.Kind() != tt.kind || p.Document() != tt.text || p.Len() < 1 {
				t.Errorf("Parse = %v, %d statements", p, p.Len())
			}
		})
	}
}

func TestParseSizeLimits(t *testing.T) {
	t.Parallel()
	pad := func(n int) string { // a valid key policy of exactly n bytes
		base := doc(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`)
		return base[:len(base)-1] + strings.Repeat(" ", n-len(base)) + "}"
	}
	if _, err := policy.Parse(pad(policy.MaxKeyPolicySize), policy.KeyPolicy); err != nil {
		t.Errorf("Parse of a %d-byte key policy: %v", policy.MaxKeyPolicySize, err)
	}
	_, err := policy.Parse(pad(policy.MaxKeyPolicySize+1), policy.KeyPolicy)
	if !errors.Is(err, policy.ErrTooLarge) || errors.Is(err, policy.ErrMalformed) {
		t.Errorf("Parse of an oversized key policy: %v, want ErrTooLarge", err)
	}

	// Identity policies count characters other than whitespace.
	sid := func(n int) string {
		d := doc(`{"Sid":"S","Effect":"Allow","Action":"kms:*","Resource":"*"}`)
		nonWS := len(strings.Join(strings.Fields(d), ""))
		return strings.Replace(d, `"S"`, `"`+strings.Repeat("S", n-nonWS+1)+`"`, 1)
	}
	spaced := strings.Replace(sid(policy.MaxIdentityPolicyChars), `"Effect"`, strings.Repeat(" ", 10000)+`"Effect"`, 1)
	if _, err := policy.Parse(spaced, policy.IdentityPolicy); err != nil {
		t.Errorf("Parse of an identity policy at the limit: %v", err)
	}
	if _, err := policy.Parse(sid(policy.MaxIdentityPolicyChars+1), policy.IdentityPolicy); !errors.Is(err, policy.ErrTooLarge) {
		t.Errorf("Parse of an oversized identity policy: %v, want ErrTooLarge", err)
	}

	many := make([]string, policy.MaxStatements+1)
	for i := range many {
		many[i] = `{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}`
	}
	_, err = policy.Parse(doc(many...), policy.KeyPolicy)
	var me *policy.MalformedError
	want := policy.MalformedError{Statement: -1, Reason: "Statement has 501 statements; at most 500 are allowed"}
	if !errors.As(err, &me) || *me != want {
		t.Errorf("Parse of %d statements: %v, want %+v", len(many), err, want)
	}
	vals := `"` + strings.Repeat(`a","`, policy.MaxValues) + `a"`
	text := doc(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:k":[` + vals + `]}}}`)
	_, err = policy.Parse(text, policy.KeyPolicy)
	want = policy.MalformedError{Statement: 0, Element: "Condition.StringEquals",
		Reason: `Condition operator "StringEquals": "kms:EncryptionContext:k" has 1001 values; at most 1000 are allowed`}
	if !errors.As(err, &me) || *me != want {
		t.Errorf("Parse of %d condition values: %v, want %+v", policy.MaxValues+1, err, want)
	}
}

func TestParseInvalidKind(t *testing.T) {
	t.Parallel()
	if _, err := policy.Parse(allowAll, 0); err == nil {
		t.Error("Parse accepted Kind 0")
	}
}

func TestDefaultKeyPolicyText(t *testing.T) {
	t.Parallel()
	// The exact text GetKeyPolicy returns (reference section 3.2).
	want := `{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : { "AWS" : "arn:aws:iam::111122223333:root" },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}`
	if got := policy.DefaultKeyPolicy(acct); got != want {
		t.Errorf("DefaultKeyPolicy =\n%s\nwant\n%s", got, want)
	}
	p := mustParse(t, want, policy.KeyPolicy)
	if p.ID() != "key-default-1" || p.Version() != policy.Version2012 || p.Name() != "default" {
		t.Errorf("parsed default policy: id %q version %q name %q", p.ID(), p.Version(), p.Name())
	}
}

func TestPrincipals(t *testing.T) {
	t.Parallel()
	p := mustParse(t, doc(
		`{"Effect":"Allow","Principal":{"AWS":["111122223333","`+bobARN+`","*"]},"Action":"kms:*","Resource":"*"}`,
		`{"Effect":"Deny","NotPrincipal":{"AWS":["`+rootARN+`","`+extBobARN+`"],"Service":"ec2.amazonaws.com"},"Action":"kms:*","Resource":"*"}`,
	), policy.KeyPolicy)
	want := []string{rootARN, bobARN, extBobARN}
	if got := p.Principals(); !slices.Equal(got, want) {
		t.Errorf("Principals() = %q, want %q", got, want)
	}
}

func TestLockoutCheck(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		policy string
		caller string
		ok     bool
	}{
		{"default_root", policy.DefaultKeyPolicy(acct), rootARN, true},
		{"default_user_via_delegation", policy.DefaultKeyPolicy(acct), bobARN, true},
		{"default_of_other_account", policy.DefaultKeyPolicy(extAcct), bobARN, false},
		{"console_admin", consolePolicy, adminARN, true},
		{"users_only", doc(userStatement(`["kms:Encrypt","kms:Decrypt"]`, "")), bobARN, false},
		{"put_wildcard", doc(userStatement(`"kms:Put*"`, "")), bobARN, true},
		{"put_lowercase", doc(userStatement(`"kms:putkeypolicy"`, "")), bobARN, true},
		{"other_user", doc(userStatement(`"kms:*"`, "")), aliceARN, false},
		{"star_principal", doc(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`), aliceARN, true},
		{"not_action_excludes_put", doc(`{"Effect":"Allow","Principal":"*","NotAction":"kms:PutKeyPolicy","Resource":"*"}`), aliceARN, false},
		{"unconditional_deny", doc(rootStatement, `{"Effect":"Deny","Principal":{"AWS":"111122223333"},"Action":"kms:PutKeyPolicy","Resource":"*"}`), bobARN, false},
		{"conditional_deny", doc(rootStatement, `{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`), bobARN, true},
		{"conditional_allow", doc(userStatement(`"kms:*"`, `{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}`)), bobARN, true},
		{"inert_statement", doc(`{"Effect":"Allow","Principal":"*","Action":"kms:*"}`), bobARN, false},
		{"not_resource_star", doc(`{"Effect":"Allow","Principal":"*","Action":"kms:*","NotResource":"*"}`), bobARN, false},
		{"key_arn_resource", doc(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"` + keyARN + `"}`), bobARN, true},
		{"service_principal", doc(`{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"kms:*","Resource":"*"}`), bobARN, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := policy.LockoutCheck(mustParse(t, tt.policy, policy.KeyPolicy), principal(t, tt.caller))
			switch {
			case tt.ok && err != nil:
				t.Errorf("LockoutCheck = %v, want nil", err)
			case !tt.ok && !errors.Is(err, policy.ErrLockout):
				t.Errorf("LockoutCheck = %v, want ErrLockout", err)
			}
		})
	}
	if got, want := policy.ErrLockout.Error(), "The new key policy will not allow you to update the key policy in the future."; got != want {
		t.Errorf("ErrLockout = %q, want AWS's %q", got, want)
	}
	if err := policy.LockoutCheck(mustParse(t, allowAll, policy.IdentityPolicy), principal(t, rootARN)); err == nil {
		t.Error("LockoutCheck accepted an identity policy")
	}
}
