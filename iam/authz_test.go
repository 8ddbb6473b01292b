package iam_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trentkms/trent/fsm/fsmtest"
	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/iam"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/kms"
	"github.com/trentkms/trent/wire"
)

const allowEncrypt = `{"Version":"2012-10-17","Statement":[{"Sid":"Use","Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}]}`

func TestRoleLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r, err := e.svc.CreateRole(e.root, &iamv1.CreateRoleRequest{RoleName: "app", Path: "/svc/"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Role.Arn != "arn:aws:iam::"+account+":role/svc/app" || !strings.HasPrefix(r.Role.RoleId, "AROA") || r.Role.CreateDate != "2026-03-01T12:00:00.000Z" {
		t.Fatalf("role %+v", r.Role)
	}
	_, err = e.svc.CreateRole(e.root, &iamv1.CreateRoleRequest{RoleName: "APP"})
	wantType(t, err, wire.EntityAlreadyExists)
	if _, err := e.svc.CreateRole(e.root, &iamv1.CreateRoleRequest{RoleName: "batch"}); err != nil {
		t.Fatal(err)
	}
	l, err := e.svc.ListRoles(e.root, &iamv1.ListRolesRequest{MaxItems: i32(1)})
	if err != nil || len(l.Roles) != 1 || !l.IsTruncated || l.Roles[0].RoleName != "app" {
		t.Fatalf("ListRoles page 1: %v %+v", err, l)
	}
	l, err = e.svc.ListRoles(e.root, &iamv1.ListRolesRequest{Marker: l.Marker})
	if err != nil || len(l.Roles) != 1 || l.IsTruncated || l.Roles[0].RoleName != "batch" {
		t.Fatalf("ListRoles page 2: %v %+v", err, l)
	}
	if g, err := e.svc.GetRole(e.root, &iamv1.GetRoleRequest{RoleName: "app"}); err != nil || g.Role.Path != "/svc/" {
		t.Fatalf("GetRole: %v %+v", err, g)
	}
	bob := e.createUser(t, "bob")
	for _, err := range []error{
		func() error {
			_, err := e.svc.CreateRole(as(t, bob.Arn), &iamv1.CreateRoleRequest{RoleName: "x"})
			return err
		}(),
		func() error {
			_, err := e.svc.GetRole(as(t, bob.Arn), &iamv1.GetRoleRequest{RoleName: "app"})
			return err
		}(),
		func() error { _, err := e.svc.ListRoles(as(t, bob.Arn), &iamv1.ListRolesRequest{}); return err }(),
		func() error {
			_, err := e.svc.DeleteRole(as(t, bob.Arn), &iamv1.DeleteRoleRequest{RoleName: "app"})
			return err
		}(),
	} {
		wantType(t, err, wire.IAMAccessDenied)
	}
	_, err = e.svc.CreateRole(e.root, &iamv1.CreateRoleRequest{RoleName: "bad/name"})
	wantType(t, err, wire.IAMValidation)
	if _, err := e.svc.DeleteRole(e.root, &iamv1.DeleteRoleRequest{RoleName: "app"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.GetRole(e.root, &iamv1.GetRoleRequest{RoleName: "app"})
	wantType(t, err, wire.NoSuchEntity)
	_, err = e.svc.DeleteRole(e.root, &iamv1.DeleteRoleRequest{RoleName: "app"})
	wantType(t, err, wire.NoSuchEntity)
}

func TestInlinePolicies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(t, "bob")
	if _, err := e.svc.CreateRole(e.root, &iamv1.CreateRoleRequest{RoleName: "app"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PutUserPolicy(e.root, &iamv1.PutUserPolicyRequest{UserName: "bob", PolicyName: "use", PolicyDocument: allowEncrypt}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PutRolePolicy(e.root, &iamv1.PutRolePolicyRequest{RoleName: "app", PolicyName: "b", PolicyDocument: allowEncrypt}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PutRolePolicy(e.root, &iamv1.PutRolePolicyRequest{RoleName: "app", PolicyName: "a", PolicyDocument: allowEncrypt}); err != nil {
		t.Fatal(err)
	}
	g, err := e.svc.GetUserPolicy(e.root, &iamv1.GetUserPolicyRequest{UserName: "bob", PolicyName: "use"})
	if err != nil || g.PolicyDocument != allowEncrypt || g.UserName != "bob" || g.PolicyName != "use" {
		t.Fatalf("GetUserPolicy: %v %+v", err, g)
	}
	if g, err := e.svc.GetRolePolicy(e.root, &iamv1.GetRolePolicyRequest{RoleName: "app", PolicyName: "a"}); err != nil || g.PolicyDocument != allowEncrypt {
		t.Fatalf("GetRolePolicy: %v %+v", err, g)
	}
	if l, err := e.svc.ListRolePolicies(e.root, &iamv1.ListRolePoliciesRequest{RoleName: "app"}); err != nil || !slices.Equal(l.PolicyNames, []string{"a", "b"}) {
		t.Fatalf("ListRolePolicies: %v %+v", err, l)
	}
	if _, err := e.svc.DeleteRolePolicy(e.root, &iamv1.DeleteRolePolicyRequest{RoleName: "app", PolicyName: "a"}); err != nil {
		t.Fatal(err)
	}
	if l, _ := e.svc.ListRolePolicies(e.root, &iamv1.ListRolePoliciesRequest{RoleName: "app"}); !slices.Equal(l.GetPolicyNames(), []string{"b"}) {
		t.Fatalf("after delete: %v", l.GetPolicyNames())
	}

	tests := []struct {
		name    string
		ctx     context.Context
		req     *iamv1.PutUserPolicyRequest
		want    string
		wantMsg string
	}{
		{"malformed", e.root, &iamv1.PutUserPolicyRequest{UserName: "bob", PolicyName: "p",
			PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}`},
			iam.MalformedPolicyDocument, `Statement[0] (Sid "A")`},
		{"not json", e.root, &iamv1.PutUserPolicyRequest{UserName: "bob", PolicyName: "p", PolicyDocument: "nope"}, iam.MalformedPolicyDocument, ""},
		{"too large", e.root, &iamv1.PutUserPolicyRequest{UserName: "bob", PolicyName: "p",
			PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Sid":"` + strings.Repeat("a", 7000) + `","Effect":"Allow","Action":"kms:*","Resource":"*"}]}`},
			wire.IAMLimitExceeded, ""},
		{"no document", e.root, &iamv1.PutUserPolicyRequest{UserName: "bob", PolicyName: "p"}, wire.IAMValidation, "policyDocument"},
		{"bad name", e.root, &iamv1.PutUserPolicyRequest{UserName: "bob", PolicyName: "a b", PolicyDocument: allowEncrypt}, wire.IAMValidation, "policyName"},
		{"missing user", e.root, &iamv1.PutUserPolicyRequest{UserName: "nobody", PolicyName: "p", PolicyDocument: allowEncrypt}, wire.NoSuchEntity, ""},
		{"not root", as(t, "arn:aws:iam::"+account+":user/bob"), &iamv1.PutUserPolicyRequest{UserName: "bob", PolicyName: "p", PolicyDocument: allowEncrypt}, wire.IAMAccessDenied, ""},
		{"other account", e.other, &iamv1.PutUserPolicyRequest{UserName: "bob", PolicyName: "p", PolicyDocument: allowEncrypt}, wire.NoSuchEntity, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.fsm.PrincipalPolicies("arn:aws:iam::" + account + ":user/bob")
			_, err := e.svc.PutUserPolicy(tc.ctx, tc.req)
			wantType(t, err, tc.want)
			if !strings.Contains(message(t, err), tc.wantMsg) {
				t.Errorf("message %q lacks %q", err, tc.wantMsg)
			}
			if after := e.fsm.PrincipalPolicies("arn:aws:iam::" + account + ":user/bob"); !slices.Equal(before, after) {
				t.Fatal("a refused PutUserPolicy changed the policies")
			}
		})
	}
	_, err = e.svc.GetUserPolicy(e.root, &iamv1.GetUserPolicyRequest{UserName: "bob", PolicyName: "other"})
	wantType(t, err, wire.NoSuchEntity)
	_, err = e.svc.DeleteUserPolicy(e.root, &iamv1.DeleteUserPolicyRequest{UserName: "bob", PolicyName: "other"})
	wantType(t, err, wire.NoSuchEntity)
	if _, err := e.svc.DeleteUserPolicy(e.root, &iamv1.DeleteUserPolicyRequest{UserName: "bob", PolicyName: "use"}); err != nil {
		t.Fatal(err)
	}
	if l, err := e.svc.ListUserPolicies(e.root, &iamv1.ListUserPoliciesRequest{UserName: "bob"}); err != nil || len(l.PolicyNames) != 0 {
		t.Fatalf("ListUserPolicies: %v %+v", err, l)
	}
}

func TestNormalizeSerial(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"1F", "1f", true},
		{"00:1f:A0", "1fa0", true},
		{"0x0102", "102", true},
		{"0", "0", true},
		{"", "", false},
		{"xyz", "", false},
		{"-1", "", false},
		{strings.Repeat("f", 41), "", false},
	} {
		got, ok := iam.NormalizeSerial(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalizeSerial(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// issueSerial issues a certificate to user name of e's account and
// returns its serial as the deny list writes it.
func (e *env) issueSerial(tb testing.TB, name string) string {
	tb.Helper()
	r, err := e.svc.IssueCertificate(e.root, &iamv1.IssueCertificateRequest{UserName: name})
	if err != nil {
		tb.Fatal(err)
	}
	c, err := identity.ParseCertPEM([]byte(r.CertificatePem))
	if err != nil {
		tb.Fatal(err)
	}
	return c.SerialNumber.Text(16)
}

func TestRevokeCert(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bob := e.createUser(t, "bob")
	serial := e.issueSerial(t, "bob")
	r, err := e.svc.RevokeCert(e.root, &iamv1.RevokeCertRequest{SerialNumber: "0x" + strings.ToUpper(serial)})
	if err != nil || r.SerialNumber != serial {
		t.Fatalf("RevokeCert: %v %+v", err, r)
	}
	if !e.fsm.CertRevoked(serial) {
		t.Fatal("serial not on the deny list")
	}
	if _, err := e.svc.RevokeCert(e.root, &iamv1.RevokeCertRequest{SerialNumber: serial}); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	_, err = e.svc.RevokeCert(e.root, &iamv1.RevokeCertRequest{SerialNumber: "zz"})
	wantType(t, err, wire.IAMValidation)
	_, err = e.svc.RevokeCert(as(t, bob.Arn), &iamv1.RevokeCertRequest{SerialNumber: "12"})
	wantType(t, err, wire.IAMAccessDenied)
	l, err := e.svc.ListRevokedCerts(e.root, &iamv1.ListRevokedCertsRequest{})
	if err != nil || len(l.RevokedCerts) != 1 || l.RevokedCerts[0].SerialNumber != serial || l.RevokedCerts[0].RevokeDate == "" {
		t.Fatalf("ListRevokedCerts: %v %+v", err, l)
	}
}

// Revocation is scoped to the caller's account: the root of another
// account can neither revoke nor list this account's certificates, and
// cannot tell them from serials nobody issued. The admin account can.
func TestRevokeCertIsScopedToTheAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(t, "bob")
	serial := e.issueSerial(t, "bob")
	_, err := e.svc.RevokeCert(e.other, &iamv1.RevokeCertRequest{SerialNumber: serial})
	wantType(t, err, wire.NoSuchEntity)
	if e.fsm.CertRevoked(serial) {
		t.Fatal("another account revoked bob's certificate")
	}
	_, unknown := e.svc.RevokeCert(e.other, &iamv1.RevokeCertRequest{SerialNumber: "12345"})
	wantType(t, unknown, wire.NoSuchEntity)
	if strings.ReplaceAll(err.Error(), serial, "12345") != unknown.Error() {
		t.Fatalf("another account's serial is refused unlike an unknown one: %q vs %q", err, unknown)
	}
	_, err = e.svc.RevokeCert(e.root, &iamv1.RevokeCertRequest{SerialNumber: "12345"})
	wantType(t, err, wire.NoSuchEntity)

	if _, err := e.svc.RevokeCert(e.root, &iamv1.RevokeCertRequest{SerialNumber: serial}); err != nil {
		t.Fatal(err)
	}
	// The admin may revoke serials IAM never issued (its bootstrap
	// certificate, certificates from before issue records).
	if _, err := e.svc.RevokeCert(e.admin, &iamv1.RevokeCertRequest{SerialNumber: "12345"}); err != nil {
		t.Fatalf("admin revoking an unrecorded serial: %v", err)
	}
	list := func(ctx context.Context) string {
		l, err := e.svc.ListRevokedCerts(ctx, &iamv1.ListRevokedCertsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range l.RevokedCerts {
			out = append(out, r.SerialNumber)
		}
		return strings.Join(out, ",")
	}
	all := strings.Join(slices.Sorted(slices.Values([]string{serial, "12345"})), ",")
	for _, tt := range []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"own account", e.root, serial},
		{"other account", e.other, ""},
		{"admin account", e.admin, all},
	} {
		if got := list(tt.ctx); got != tt.want {
			t.Errorf("%s lists %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestExplain asks the IAM service to explain decisions of a real KMS
// service over the same state.
func TestExplain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bob := e.createUser(t, "bob")
	log := fsmtest.NewLog(e.fsm)
	k, err := kms.New(kms.Config{Region: "us-east-1", Store: e.fsm, Log: log, Reads: log, HSM: e.hsm, Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := iam.New(iam.Config{Store: e.fsm, Log: log, HSM: e.hsm, CA: e.ca, Explainer: k})
	if err != nil {
		t.Fatal(err)
	}
	key, err := k.CreateKey(e.root, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(action string, ec map[string]string) *iamv1.ExplainResponse {
		t.Helper()
		r, err := svc.Explain(e.root, &iamv1.ExplainRequest{Principal: bob.Arn, Action: action, KeyId: key.KeyMetadata.KeyId, EncryptionContext: ec})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := ask("kms:Encrypt", nil); r.Decision != "denied" || r.Reason != "ImplicitDeny" || len(r.Statements) != 1 ||
		r.Statements[0].Sid != "Enable IAM User Permissions" || !r.Statements[0].Delegates || r.Resource != key.KeyMetadata.Arn {
		t.Fatalf("before any policy: %+v", r)
	}
	if _, err := svc.PutUserPolicy(e.root, &iamv1.PutUserPolicyRequest{UserName: "bob", PolicyName: "use", PolicyDocument: allowEncrypt}); err != nil {
		t.Fatal(err)
	}
	r := ask("kms:Encrypt", map[string]string{"a": "b"})
	if r.Decision != "allowed" || r.Reason != "IdentityPolicyAllow" || len(r.Statements) != 2 ||
		r.Statements[1].PolicyName != "use" || r.Statements[1].PolicyType != "identity policy" || !strings.Contains(r.Explanation, `"use"`) {
		t.Fatalf("with an identity policy: %+v", r)
	}
	g, err := k.CreateGrant(e.root, &kmsv1.CreateGrantRequest{KeyId: key.KeyMetadata.KeyId, GranteePrincipal: bob.Arn, Operations: []string{"GenerateDataKey"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := ask("kms:GenerateDataKey", nil); r.Decision != "allowed" || r.Reason != "GrantAllow" || r.GrantId != g.GrantId {
		t.Fatalf("by grant: %+v", r)
	}

	for _, tc := range []struct {
		ctx  context.Context
		req  *iamv1.ExplainRequest
		want string
	}{
		{as(t, bob.Arn), &iamv1.ExplainRequest{Principal: bob.Arn, Action: "kms:Encrypt"}, wire.IAMAccessDenied},
		{e.other, &iamv1.ExplainRequest{Principal: bob.Arn, Action: "kms:Encrypt"}, wire.IAMAccessDenied},
		{e.root, &iamv1.ExplainRequest{Principal: "bob", Action: "kms:Encrypt"}, wire.IAMValidation},
		{e.root, &iamv1.ExplainRequest{Principal: bob.Arn}, wire.IAMValidation},
		{e.root, &iamv1.ExplainRequest{Principal: bob.Arn, Action: "Encrypt"}, wire.Validation},
		{e.root, &iamv1.ExplainRequest{Principal: bob.Arn, Action: "kms:Encrypt", KeyId: "11111111-2222-4333-8444-555555555555"}, wire.NotFound},
	} {
		_, err := svc.Explain(tc.ctx, tc.req)
		wantType(t, err, tc.want)
	}
	_, err = e.svc.Explain(e.root, &iamv1.ExplainRequest{Principal: bob.Arn, Action: "kms:Encrypt"})
	wantType(t, err, wire.UnsupportedOperation)
}

// FuzzNormalizeSerial: no panic, and an accepted serial is in canonical
// form and normalizes to itself.
func FuzzNormalizeSerial(f *testing.F) {
	for _, s := range []string{"1F", "00:1f:A0", "0x0102", "", "-1", "::", "0x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := iam.NormalizeSerial(s)
		if !ok {
			return
		}
		if again, ok2 := iam.NormalizeSerial(got); !ok2 || again != got || strings.Trim(got, "0123456789abcdef") != "" {
			t.Fatalf("NormalizeSerial(%q) = %q, then %q, %v", s, got, again, ok2)
		}
	})
}
