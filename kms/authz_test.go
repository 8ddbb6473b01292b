package kms_test

import (
	"context"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/kms"
	"github.com/trentkms/trent/wire"
)

const (
	otherAcct = "444455556666"
	eveARN    = "arn:aws:iam::444455556666:user/eve"
	roleARN   = "arn:aws:iam::111122223333:role/app"
)

// testNow is the clock of the authorization matrix.
var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func stmt(effect, principal, action, cond string) string {
	s := `{"Effect":"` + effect + `","Principal":` + principal + `,"Action":` + action + `,"Resource":"*"`
	if cond != "" {
		s += `,"Condition":` + cond
	}
	return s + "}"
}

func ident(effect, action, resource, cond string) string {
	s := `{"Version":"2012-10-17","Statement":[{"Effect":"` + effect + `","Action":` + action + `,"Resource":` + resource
	if cond != "" {
		s += `,"Condition":` + cond
	}
	return s + "}]}"
}

func aws(arn string) string { return `{"AWS":"` + arn + `"}` }

// authzCase is one kms-level authorization case: a key with a policy (""
// keeps the default), identity policies, grants, and one call.
type authzCase struct {
	name      string
	keyPolicy string
	idents    map[string]string // owner ARN -> identity policy document
	grants    []*kmsv1.CreateGrantRequest
	caller    string
	op        string // Encrypt, Decrypt, DescribeKey, EnableKey, CreateGrant, GetKeyPolicy, CreateKey
	ec        map[string]string
	info      *kms.RequestInfo
	grantReq  *kmsv1.CreateGrantRequest // for op CreateGrant
	want      string                    // "" allowed, else the error type
	wantWhy   string                    // substring of the explanation
	wantMsg   string                    // substring of the caller's error message
}

