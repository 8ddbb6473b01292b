package kms_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/kms"
	"github.com/trentkms/trent/wire"
)

const (
	bobARN   = "arn:aws:iam::111122223333:user/bob"
	carolARN = "arn:aws:iam::111122223333:user/carol"
	daveARN  = "arn:aws:iam::111122223333:user/dave"
)

func as(t testing.TB, arn string) context.Context {
	t.Helper()
	p, err := identity.ParsePrincipal(arn)
	if err != nil {
		t.Fatal(err)
	}
	return identity.NewContext(context.Background(), p)
}

func (e *env) grant(t testing.TB, ctx context.Context, req *kmsv1.CreateGrantRequest) *kmsv1.CreateGrantResponse {
	t.Helper()
	r, err := e.svc.CreateGrant(ctx, req)
	if err != nil {
		t.Fatalf("CreateGrant: %v", err)
	}
	return r
}

func subset(kv ...string) *kmsv1.GrantConstraints {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &kmsv1.GrantConstraints{EncryptionContextSubset: m}
}

// The canonical scenario.
func TestGrantCanonicalScenario(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	bob := as(t, bobARN)
	g := e.grant(t, e.root, &kmsv1.CreateGrantRequest{
		KeyId: m.KeyId, GranteePrincipal: bobARN, Operations: []string{"GenerateDataKey", "Decrypt"},
		Constraints: subset("customerID", "3369"),
	})
	if len(g.GrantId) != 64 || !strings.HasPrefix(g.GrantToken, "v1.") {
		t.Fatalf("grant %v", g)
	}
	gdk := func(ec map[string]string) error {
		_, err := e.svc.GenerateDataKey(bob, &kmsv1.GenerateDataKeyRequest{KeyId: m.KeyId, KeySpec: "AES_256", EncryptionContext: ec})
		return err
	}
	tests := []struct {
		name string
		ec   map[string]string
		want string
	}{
		{"with the context", map[string]string{"customerID": "3369"}, ""},
		{"with extra pairs", map[string]string{"customerID": "3369", "order": "7"}, ""},
		{"with no context", nil, wire.AccessDenied},
		{"with another value", map[string]string{"customerID": "1234"}, wire.AccessDenied},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) { wantType(t, gdk(tt.ec), tt.want) })
	}
	ec := map[string]string{"customerID": "3369"}
	dk, err := e.svc.GenerateDataKey(bob, &kmsv1.GenerateDataKeyRequest{KeyId: m.KeyId, KeySpec: "AES_256", EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := e.svc.Decrypt(bob, &kmsv1.DecryptRequest{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ec})
	if err != nil || string(dec.Plaintext) != string(dk.Plaintext) {
		t.Fatalf("bob cannot decrypt his data key: %v", err)
	}
	_, err = e.svc.Encrypt(bob, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("x"), EncryptionContext: ec})
	wantType(t, err, wire.AccessDenied)
	_, err = e.svc.DescribeKey(bob, &kmsv1.DescribeKeyRequest{KeyId: m.KeyId})
	wantType(t, err, wire.AccessDenied)
	// Another principal gets nothing from bob's grant.
	_, err = e.svc.GenerateDataKey(as(t, carolARN), &kmsv1.GenerateDataKeyRequest{KeyId: m.KeyId, KeySpec: "AES_256", EncryptionContext: ec})
	wantType(t, err, wire.AccessDenied)
	// Revoked: bob is denied again.
	if _, err := e.svc.RevokeGrant(e.root, &kmsv1.RevokeGrantRequest{KeyId: m.KeyId, GrantId: g.GrantId}); err != nil {
		t.Fatal(err)
	}
	wantType(t, gdk(ec), wire.AccessDenied)
}

