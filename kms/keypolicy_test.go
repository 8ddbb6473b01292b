package kms_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/policy"
	"github.com/trentkms/trent/wire"
)

const acct = "111122223333"

// apply replicates fsm commands (users, roles, identity policies, key
// policies set without the service's checks) through the env's log.
func (e *env) apply(t testing.TB, cmds ...fsm.Command) {
	t.Helper()
	for _, c := range cmds {
		if _, _, err := fsm.Apply(context.Background(), e.log, c); err != nil {
			t.Fatalf("%s: %v", c.Op(), err)
		}
	}
}

func userCmd(account, name string) fsm.Command {
	return &fsm.CreateUser{User: fsm.User{Account: account, Name: name, Path: "/",
		ID: "AIDA" + strings.ToUpper(name) + account, ARN: "arn:aws:iam::" + account + ":user/" + name, CreateDate: 1}}
}

func roleCmd(account, name string) fsm.Command {
	return &fsm.CreateRole{Role: fsm.Role{Account: account, Name: name, Path: "/",
		ID: "AROA" + strings.ToUpper(name) + account, ARN: "arn:aws:iam::" + account + ":role/" + name, CreateDate: 1}}
}

// identityPolicyCmd attaches doc to the user or role (kind) name.
func identityPolicyCmd(account, kind, name, policyName, doc string) fsm.Command {
	return &fsm.PutPrincipalPolicy{Policy: fsm.PrincipalPolicy{
		Owner: "arn:aws:iam::" + account + ":" + kind + "/" + name, Account: account, OwnerKind: kind, OwnerName: name,
		Name: policyName, Document: doc}}
}

func keyPolicyCmd(keyID, doc string) fsm.Command {
	return &fsm.PutKeyPolicy{KeyID: keyID, Policy: doc}
}

// kp wraps statements into a key policy document.
func kp(stmts ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
}

const rootAll = `{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`

func TestKeyPolicyOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(t, userCmd(acct, "bob"))
	m := e.createKey(t)
	ctx := e.root

	got, err := e.svc.GetKeyPolicy(ctx, &kmsv1.GetKeyPolicyRequest{KeyId: m.KeyId})
	if err != nil || got.Policy != policy.DefaultKeyPolicy(acct) || got.PolicyName != "default" {
		t.Fatalf("GetKeyPolicy = %v, %v; want the default policy", got, err)
	}
	lp, err := e.svc.ListKeyPolicies(ctx, &kmsv1.ListKeyPoliciesRequest{KeyId: m.KeyId})
	if err != nil || !slices.Equal(lp.PolicyNames, []string{"default"}) || lp.Truncated {
		t.Fatalf("ListKeyPolicies = %v, %v", lp, err)
	}
	doc := kp(rootAll, `{"Sid":"Bob uses","Effect":"Allow","Principal":{"AWS":"`+bobARN+`"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}`)
	if _, err := e.svc.PutKeyPolicy(ctx, &kmsv1.PutKeyPolicyRequest{KeyId: m.KeyId, PolicyName: "default", Policy: doc}); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.svc.GetKeyPolicy(ctx, &kmsv1.GetKeyPolicyRequest{KeyId: m.Arn, PolicyName: "default"}); got.GetPolicy() != doc {
		t.Fatalf("after PutKeyPolicy, GetKeyPolicy = %q", got.GetPolicy())
	}
	// The new policy is in force: bob may now encrypt, but not describe.
	bob := as(t, bobARN)
	if _, err := e.svc.Encrypt(bob, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("bob Encrypt: %v", err)
	}
	_, err = e.svc.DescribeKey(bob, &kmsv1.DescribeKeyRequest{KeyId: m.KeyId})
	wantType(t, err, wire.AccessDenied)

	// PutKeyPolicy works while the key is pending deletion.
	e.apply(t, &fsm.ScheduleKeyDeletion{KeyID: m.KeyId, DeletionDate: 1, PendingWindowInDays: 7})
	if _, err := e.svc.PutKeyPolicy(ctx, &kmsv1.PutKeyPolicyRequest{KeyId: m.KeyId, Policy: kp(rootAll)}); err != nil {
		t.Fatalf("PutKeyPolicy pending deletion: %v", err)
	}
}