func authzCases() []authzCase {
	rootP := aws("arn:aws:iam::111122223333:root")
	bobP := aws(bobARN)
	encrypt := `"kms:Encrypt"`
	fin := map[string]string{"dept": "finance"}
	return []authzCase{
		{name: "root/default_policy", caller: "", op: "Encrypt", wantWhy: "allowed"},
		{name: "root/default_policy_admin_op", caller: "", op: "EnableKey"},
		{name: "bob/default_policy_nothing", caller: bobARN, op: "Encrypt", want: wire.AccessDenied, wantWhy: "delegates to the caller's account, but no identity policy allows"},
		{name: "bob/identity_allow_star", caller: bobARN, op: "Encrypt",
			idents: map[string]string{bobARN: ident("Allow", encrypt, `"*"`, "")}, wantWhy: "identity policy"},
		{name: "bob/identity_allow_key_arn", caller: bobARN, op: "Encrypt",
			idents: map[string]string{bobARN: ident("Allow", encrypt, `"arn:aws:kms:us-east-1:111122223333:key/*"`, "")}},
		{name: "bob/identity_allow_other_key", caller: bobARN, op: "Encrypt",
			idents: map[string]string{bobARN: ident("Allow", encrypt, `"arn:aws:kms:us-east-1:111122223333:key/11111111-2222-4333-8444-555555555555"`, "")}, want: wire.AccessDenied},
		{name: "bob/identity_allows_other_action", caller: bobARN, op: "Decrypt",
			idents: map[string]string{bobARN: ident("Allow", encrypt, `"*"`, "")}, want: wire.AccessDenied},
		{name: "bob/identity_notaction", caller: bobARN, op: "Encrypt",
			idents: map[string]string{bobARN: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"kms:Decrypt","Resource":"*"}]}`}},
		{name: "bob/grant_only", caller: bobARN, op: "Encrypt",
			grants: []*kmsv1.CreateGrantRequest{{GranteePrincipal: bobARN, Operations: []string{"Encrypt"}}}, wantWhy: "grant"},
		{name: "bob/grant_other_op", caller: bobARN, op: "Decrypt",
			grants: []*kmsv1.CreateGrantRequest{{GranteePrincipal: bobARN, Operations: []string{"Encrypt"}}}, want: wire.AccessDenied},
		{name: "bob/grant_constraint_matches", caller: bobARN, op: "Encrypt", ec: fin,
			grants: []*kmsv1.CreateGrantRequest{{GranteePrincipal: bobARN, Operations: []string{"Encrypt"}, Constraints: subset("dept", "finance")}}},
		{name: "bob/grant_constraint_missing", caller: bobARN, op: "Encrypt",
			grants: []*kmsv1.CreateGrantRequest{{GranteePrincipal: bobARN, Operations: []string{"Encrypt"}, Constraints: subset("dept", "finance")}}, want: wire.AccessDenied},
		{name: "bob/identity_deny_beats_grant", caller: bobARN, op: "Encrypt",
			idents: map[string]string{bobARN: ident("Deny", encrypt, `"*"`, "")},
			grants: []*kmsv1.CreateGrantRequest{{GranteePrincipal: bobARN, Operations: []string{"Encrypt"}}}, want: wire.AccessDenied, wantWhy: "explicit deny",
			wantMsg: "with an explicit deny in an identity-based policy"},
		{name: "bob/key_deny_beats_grant", caller: bobARN, op: "Encrypt",
			keyPolicy: kp(rootAll, stmt("Deny", bobP, encrypt, "")),
			grants:    []*kmsv1.CreateGrantRequest{{GranteePrincipal: bobARN, Operations: []string{"Encrypt"}}}, want: wire.AccessDenied, wantWhy: "explicit deny",
			wantMsg: "with an explicit deny in a resource-based policy"},
		{name: "bob/key_deny_beats_identity_allow", caller: bobARN, op: "Encrypt",
			keyPolicy: kp(rootAll, stmt("Deny", `"*"`, encrypt, `{"StringNotEquals":{"kms:EncryptionContext:dept":"finance"}}`)),
			idents:    map[string]string{bobARN: ident("Allow", encrypt, `"*"`, "")}, want: wire.AccessDenied},
		{name: "bob/key_deny_condition_not_met", caller: bobARN, op: "Encrypt", ec: fin,
			keyPolicy: kp(rootAll, stmt("Deny", `"*"`, encrypt, `{"StringNotEquals":{"kms:EncryptionContext:dept":"finance"}}`)),
			idents:    map[string]string{bobARN: ident("Allow", encrypt, `"*"`, "")}},
		{name: "bob/key_policy_direct", caller: bobARN, op: "Encrypt",
			keyPolicy: kp(rootAll, stmt("Allow", bobP, encrypt, "")), wantWhy: "allows the caller"},
		{name: "bob/no_delegation_identity_ignored", caller: bobARN, op: "Encrypt",
			keyPolicy: kp(stmt("Allow", rootP, `"kms:PutKeyPolicy"`, ""), stmt("Allow", aws(roleARN), `"kms:*"`, "")),
			idents:    map[string]string{bobARN: ident("Allow", `"kms:*"`, `"*"`, "")}, want: wire.AccessDenied},
		{name: "bob/ec_condition_met", caller: bobARN, op: "Encrypt", ec: fin,
			keyPolicy: kp(rootAll, stmt("Allow", bobP, encrypt, `{"StringEquals":{"kms:EncryptionContext:dept":"finance"}}`))},
		{name: "bob/ec_condition_case_sensitive_value", caller: bobARN, op: "Encrypt", ec: map[string]string{"dept": "Finance"},
			keyPolicy: kp(rootAll, stmt("Allow", bobP, encrypt, `{"StringEquals":{"kms:EncryptionContext:dept":"finance"}}`)), want: wire.AccessDenied},
		{name: "bob/ec_keys_forallvalues_empty", caller: bobARN, op: "Encrypt",
			keyPolicy: kp(rootAll, stmt("Allow", bobP, encrypt, `{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["dept"]}}`))},
		{name: "bob/ec_keys_foranyvalue_empty", caller: bobARN, op: "Encrypt",
			keyPolicy: kp(rootAll, stmt("Allow", bobP, encrypt, `{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":["dept"]}}`)), want: wire.AccessDenied},
		{name: "bob/encryption_algorithm_default", caller: bobARN, op: "Encrypt",
			keyPolicy: kp(rootAll, stmt("Allow", bobP, encrypt, `{"StringEquals":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}}`))},
		{name: "bob/key_spec_condition", caller: bobARN, op: "Encrypt",
			keyPolicy: kp(rootAll, stmt("Allow", bobP, encrypt, `{"StringEquals":{"kms:KeySpec":"SYMMETRIC_DEFAULT","kms:KeyUsage":"ENCRYPT_DECRYPT","kms:KeyOrigin":"AWS_KMS"}}`))},
		{name: "bob/caller_account_with_star", caller: bobARN, op: "Encrypt",
			keyPolicy: kp(rootAll, stmt("Allow", `"*"`, encrypt, `{"StringEquals":{"kms:CallerAccount":"111122223333"}}`))},
		{name: "bob/principal_arn_condition", caller: bobARN, op: "Encrypt",
			keyPolicy: kp(rootAll, stmt("Allow", `"*"`, encrypt, `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/b*"},"StringEquals":{"aws:PrincipalAccount":"111122223333"}}`))},
		{name: "bob/source_ip_in_range", caller: bobARN, op: "Encrypt", info: &kms.RequestInfo{SourceIP: netip.MustParseAddr("10.1.2.3"), SecureTransport: true},
			keyPolicy: kp(rootAll, stmt("Allow", bobP, encrypt, `{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`))},
		{name: "bob/source_ip_out_of_range", caller: bobARN, op: "Encrypt", info: &kms.RequestInfo{SourceIP: netip.MustParseAddr("192.168.1.1"), SecureTransport: true},
			keyPolicy: kp(rootAll, stmt("Allow", bobP, encrypt, `{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`)), want: wire.AccessDenied},
		{name: "root/deny_insecure_transport", caller: "", op: "Encrypt", info: &kms.RequestInfo{SecureTransport: false},
			keyPolicy: kp(rootAll, stmt("Deny", `"*"`, `"kms:*"`, `{"Bool":{"aws:SecureTransport":"false"}}`)), want: wire.AccessDenied},
		{name: "root/secure_transport_ok", caller: "", op: "Encrypt", info: &kms.RequestInfo{SecureTransport: true},
			keyPolicy: kp(rootAll, stmt("Deny", `"*"`, `"kms:*"`, `{"Bool":{"aws:SecureTransport":"false"}}`))},
		{name: "bob/current_time_before", caller: bobARN, op: "Encrypt",
			keyPolicy: kp(rootAll, stmt("Allow", bobP, encrypt, `{"DateLessThan":{"aws:CurrentTime":"2026-12-31T00:00:00Z"}}`))},
		{name: "bob/current_time_after", caller: bobARN, op: "Encrypt",
			keyPolicy: kp(rootAll, stmt("Allow", bobP, encrypt, `{"DateLessThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}`)), want: wire.AccessDenied},
		{name: "bob/via_service_never_matches", caller: bobARN, op: "Encrypt",
			keyPolicy: kp(rootAll, stmt("Allow", bobP, encrypt, `{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`)), want: wire.AccessDenied},
		{name: "bob/via_service_ifexists", caller: bobARN, op: "Encrypt",
			keyPolicy: kp(rootAll, stmt("Allow", bobP, encrypt, `{"StringEqualsIfExists":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`))},
		{name: "role/role_policy", caller: roleARN, op: "Decrypt",
			idents: map[string]string{roleARN: ident("Allow", `["kms:Encrypt","kms:Decrypt"]`, `"*"`, "")}},
		{name: "role/bobs_policy_not_roles", caller: roleARN, op: "Decrypt",
			idents: map[string]string{bobARN: ident("Allow", `"kms:*"`, `"*"`, "")}, want: wire.AccessDenied},
		{name: "cross/eve_account_allowed_and_identity", caller: eveARN, op: "Encrypt",
			keyPolicy: kp(rootAll, stmt("Allow", aws("arn:aws:iam::444455556666:root"), encrypt, "")),
			idents:    map[string]string{eveARN: ident("Allow", encrypt, `"*"`, "")}},
		{name: "cross/eve_without_identity_policy", caller: eveARN, op: "Encrypt",
			keyPolicy: kp(rootAll, stmt("Allow", aws("arn:aws:iam::444455556666:root"), encrypt, "")), want: wire.AccessDenied},
		{name: "cross/eve_identity_only", caller: eveARN, op: "Encrypt",
			idents: map[string]string{eveARN: ident("Allow", encrypt, `"*"`, "")}, want: wire.AccessDenied},
		{name: "cross/other_root", caller: "arn:aws:iam::444455556666:root", op: "Encrypt",
			keyPolicy: kp(rootAll, stmt("Allow", aws("444455556666"), encrypt, ""))},
		{name: "cross/not_cross_account_op", caller: "arn:aws:iam::444455556666:root", op: "GetKeyPolicy",
			keyPolicy: kp(rootAll, stmt("Allow", aws("444455556666"), `"kms:*"`, "")), want: wire.AccessDenied},
		{name: "cross/eve_grant", caller: eveARN, op: "Encrypt",
			grants: []*kmsv1.CreateGrantRequest{{GranteePrincipal: eveARN, Operations: []string{"Encrypt"}}}},
		{name: "grant/create_grant_ops_allowed", caller: bobARN, op: "CreateGrant",
			keyPolicy: kp(rootAll, stmt("Allow", bobP, `"kms:CreateGrant"`, `{"ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt","Encrypt"]}}`)),
			grantReq:  &kmsv1.CreateGrantRequest{GranteePrincipal: carolARN, Operations: []string{"Decrypt"}}},
		{name: "grant/create_grant_ops_too_many", caller: bobARN, op: "CreateGrant",
			keyPolicy: kp(rootAll, stmt("Allow", bobP, `"kms:CreateGrant"`, `{"ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt","Encrypt"]}}`)),
			grantReq:  &kmsv1.CreateGrantRequest{GranteePrincipal: carolARN, Operations: []string{"Decrypt", "RetireGrant"}}, want: wire.AccessDenied},
		{name: "grant/grantee_condition", caller: bobARN, op: "CreateGrant",
			keyPolicy: kp(rootAll, stmt("Allow", bobP, `"kms:CreateGrant"`, `{"StringEquals":{"kms:GranteePrincipal":"`+carolARN+`"}}`)),
			grantReq:  &kmsv1.CreateGrantRequest{GranteePrincipal: daveARN, Operations: []string{"Decrypt"}}, want: wire.AccessDenied},
		{name: "grant/constraint_context_condition", caller: bobARN, op: "CreateGrant",
			keyPolicy: kp(rootAll, stmt("Allow", bobP, `"kms:CreateGrant"`, `{"StringEquals":{"kms:EncryptionContext:dept":"finance","kms:GrantConstraintType":"EncryptionContextSubset"}}`)),
			grantReq:  &kmsv1.CreateGrantRequest{GranteePrincipal: carolARN, Operations: []string{"Decrypt"}, Constraints: subset("dept", "finance")}},
		{name: "grant/for_aws_resource_never", caller: bobARN, op: "CreateGrant",
			keyPolicy: kp(rootAll, stmt("Allow", bobP, `"kms:CreateGrant"`, `{"Bool":{"kms:GrantIsForAWSResource":"true"}}`)),
			grantReq:  &kmsv1.CreateGrantRequest{GranteePrincipal: carolARN, Operations: []string{"Decrypt"}}, want: wire.AccessDenied},
		{name: "createkey/bob_identity_keyspec", caller: bobARN, op: "CreateKey",
			idents: map[string]string{bobARN: ident("Allow", `"kms:CreateKey"`, `"*"`, `{"StringEquals":{"kms:KeySpec":"SYMMETRIC_DEFAULT"}}`)}},
		{name: "createkey/bob_without_policy", caller: bobARN, op: "CreateKey", want: wire.AccessDenied},
		{name: "createkey/bypass_denied", caller: bobARN, op: "CreateKey",
			idents: map[string]string{bobARN: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:CreateKey","Resource":"*"},` +
				`{"Effect":"Deny","Action":"kms:CreateKey","Resource":"*","Condition":{"Bool":{"kms:BypassPolicyLockoutSafetyCheck":"false"}}}]}`}, want: wire.AccessDenied},
	}
}

