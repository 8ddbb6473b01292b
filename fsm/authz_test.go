package fsm

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"

	"github.com/trentkms/trent/policy"
)

const testPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}]}`

func putKeyPolicy(id, doc string) Command {
	return &PutKeyPolicy{KeyID: id, Policy: doc}
}

func createRole(name, id string) Command {
	return &CreateRole{Role: Role{Account: testAccount, Name: name, Path: "/", ID: id,
		ARN: "arn:aws:iam::" + testAccount + ":role/" + name, CreateDate: 1700000000000}}
}

func putPolicy(kind, owner, name, doc string) Command {
	return &PutPrincipalPolicy{Policy: PrincipalPolicy{
		Owner: "arn:aws:iam::" + testAccount + ":" + kind + "/" + owner, Account: testAccount,
		OwnerKind: kind, OwnerName: owner, Name: name, Document: doc}}
}

func deletePolicy(kind, owner, name string) Command {
	return &DeletePrincipalPolicy{
		Owner: "arn:aws:iam::" + testAccount + ":" + kind + "/" + owner, Name: name}
}

func revoke(serial string) Command {
	return &RevokeCert{Cert: RevokedCert{Serial: serial, RevokedAt: 1}}
}

func TestAuthzApplyRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		setup        []Command
		cmd          Command
		wantErr      string
		wantExisting bool
	}{
		{"put key policy", []Command{create("k")}, putKeyPolicy("k", testPolicy), "", false},
		{"put key policy pending deletion", []Command{create("k"), &ScheduleKeyDeletion{KeyID: "k", DeletionDate: 1, PendingWindowInDays: 7}}, putKeyPolicy("k", testPolicy), "", false},
		{"put key policy missing key", nil, putKeyPolicy("k", testPolicy), "NotFoundException", false},
		{"put empty key policy", []Command{create("k")}, putKeyPolicy("k", ""), "MalformedPolicyDocumentException", false},
		{"create role", nil, createRole("admin", "AROA1"), "", false},
		{"create role retry", []Command{createRole("admin", "AROA1")}, createRole("admin", "AROA1"), "", true},
		{"create role same name other case", []Command{createRole("admin", "AROA1")}, createRole("ADMIN", "AROA2"), "EntityAlreadyExists", false},
		{"delete missing role", nil, &DeleteRole{Account: testAccount, Name: "x"}, "NoSuchEntity", false},
		{"put user policy", []Command{createUser("bob", "AIDA1")}, putPolicy(PolicyOwnerUser, "bob", "p", "{}"), "", false},
		{"put policy of missing user", nil, putPolicy(PolicyOwnerUser, "bob", "p", "{}"), "NoSuchEntity", false},
		{"put role policy", []Command{createRole("r", "AROA1")}, putPolicy(PolicyOwnerRole, "r", "p", "{}"), "", false},
		{"put role policy on user name", []Command{createUser("r", "AIDA1")}, putPolicy(PolicyOwnerRole, "r", "p", "{}"), "NoSuchEntity", false},
		{"delete missing policy", []Command{createUser("bob", "AIDA1")}, deletePolicy(PolicyOwnerUser, "bob", "p"), "NoSuchEntity", false},
		{"revoke", nil, revoke("1f"), "", false},
		{"revoke twice", []Command{revoke("1f")}, revoke("1f"), "", true},
		{"revoke bad serial", nil, revoke("1F"), "ValidationError", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := New()
			applyAll(t, f, tc.setup...)
			before := stripApplied(snapshotBytes(t, f))
			r := applyAll(t, f, tc.cmd)[0]
			switch {
			case tc.wantErr == "" && r.Err != nil:
				t.Fatalf("unexpected rejection %v", r.Err)
			case tc.wantErr != "" && (r.Err == nil || r.Err.Type != tc.wantErr):
				t.Fatalf("got %v, want %s", r.Err, tc.wantErr)
			case r.Existing != tc.wantExisting:
				t.Fatalf("Existing = %v, want %v", r.Existing, tc.wantExisting)
			}
			if after := stripApplied(snapshotBytes(t, f)); (tc.wantErr != "" || tc.wantExisting) && !bytes.Equal(before, after) {
				t.Fatal("a refused or repeated command changed the state")
			}
		})
	}
}

func TestCreateKeyGetsDefaultPolicy(t *testing.T) {
	t.Parallel()
	f := New()
	k := testKey("a")
	k.Policy = testPolicy
	applyAll(t, f, create("d"), &CreateKey{Key: k})
	if got, _ := f.Key("d"); got.Policy != policy.DefaultKeyPolicy(testAccount) {
		t.Fatalf("default policy = %q", got.Policy)
	}
	if got, _ := f.Key("a"); got.Policy != testPolicy {
		t.Fatalf("given policy = %q", got.Policy)
	}
	applyAll(t, f, putKeyPolicy("a", "{}"))
	if got, _ := f.Key("a"); got.Policy != "{}" {
		t.Fatalf("after PutKeyPolicy, policy = %q", got.Policy)
	}
}

// TestRestoreOldSnapshotGivesDefaultPolicy restores a snapshot written
// before key policies were stored: its keys get the default policy.
func TestRestoreOldSnapshotGivesDefaultPolicy(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	var hdr [12]byte
	copy(hdr[:], snapshotMagic)
	binary.BigEndian.PutUint32(hdr[8:], snapshotVersion)
	b.Write(hdr[:])
	b.WriteString(`{"applied":7}` + "\n")
	b.WriteString(`{"key":{"id":"old","arn":"arn:aws:kms:us-east-1:111122223333:key/old","account":"111122223333","creation_date":1,"description":"","key_spec":"SYMMETRIC_DEFAULT","key_usage":"ENCRYPT_DECRYPT","origin":"AWS_KMS","state":"Enabled","versions":[]}}` + "\n")
	b.WriteString(`{"user":{"account":"111122223333","name":"bob","path":"/","id":"AIDA1","arn":"arn:aws:iam::111122223333:user/bob","create_date":1}}` + "\n")
	b.WriteString(`{"end":true}` + "\n")
	f := New()
	if err := f.Restore(io.NopCloser(&b)); err != nil {
		t.Fatal(err)
	}
	k, ok := f.Key("old")
	if !ok || k.Policy != policy.DefaultKeyPolicy(testAccount) {
		t.Fatalf("restored key %+v", k)
	}
	if f.AppliedIndex() != 7 {
		t.Fatalf("applied %d", f.AppliedIndex())
	}
}

func TestAuthzSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f, create("k"), putKeyPolicy("k", testPolicy), createUser("bob", "AIDA1"), createRole("r", "AROA1"),
		putPolicy(PolicyOwnerUser, "bob", "b", "{1}"), putPolicy(PolicyOwnerRole, "r", "a", "{2}"),
		putPolicy(PolicyOwnerRole, "r", "b", "{3}"), revoke("abc"), revoke("12"))
	want := snapshotBytes(t, f)
	for _, rec := range []string{`"role":`, `"principal_policy":`, `"revoked_cert":`, `"policy":"{\"Version`} {
		if !strings.Contains(string(want), rec) {
			t.Errorf("snapshot lacks %s", rec)
		}
	}
	g := New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(want))); err != nil {
		t.Fatal(err)
	}
	if got := snapshotBytes(t, g); !bytes.Equal(got, want) {
		t.Fatal("snapshot of restored FSM differs")
	}
	if ps := g.PrincipalPolicies("arn:aws:iam::" + testAccount + ":role/r"); len(ps) != 2 || ps[0].Name != "a" || ps[1].Document != "{3}" {
		t.Fatalf("role policies %+v", ps)
	}
	if !g.CertRevoked("abc") || g.CertRevoked("ab") {
		t.Fatal("deny list not restored")
	}
	if _, ok := g.Role(testAccount, "R"); !ok {
		t.Fatal("role lookup is case-sensitive")
	}
}

func TestDeleteOwnerDeletesItsPolicies(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f, createUser("bob", "AIDA1"), createRole("r", "AROA1"),
		putPolicy(PolicyOwnerUser, "bob", "p", "{}"), putPolicy(PolicyOwnerRole, "r", "p", "{}"),
		deleteUser("bob"), &DeleteRole{Account: testAccount, Name: "r"})
	for _, owner := range []string{"user/bob", "role/r"} {
		if ps := f.PrincipalPolicies("arn:aws:iam::" + testAccount + ":" + owner); len(ps) != 0 {
			t.Errorf("%s keeps %d policies", owner, len(ps))
		}
	}
	// A new bob does not inherit the old bob's policies.
	applyAll(t, f, createUser("bob", "AIDA2"))
	if ps := f.PrincipalPolicies("arn:aws:iam::" + testAccount + ":user/bob"); len(ps) != 0 {
		t.Fatal("new user inherited policies")
	}
}