func TestKeyPolicyErrors(t *testing.T) {
	t.Parallel()
	big := kp(rootAll, `{"Sid":"`+strings.Repeat("a", 33000)+`","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}`)
	tests := []struct {
		name    string
		ctx     string // caller ARN; "" is the root
		req     *kmsv1.PutKeyPolicyRequest
		wantErr string
		wantMsg []string // substrings of the message
	}{
		{"bad policy name", "", &kmsv1.PutKeyPolicyRequest{PolicyName: "my-policy", Policy: kp(rootAll)}, wire.Validation, []string{"policyName"}},
		{"other policy name", "", &kmsv1.PutKeyPolicyRequest{PolicyName: "other", Policy: kp(rootAll)}, wire.NotFound, []string{"default"}},
		{"no policy", "", &kmsv1.PutKeyPolicyRequest{}, wire.Validation, []string{"'policy'"}},
		{"not json", "", &kmsv1.PutKeyPolicyRequest{Policy: "{"}, wire.MalformedPolicyDocument, nil},
		{"bad effect", "", &kmsv1.PutKeyPolicyRequest{Policy: kp(rootAll, `{"Sid":"Two","Effect":"allow","Principal":"*","Action":"kms:*","Resource":"*"}`)},
			wire.MalformedPolicyDocument, []string{`Statement[1] (Sid "Two")`, "Effect"}},
		{"missing principal", "", &kmsv1.PutKeyPolicyRequest{Policy: kp(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`)},
			wire.MalformedPolicyDocument, []string{"Statement[0]", "Principal"}},
		{"too large", "", &kmsv1.PutKeyPolicyRequest{Policy: big}, wire.LimitExceeded, []string{"32 KB"}},
		{"over model length", "", &kmsv1.PutKeyPolicyRequest{Policy: strings.Repeat(" ", 131073)}, wire.Validation, nil},
		{"unknown principal", "", &kmsv1.PutKeyPolicyRequest{Policy: kp(rootAll, `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/nobody"},"Action":"kms:*","Resource":"*"}`)},
			wire.MalformedPolicyDocument, []string{"invalid principals", "user/nobody"}},
		{"lockout", "", &kmsv1.PutKeyPolicyRequest{Policy: kp(`{"Effect":"Allow","Principal":{"AWS":"` + bobARN + `"},"Action":"kms:*","Resource":"*"}`)},
			wire.MalformedPolicyDocument, []string{"will not allow you to update the key policy"}},
		{"lockout by deny", "", &kmsv1.PutKeyPolicyRequest{Policy: kp(rootAll, `{"Effect":"Deny","Principal":"*","Action":"kms:PutKeyPolicy","Resource":"*"}`)},
			wire.MalformedPolicyDocument, []string{"will not allow"}},
		{"bob not allowed", bobARN, &kmsv1.PutKeyPolicyRequest{Policy: kp(rootAll)}, wire.AccessDenied,
			[]string{"User: " + bobARN + " is not authorized to perform: kms:PutKeyPolicy on resource: arn:aws:kms:us-east-1:111122223333:key/"}},
		{"missing key", "", &kmsv1.PutKeyPolicyRequest{KeyId: "11111111-2222-4333-8444-555555555555", Policy: kp(rootAll)}, wire.NotFound, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.apply(t, userCmd(acct, "bob"))
			m := e.createKey(t)
			ctx := e.root
			if tc.ctx != "" {
				ctx = as(t, tc.ctx)
			}
			if tc.req.KeyId == "" {
				tc.req.KeyId = m.KeyId
			}
			before := snapshot(t, e.fsm)
			_, err := e.svc.PutKeyPolicy(ctx, tc.req)
			wantType(t, err, tc.wantErr)
			for _, s := range tc.wantMsg {
				if !strings.Contains(message(t, err), s) {
					t.Errorf("message %q lacks %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "kms:*") && tc.wantErr == wire.AccessDenied {
				t.Errorf("AccessDenied message leaks policy text: %q", err)
			}
			if after := snapshot(t, e.fsm); !bytes.Equal(before, after) {
				t.Fatal("a refused PutKeyPolicy changed the state")
			}
		})
	}
}

func TestPutKeyPolicyBypassLockout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(t, userCmd(acct, "bob"))
	m := e.createKey(t)
	doc := kp(`{"Effect":"Allow","Principal":{"AWS":"` + bobARN + `"},"Action":"kms:*","Resource":"*"}`)
	if _, err := e.svc.PutKeyPolicy(e.root, &kmsv1.PutKeyPolicyRequest{KeyId: m.KeyId, Policy: doc, BypassPolicyLockoutSafetyCheck: true}); err != nil {
		t.Fatal(err)
	}
	// The root has locked itself out; bob is now the key's administrator.
	_, err := e.svc.GetKeyPolicy(e.root, &kmsv1.GetKeyPolicyRequest{KeyId: m.KeyId})
	wantType(t, err, wire.AccessDenied)
	if _, err := e.svc.PutKeyPolicy(as(t, bobARN), &kmsv1.PutKeyPolicyRequest{KeyId: m.KeyId, Policy: kp(rootAll)}); err != nil {
		t.Fatalf("bob restores the policy: %v", err)
	}
}

func TestCreateKeyWithPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(t, userCmd(acct, "bob"))
	doc := kp(rootAll, `{"Effect":"Allow","Principal":{"AWS":"`+bobARN+`"},"Action":"kms:Encrypt","Resource":"*"}`)
	r, err := e.svc.CreateKey(e.root, &kmsv1.CreateKeyRequest{Policy: doc})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := e.svc.GetKeyPolicy(e.root, &kmsv1.GetKeyPolicyRequest{KeyId: r.KeyMetadata.KeyId}); got.GetPolicy() != doc {
		t.Fatalf("policy %q", got.GetPolicy())
	}
	if _, err := e.svc.Encrypt(as(t, bobARN), &kmsv1.EncryptRequest{KeyId: r.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	lockout := kp(`{"Effect":"Allow","Principal":{"AWS":"` + bobARN + `"},"Action":"kms:*","Resource":"*"}`)
	for _, tc := range []struct {
		req  *kmsv1.CreateKeyRequest
		want string
	}{
		{&kmsv1.CreateKeyRequest{Policy: lockout}, wire.MalformedPolicyDocument},
		{&kmsv1.CreateKeyRequest{Policy: `{"Statement":[]}`}, wire.MalformedPolicyDocument},
		{&kmsv1.CreateKeyRequest{Policy: lockout, BypassPolicyLockoutSafetyCheck: true}, ""},
	} {
		n := e.fsm.KeyCount()
		_, err := e.svc.CreateKey(e.root, tc.req)
		wantType(t, err, tc.want)
		if tc.want != "" && e.fsm.KeyCount() != n {
			t.Fatal("refused CreateKey created a key")
		}
	}
}

func TestListKeyPoliciesErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	for _, tc := range []struct {
		req  *kmsv1.ListKeyPoliciesRequest
		want string
	}{
		{&kmsv1.ListKeyPoliciesRequest{KeyId: m.KeyId, Limit: i32(0)}, wire.Validation},
		{&kmsv1.ListKeyPoliciesRequest{KeyId: m.KeyId, Limit: i32(1001)}, wire.Validation},
		{&kmsv1.ListKeyPoliciesRequest{KeyId: m.KeyId, Marker: "x"}, wire.InvalidMarker},
		{&kmsv1.ListKeyPoliciesRequest{KeyId: "alias/x"}, wire.InvalidArn},
		{&kmsv1.ListKeyPoliciesRequest{KeyId: m.KeyId, Limit: i32(1)}, ""},
	} {
		_, err := e.svc.ListKeyPolicies(e.root, tc.req)
		wantType(t, err, tc.want)
	}
	_, err := e.svc.ListKeyPolicies(as(t, bobARN), &kmsv1.ListKeyPoliciesRequest{KeyId: m.KeyId})
	wantType(t, err, wire.AccessDenied)
	_, err = e.svc.GetKeyPolicy(as(t, bobARN), &kmsv1.GetKeyPolicyRequest{KeyId: m.KeyId})
	wantType(t, err, wire.AccessDenied)
	_, err = e.svc.GetKeyPolicy(e.root, &kmsv1.GetKeyPolicyRequest{KeyId: m.KeyId, PolicyName: "x"})
	wantType(t, err, wire.NotFound)
}

func snapshot(t *testing.T, f *fsm.FSM) []byte {
	t.Helper()
	s, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Persist(&buf); err != nil {
		t.Fatal(err)
	}
	// Drop the header line with the applied index.
	b := buf.Bytes()
	i := bytes.IndexByte(b[12:], '\n')
	return b[12+i:]
}