func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	cases := authzCases()
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnvMax(t, nil, 20, func(c *kms.Config) { c.Now = func() time.Time { return testNow } })
			e.apply(t, userCmd(acct, "bob"), userCmd(acct, "carol"), userCmd(acct, "dave"), userCmd(otherAcct, "eve"), roleCmd(acct, "app"))
			m := e.createKey(t)
			if tc.keyPolicy != "" {
				e.apply(t, keyPolicyCmd(m.KeyId, tc.keyPolicy))
			}
			for owner, doc := range tc.idents {
				i := strings.LastIndexByte(owner, '/')
				kind := owner[strings.LastIndexByte(owner[:i], ':')+1 : i]
				e.apply(t, identityPolicyCmd(owner[13:25], kind, owner[i+1:], "p", doc))
			}
			for _, g := range tc.grants {
				g.KeyId = m.KeyId
				e.grant(t, e.root, g)
			}
			callerARN := tc.caller
			if callerARN == "" {
				callerARN = "arn:aws:iam::111122223333:root"
			}
			ctx := as(t, callerARN)
			if tc.info != nil {
				ctx = kms.WithRequestInfo(ctx, *tc.info)
			}
			err := call(ctx, e, tc, m)
			wantType(t, err, tc.want)
			if tc.wantMsg != "" && !strings.Contains(message(t, err), tc.wantMsg) {
				t.Errorf("message %q lacks %q", err, tc.wantMsg)
			}
			if err != nil && (strings.Contains(err.Error(), "Statement") || strings.Contains(err.Error(), "{")) {
				t.Errorf("AccessDenied message leaks policy detail: %q", err)
			}
			if tc.op == "CreateGrant" || tc.op == "CreateKey" {
				return
			}
			x, xerr := e.svc.ExplainAuthorization(ctx, principalOf(t, callerARN), "kms:"+tc.op, m.Arn, tc.ec)
			if xerr != nil {
				t.Fatal(xerr)
			}
			if x.Decision.Allowed != (tc.want == "") {
				t.Errorf("ExplainAuthorization allowed=%v, call error %v: %s", x.Decision.Allowed, err, x.Text)
			}
			if !strings.Contains(x.Text, tc.wantWhy) {
				t.Errorf("explanation %q lacks %q", x.Text, tc.wantWhy)
			}
		})
	}
}