func TestCreateGrantNameIdempotency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	req := func(name string, ops ...string) *kmsv1.CreateGrantRequest {
		return &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: bobARN, Operations: ops, Name: name}
	}
	a := e.grant(t, e.root, req("retry-me", "Decrypt"))
	b := e.grant(t, e.root, req("retry-me", "Decrypt"))
	if a.GrantId != b.GrantId || a.GrantToken == b.GrantToken {
		t.Fatalf("retry: ids %s %s, tokens equal %v", a.GrantId, b.GrantId, a.GrantToken == b.GrantToken)
	}
	if c := e.grant(t, e.root, req("retry-me", "Decrypt", "Encrypt")); c.GrantId == a.GrantId {
		t.Fatal("same name with other properties returned the old grant")
	}
	if d := e.grant(t, e.root, req("", "Decrypt")); d.GrantId == e.grant(t, e.root, req("", "Decrypt")).GrantId {
		t.Fatal("unnamed grants were deduplicated")
	}
	// Both tokens of the retried grant work.
	for _, tok := range []string{a.GrantToken, b.GrantToken} {
		if _, err := e.svc.DescribeKey(e.root, &kmsv1.DescribeKeyRequest{KeyId: m.KeyId, GrantTokens: []string{tok}}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConcurrentNamedRetriesMakeOneGrant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	ids := make([]string, 16)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.svc.CreateGrant(e.root, &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: bobARN,
				Operations: []string{"Decrypt"}, Name: "once"})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = r.GrantId
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("retries produced different grants: %v", ids)
		}
	}
	l, err := e.svc.ListGrants(e.root, &kmsv1.ListGrantsRequest{KeyId: m.KeyId})
	if err != nil || len(l.Grants) != 1 {
		t.Fatalf("%d grants, %v", len(l.GetGrants()), err)
	}
}

func TestGrantTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	bob := as(t, bobARN)
	g := e.grant(t, e.root, &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: bobARN, Operations: []string{"Encrypt"}})
	enc := func(tokens ...string) error {
		_, err := e.svc.Encrypt(bob, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("x"), GrantTokens: tokens})
		return err
	}
	wantType(t, enc(g.GrantToken), "")
	forged := []byte(g.GrantToken)
	forged[10] ^= 1
	wantType(t, enc(string(forged)), wire.InvalidGrantToken)
	wantType(t, enc("not-a-token"), wire.InvalidGrantToken)

	// A token minted by another cluster's HSM is forged here.
	other := newEnv(t)
	om := other.createKey(t)
	og := other.grant(t, other.root, &kmsv1.CreateGrantRequest{KeyId: om.KeyId, GranteePrincipal: bobARN, Operations: []string{"Encrypt"}})
	wantType(t, enc(og.GrantToken), wire.InvalidGrantToken)

	// Once the grant is retired its tokens stop working.
	if _, err := e.svc.RetireGrant(e.root, &kmsv1.RetireGrantRequest{GrantToken: g.GrantToken}); err != nil {
		t.Fatal(err)
	}
	wantType(t, enc(g.GrantToken), wire.InvalidGrantToken)
	wantType(t, enc(), wire.AccessDenied)
}

func TestGrantDelegation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	bob, carol := as(t, bobARN), as(t, carolARN)
	e.grant(t, e.root, &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: bobARN,
		Operations: []string{"Decrypt", "Encrypt", "CreateGrant"}, Constraints: subset("a", "1")})
	tests := []struct {
		name string
		req  *kmsv1.CreateGrantRequest
		want string
	}{
		{"subset of ops, stricter", &kmsv1.CreateGrantRequest{GranteePrincipal: carolARN, Operations: []string{"Decrypt", "CreateGrant"}, Constraints: subset("a", "1", "b", "2")}, ""},
		{"same constraint", &kmsv1.CreateGrantRequest{GranteePrincipal: carolARN, Operations: []string{"Encrypt"}, Constraints: subset("a", "1")}, ""},
		{"equals containing the pairs", &kmsv1.CreateGrantRequest{GranteePrincipal: carolARN, Operations: []string{"Encrypt"}, Constraints: &kmsv1.GrantConstraints{EncryptionContextEquals: map[string]string{"a": "1", "z": "9"}}}, ""},
		{"an operation the parent lacks", &kmsv1.CreateGrantRequest{GranteePrincipal: carolARN, Operations: []string{"GenerateDataKey"}, Constraints: subset("a", "1")}, wire.AccessDenied},
		{"no constraint", &kmsv1.CreateGrantRequest{GranteePrincipal: carolARN, Operations: []string{"Decrypt"}}, wire.AccessDenied},
		{"other value", &kmsv1.CreateGrantRequest{GranteePrincipal: carolARN, Operations: []string{"Decrypt"}, Constraints: subset("a", "2")}, wire.AccessDenied},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			tt.req.KeyId = m.KeyId
			_, err := e.svc.CreateGrant(bob, tt.req)
			wantType(t, err, tt.want)
		})
	}
	// Transitively: carol's grant (Decrypt, CreateGrant; a=1,b=2) limits what she delegates.
	_, err := e.svc.CreateGrant(carol, &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: daveARN,
		Operations: []string{"Decrypt"}, Constraints: subset("a", "1")})
	wantType(t, err, wire.AccessDenied)
	_, err = e.svc.CreateGrant(carol, &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: daveARN,
		Operations: []string{"Decrypt"}, Constraints: subset("a", "1", "b", "2", "c", "3")})
	wantType(t, err, "")
	// A principal with no grant at all gets the policy denial.
	_, err = e.svc.CreateGrant(as(t, daveARN), &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: daveARN, Operations: []string{"Decrypt"}})
	wantType(t, err, wire.AccessDenied)
}

