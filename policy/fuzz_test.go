package policy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trentkms/trent/policy"
)

// hostileSeeds are documents shaped to stress the parser and matcher:
// deep nesting, huge lists, long strings, many keys and wildcards that
// would make a backtracking matcher explode.
func hostileSeeds() []string {
	many := func(s string, n int) string { return strings.TrimSuffix(strings.Repeat(s+",", n), ",") }
	return []string{
		strings.Repeat("[", 100000),
		strings.Repeat(`{"a":`, 20000),
		`{"Version":"2012-10-17","Statement":[` + strings.Repeat("[", 5000) + `]}`,
		doc(`{"Effect":"Allow","Principal":"*","Action":[` + many(`"kms:E*t"`, 1000) + `],"Resource":"*"}`),
		doc(`{"Effect":"Allow","Principal":"*","Action":"*","Resource":[` + many(`"*"`, 1001) + `]}`),
		doc(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringLike":{"kms:EncryptionContext:k":"` + strings.Repeat("*a", 4000) + `b"}}}`),
		doc(`{"Sid":"` + strings.Repeat("x", 30000) + `","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`),
		`{"Version":"2012-10-17",` + many(`"Id":"x"`, 3000) + `}`,
		doc(many(`{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}`, 400)),
		doc(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{` + many(`"a:b":"c"`, 2000) + `}}}`),
		doc(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:k":"` + strings.Repeat("${", 5000) + `"}}}`),
		`"` + strings.Repeat(`\u0041`, 5000) + `"`,
		strings.Repeat(" ", 32768),
	}
}

func FuzzParse(f *testing.F) {
	f.Add(policy.DefaultKeyPolicy(acct), false)
	f.Add(consolePolicy, false)
	f.Add(allowAll, true)
	f.Add(doc(`{"Sid":"x","Effect":"Deny","NotPrincipal":{"AWS":["`+bobARN+`","111122223333"]},"NotAction":"kms:Decrypt","NotResource":"arn:aws:kms:*:${aws:PrincipalAccount}:key/*","Condition":{"ForAllValues:StringLike":{"kms:EncryptionContextKeys":"a*"},"DateLessThanIfExists":{"aws:CurrentTime":"2026-01-01"},"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"},"Null":{"kms:GranteePrincipal":true}}}`), false)
	for _, s := range hostileSeeds() {
		f.Add(s, false)
		f.Add(s, true)
	}
	reqs := fuzzRequests(f)
	f.Fuzz(func(t *testing.T, text string, identityKind bool) {
		kind := policy.KeyPolicy
		if identityKind {
			kind = policy.IdentityPolicy
		}
		p, err := policy.Parse(text, kind)
		if err != nil {
			if !errors.Is(err, policy.ErrMalformed) && !errors.Is(err, policy.ErrTooLarge) {
				t.Fatalf("error %v matches neither ErrMalformed nor ErrTooLarge", err)
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if p.Document() != text || p.Len() == 0 {
			t.Fatalf("Parse returned %v for %q", p, text)
		}
		_ = p.Principals()
		for _, req := range reqs {
			var d policy.Decision
			if kind == policy.KeyPolicy {
				d = policy.Evaluate(req, p, nil)
				_ = policy.LockoutCheck(p, req.Principal)
			} else {
				d = policy.Evaluate(req, nil, []*policy.Policy{p})
			}
			if d.Allowed && d.Reason != policy.KeyPolicyAllow && d.Reason != policy.IdentityPolicyAllow {
				t.Fatalf("allowed with reason %v", d.Reason)
			}
			_ = d.Explain()
		}
	})
}

func fuzzRequests(tb testing.TB) []*policy.Request {
	var reqs []*policy.Request
	for _, caller := range []string{rootARN, bobARN, extBobARN} {
		r := policy.NewRequest(principal(tb, caller), "kms:Decrypt", keyARN, acct)
		r.SetEncryptionContext(map[string]string{"k": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", "AppName": "x"})
		r.SetTime(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
		r.SetGrant(policy.GrantRequest{Operations: []string{"Decrypt", "Encrypt"}, GranteePrincipal: bobARN})
		r.Set(policy.CondSourceIP, "10.1.2.3")
		r.Set("kms:RotationPeriodInDays", "90")
		reqs = append(reqs, r)
	}
	return append(reqs, policy.NewRequest(principal(tb, bobARN), "kms:CreateKey", "*", acct))
}

// TestParseHostileInputIsFast checks that the hostile shapes are rejected
// or accepted quickly: parsing is linear and matching never backtracks
// exponentially.
func TestParseHostileInputIsFast(t *testing.T) {
	t.Parallel()
	reqs := fuzzRequests(t)
	for i, s := range hostileSeeds() {
		start := time.Now()
		for _, kind := range []policy.Kind{policy.KeyPolicy, policy.IdentityPolicy} {
			p, err := policy.Parse(s, kind)
			if err == nil {
				for _, req := range reqs {
					policy.Evaluate(req, p, nil)
				}
			}
		}
		// Generous, for -race on a loaded machine; typical is milliseconds.
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("seed %d (%d bytes) took %v", i, len(s), d)
		}
	}
}