func call(ctx context.Context, e *env, tc authzCase, m *kmsv1.KeyMetadata) error {
	var err error
	switch tc.op {
	case "Encrypt":
		_, err = e.svc.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: m.Arn, Plaintext: []byte("x"), EncryptionContext: tc.ec})
	case "Decrypt":
		ct, cerr := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("x"), EncryptionContext: tc.ec})
		if cerr != nil {
			return cerr
		}
		_, err = e.svc.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: ct.CiphertextBlob, EncryptionContext: tc.ec})
	case "DescribeKey":
		_, err = e.svc.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: m.Arn})
	case "EnableKey":
		_, err = e.svc.EnableKey(ctx, &kmsv1.EnableKeyRequest{KeyId: m.Arn})
	case "GetKeyPolicy":
		_, err = e.svc.GetKeyPolicy(ctx, &kmsv1.GetKeyPolicyRequest{KeyId: m.Arn})
	case "CreateGrant":
		tc.grantReq.KeyId = m.Arn
		_, err = e.svc.CreateGrant(ctx, tc.grantReq)
	case "CreateKey":
		_, err = e.svc.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	default:
		panic("unknown op " + tc.op)
	}
	return err
}

func principalOf(t testing.TB, arn string) identity.Principal {
	p, err := identity.ParsePrincipal(arn)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDenialIsLoggedWithExplanation checks that the node log, not the
// caller's error, carries the statements that decided a denial.
func TestDenialIsLoggedWithExplanation(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	e := newEnvMax(t, nil, 20, func(c *kms.Config) { c.Logger = slog.New(slog.NewTextHandler(&buf, nil)) })
	e.apply(t, userCmd(acct, "bob"))
	m := e.createKey(t)
	e.apply(t, keyPolicyCmd(m.KeyId, kp(rootAll, `{"Sid":"NoBob","Effect":"Deny","Principal":{"AWS":"`+bobARN+`"},"Action":"kms:*","Resource":"*"}`)))
	_, err := e.svc.Encrypt(as(t, bobARN), &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("x")})
	wantType(t, err, wire.AccessDenied)
	if strings.Contains(err.Error(), "NoBob") {
		t.Fatalf("caller's error names the statement: %v", err)
	}
	if !strings.Contains(message(t, err), "with an explicit deny") {
		t.Fatalf("message %q", err)
	}
	if log := buf.String(); !strings.Contains(log, `Sid \"NoBob\"`) || !strings.Contains(log, "access denied") {
		t.Fatalf("log %q lacks the explanation", log)
	}
}