func TestRetireAndRevoke(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	newGrant := func(ops ...string) *kmsv1.CreateGrantResponse {
		return e.grant(t, e.root, &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: bobARN, RetiringPrincipal: carolARN, Operations: ops})
	}
	retire := func(ctx context.Context, g *kmsv1.CreateGrantResponse) error {
		_, err := e.svc.RetireGrant(ctx, &kmsv1.RetireGrantRequest{KeyId: m.Arn, GrantId: g.GrantId})
		return err
	}
	tests := []struct {
		name string
		ops  []string
		who  context.Context
		want string
	}{
		{"retiring principal", []string{"Decrypt"}, as(t, carolARN), ""},
		{"grantee with RetireGrant", []string{"Decrypt", "RetireGrant"}, as(t, bobARN), ""},
		{"grantee without RetireGrant", []string{"Decrypt"}, as(t, bobARN), wire.AccessDenied},
		{"key account root", []string{"Decrypt"}, e.root, ""},
		{"someone else", []string{"Decrypt"}, as(t, daveARN), wire.AccessDenied},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			g := newGrant(tt.ops...)
			wantType(t, retire(tt.who, g), tt.want)
			_, stillThere := e.fsm.Grant(m.KeyId, g.GrantId)
			if stillThere != (tt.want != "") {
				t.Fatalf("grant present after retire = %v", stillThere)
			}
		})
	}
	g := newGrant("Decrypt")
	_, err := e.svc.RetireGrant(e.root, &kmsv1.RetireGrantRequest{KeyId: m.KeyId})
	wantType(t, err, wire.Validation)
	_, err = e.svc.RetireGrant(e.root, &kmsv1.RetireGrantRequest{KeyId: m.KeyId, GrantId: "nope"})
	wantType(t, err, wire.InvalidGrantId)
	_, err = e.svc.RetireGrant(e.root, &kmsv1.RetireGrantRequest{KeyId: m.KeyId, GrantId: strings.Repeat("0", 64)})
	wantType(t, err, wire.NotFound)
	_, err = e.svc.RetireGrant(as(t, carolARN), &kmsv1.RetireGrantRequest{GrantToken: g.GrantToken, DryRun: true})
	wantType(t, err, wire.DryRunOperation)

	// RevokeGrant needs kms:RevokeGrant from policy; a grant cannot give it.
	g2 := e.grant(t, e.root, &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: bobARN,
		Operations: []string{"Decrypt", "RetireGrant", "CreateGrant", "DescribeKey"}})
	_, err = e.svc.RevokeGrant(as(t, bobARN), &kmsv1.RevokeGrantRequest{KeyId: m.KeyId, GrantId: g2.GrantId})
	wantType(t, err, wire.AccessDenied)
	// Revoke works in every key state, here Disabled.
	if _, err := e.svc.DisableKey(e.root, &kmsv1.DisableKeyRequest{KeyId: m.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.RevokeGrant(e.root, &kmsv1.RevokeGrantRequest{KeyId: m.KeyId, GrantId: g2.GrantId})
	wantType(t, err, "")
	_, err = e.svc.RevokeGrant(e.root, &kmsv1.RevokeGrantRequest{KeyId: m.KeyId, GrantId: g2.GrantId})
	wantType(t, err, wire.NotFound)
}

func TestCreateGrantValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	disabled := e.createKey(t)
	if _, err := e.svc.DisableKey(e.root, &kmsv1.DisableKeyRequest{KeyId: disabled.KeyId}); err != nil {
		t.Fatal(err)
	}
	nine := subset("a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6", "g", "7", "h", "8", "i", "9")
	base := func(mod func(*kmsv1.CreateGrantRequest)) *kmsv1.CreateGrantRequest {
		r := &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: bobARN, Operations: []string{"Decrypt"}}
		mod(r)
		return r
	}
	tests := []struct {
		name string
		req  *kmsv1.CreateGrantRequest
		want string
	}{
		{"no grantee", base(func(r *kmsv1.CreateGrantRequest) { r.GranteePrincipal = "" }), wire.Validation},
		{"grantee bad characters", base(func(r *kmsv1.CreateGrantRequest) { r.GranteePrincipal = "bob smith" }), wire.Validation},
		{"grantee not a principal", base(func(r *kmsv1.CreateGrantRequest) { r.GranteePrincipal = "bob" }), wire.InvalidArn},
		{"bad retiring principal", base(func(r *kmsv1.CreateGrantRequest) { r.RetiringPrincipal = "arn:aws:iam::1:user/x" }), wire.InvalidArn},
		{"no operations", base(func(r *kmsv1.CreateGrantRequest) { r.Operations = nil }), wire.Validation},
		{"ReEncrypt is not a grant operation", base(func(r *kmsv1.CreateGrantRequest) { r.Operations = []string{"ReEncrypt"} }), wire.Validation},
		{"Sign on a symmetric key", base(func(r *kmsv1.CreateGrantRequest) { r.Operations = []string{"Sign"} }), wire.Validation},
		{"nine constraint pairs", base(func(r *kmsv1.CreateGrantRequest) { r.Constraints = nine }), wire.Validation},
		{"long constraint value", base(func(r *kmsv1.CreateGrantRequest) { r.Constraints = subset("k", strings.Repeat("v", 385)) }), wire.Validation},
		{"bad name", base(func(r *kmsv1.CreateGrantRequest) { r.Name = "no spaces" }), wire.Validation},
		{"alias key id", base(func(r *kmsv1.CreateGrantRequest) { r.KeyId = "alias/x" }), wire.InvalidArn},
		{"disabled key", base(func(r *kmsv1.CreateGrantRequest) { r.KeyId = disabled.KeyId }), wire.Disabled},
		{"forged token", base(func(r *kmsv1.CreateGrantRequest) { r.GrantTokens = []string{"v1.xyz"} }), wire.InvalidGrantToken},
		{"dry run", base(func(r *kmsv1.CreateGrantRequest) { r.DryRun = true }), wire.DryRunOperation},
	}
	before := e.fsm.AppliedIndex()
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			_, err := e.svc.CreateGrant(e.root, tt.req)
			wantType(t, err, tt.want)
		})
	}
	if e.fsm.AppliedIndex() != before {
		t.Fatal("a refused CreateGrant reached the log")
	}
}

func TestGrantLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // MaxGrantsPerKey: 20
	m := e.createKey(t)
	for i := range 20 {
		e.grant(t, e.root, &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: bobARN, Operations: []string{"Decrypt"}, Name: fmt.Sprint("g", i)})
	}
	_, err := e.svc.CreateGrant(e.root, &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: bobARN, Operations: []string{"Decrypt"}})
	wantType(t, err, wire.LimitExceeded)
	// A named retry of an existing grant is not a new grant, so it still works.
	_, err = e.svc.CreateGrant(e.root, &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: bobARN, Operations: []string{"Decrypt"}, Name: "g3"})
	wantType(t, err, "")
}

func TestListGrants(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	var ids []string
	for i := range 5 {
		grantee := bobARN
		if i%2 == 1 {
			grantee = carolARN
		}
		ids = append(ids, e.grant(t, e.root, &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: grantee, RetiringPrincipal: daveARN,
			Operations: []string{"Decrypt", "GenerateDataKey"}, Constraints: subset("k", "v"), Name: fmt.Sprint("n", i)}).GrantId)
	}
	seen := 0
	marker := ""
	for {
		r, err := e.svc.ListGrants(e.root, &kmsv1.ListGrantsRequest{KeyId: m.KeyId, Limit: i32(2), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range r.Grants {
			seen++
			if g.KeyId != m.Arn || g.IssuingAccount != "arn:aws:iam::111122223333:root" || g.RetiringPrincipal != daveARN ||
				strings.Join(g.Operations, ",") != "Decrypt,GenerateDataKey" || g.Constraints.EncryptionContextSubset["k"] != "v" ||
				!strings.HasPrefix(g.Name, "n") || g.CreationDate <= 0 {
				t.Fatalf("entry %v", g)
			}
		}
		if !r.Truncated {
			break
		}
		marker = r.NextMarker
	}
	if seen != 5 {
		t.Fatalf("listed %d grants", seen)
	}
	r, err := e.svc.ListGrants(e.root, &kmsv1.ListGrantsRequest{KeyId: m.KeyId, GranteePrincipal: carolARN})
	if err != nil || len(r.Grants) != 2 {
		t.Fatalf("grantee filter: %d, %v", len(r.GetGrants()), err)
	}
	r, err = e.svc.ListGrants(e.root, &kmsv1.ListGrantsRequest{KeyId: m.KeyId, GrantId: ids[3]})
	if err != nil || len(r.Grants) != 1 || r.Grants[0].GrantId != ids[3] {
		t.Fatalf("grant id filter: %v, %v", r, err)
	}
	_, err = e.svc.ListGrants(e.root, &kmsv1.ListGrantsRequest{KeyId: m.KeyId, GrantId: strings.Repeat("1", 64)})
	wantType(t, err, wire.InvalidGrantId)
	_, err = e.svc.ListGrants(e.root, &kmsv1.ListGrantsRequest{KeyId: m.KeyId, Limit: i32(101)})
	wantType(t, err, wire.Validation)
	_, err = e.svc.ListGrants(as(t, bobARN), &kmsv1.ListGrantsRequest{KeyId: m.KeyId})
	wantType(t, err, wire.AccessDenied)

	rr, err := e.svc.ListRetirableGrants(e.root, &kmsv1.ListRetirableGrantsRequest{RetiringPrincipal: daveARN, Limit: i32(3)})
	if err != nil || len(rr.Grants) != 3 || !rr.Truncated {
		t.Fatalf("retirable page 1: %v, %v", rr, err)
	}
	rr2, err := e.svc.ListRetirableGrants(e.root, &kmsv1.ListRetirableGrantsRequest{RetiringPrincipal: daveARN, Marker: rr.NextMarker})
	if err != nil || len(rr2.Grants) != 2 || rr2.Truncated {
		t.Fatalf("retirable page 2: %v, %v", rr2, err)
	}
	_, err = e.svc.ListRetirableGrants(e.root, &kmsv1.ListRetirableGrantsRequest{RetiringPrincipal: "arn:aws:iam::444455556666:user/x"})
	wantType(t, err, wire.AccessDenied)
}

// denyBob is a policy authorizer with an explicit Deny for bob.
type denyBob struct{}

func (denyBob) Authorize(_ context.Context, r *kms.AuthzRequest) error {
	if r.Principal.ARN == bobARN {
		return kms.ErrExplicitDeny
	}
	return kms.AccountRoot{}.Authorize(context.Background(), r)
}

func TestExplicitDenyBeatsGrants(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, denyBob{})
	m := e.createKey(t)
	e.grant(t, e.root, &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: bobARN, Operations: []string{"Encrypt"}})
	_, err := e.svc.Encrypt(as(t, bobARN), &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("x")})
	wantType(t, err, wire.AccessDenied)
	if !strings.Contains(message(t, err), "explicit deny") {
		t.Fatalf("message %q does not say explicit deny", err)
	}
	var ke *wire.Error
	if !errors.As(err, &ke) {
		t.Fatal("not a kms error")
	}
}

func BenchmarkEncryptThroughGrant(b *testing.B) {
	for _, n := range []int{1, 50000} {
		b.Run(fmt.Sprint("grants=", n), func(b *testing.B) {
			e := newEnvMax(b, nil, n+1)
			m := e.createKey(b)
			for i := 1; i < n; i++ { // other grantees' grants on the same key
				if _, err := e.svc.CreateGrant(e.root, &kmsv1.CreateGrantRequest{KeyId: m.KeyId,
					GranteePrincipal: fmt.Sprintf("arn:aws:iam::111122223333:user/u%d", i), Operations: []string{"Encrypt"}}); err != nil {
					b.Fatal(err)
				}
			}
			e.grant(b, e.root, &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: bobARN, Operations: []string{"Encrypt"}})
			bob := as(b, bobARN)
			req := &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: make([]byte, 32)}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := e.svc.Encrypt(bob, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