// TestPolicyAuthorizerSeesPolicyChanges checks that a changed key policy is
// reparsed (the cache is keyed by key and compared by document).
func TestPolicyAuthorizerSeesPolicyChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(t, userCmd(acct, "bob"))
	m := e.createKey(t)
	bob := as(t, bobARN)
	req := &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("x")}
	_, err := e.svc.Encrypt(bob, req)
	wantType(t, err, wire.AccessDenied)
	e.apply(t, keyPolicyCmd(m.KeyId, kp(rootAll, stmt("Allow", aws(bobARN), `"kms:Encrypt"`, ""))))
	_, err = e.svc.Encrypt(bob, req)
	wantType(t, err, "")
	e.apply(t, identityPolicyCmd(acct, fsm.PolicyOwnerUser, "bob", "deny", ident("Deny", `"kms:*"`, `"*"`, "")))
	_, err = e.svc.Encrypt(bob, req)
	wantType(t, err, wire.AccessDenied)
}

// BenchmarkAuthorize measures one authorization decision, as Encrypt asks
// it, with the fixed AccountRoot rule (the baseline) and with the policy
// engine: the default key policy for the root and for a user with an
// identity policy, and a 30-statement key policy with conditions.
func BenchmarkAuthorize(b *testing.B) {
	e := newEnv(b)
	e.apply(b, userCmd(acct, "bob"), identityPolicyCmd(acct, "user", "bob", "p", ident("Allow", `"kms:*"`, `"*"`, "")))
	m := e.createKey(b)
	k, _ := e.fsm.Key(m.KeyId)
	var stmts []string
	for i := range 29 {
		stmts = append(stmts, stmt("Allow", aws("arn:aws:iam::111122223333:role/r"+strconv.Itoa(i)), `["kms:Encrypt","kms:Decrypt"]`,
			`{"StringEquals":{"kms:EncryptionContext:dept":"d`+strconv.Itoa(i)+`"},"Bool":{"aws:SecureTransport":"true"}}`))
	}
	stmts = append(stmts, stmt("Allow", aws(bobARN), `"kms:Encrypt"`, `{"StringEquals":{"kms:EncryptionContext:dept":"finance"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`))
	e.apply(b, &fsm.CreateKey{Key: fsm.Key{ID: "big", ARN: k.ARN + "-big", Account: acct, Policy: kp(append([]string{rootAll}, stmts...)...)}})
	big, _ := e.fsm.Key("big")
	ctx := kms.WithRequestInfo(context.Background(), kms.RequestInfo{SourceIP: netip.MustParseAddr("10.0.0.1"), SecureTransport: true})
	root, bob := principalOf(b, "arn:aws:iam::111122223333:root"), principalOf(b, bobARN)
	ec := map[string]string{"dept": "finance"}
	pa := kms.NewPolicyAuthorizer(e.fsm, func() time.Time { return testNow }, nil)
	for _, bc := range []struct {
		name string
		a    kms.Authorizer
		r    kms.AuthzRequest
	}{
		{"AccountRoot/root", kms.AccountRoot{}, kms.AuthzRequest{Principal: root, Action: "kms:Encrypt", Key: k, Account: acct, EncryptionContext: ec}},
		{"policy/default_policy/root", pa, kms.AuthzRequest{Principal: root, Action: "kms:Encrypt", Key: k, Account: acct, EncryptionContext: ec}},
		{"policy/default_policy/user_with_identity_policy", pa, kms.AuthzRequest{Principal: bob, Action: "kms:Encrypt", Key: k, Account: acct, EncryptionContext: ec}},
		{"policy/30_statements_with_conditions", pa, kms.AuthzRequest{Principal: bob, Action: "kms:Encrypt", Key: big, Account: acct, EncryptionContext: ec}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := bc.r
			if err := bc.a.Authorize(ctx, &r); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				r := bc.r
				if err := bc.a.Authorize(ctx, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncryptAuthorizer is BenchmarkEncrypt (the whole operation,
// root caller) with the AccountRoot baseline and with the policy engine.
func BenchmarkEncryptAuthorizer(b *testing.B) {
	for _, bc := range []struct {
		name string
		a    kms.Authorizer
	}{{"AccountRoot", kms.AccountRoot{}}, {"policy", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnvWith(b, bc.a)
			m := e.createKey(b)
			req := &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: make([]byte, 32), EncryptionContext: map[string]string{"a": "b"}}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.svc.Encrypt(e.root, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
