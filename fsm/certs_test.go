package fsm

import (
	"bytes"
	"crypto/x509"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trentkms/trent/identity"
)

const otherAccount = "444455556666"

// recordCert records serial as issued to the user or role at arn with id.
func recordCert(serial, arn, id string) Command {
	p, _ := identity.ParsePrincipal(arn)
	return &RecordCert{Cert: IssuedCert{Serial: serial, Account: p.Account,
		Principal: arn, PrincipalID: id, IssuedAt: 1700000000000, NotAfter: 1700086400000}}
}

func revokeAs(serial, account string, admin bool) Command {
	return &RevokeCert{Account: account, Admin: admin,
		Cert: RevokedCert{Serial: serial, Principal: "arn:aws:iam::" + account + ":root", RevokedAt: 2}}
}

func deleteRole(name string) Command {
	return &DeleteRole{Account: testAccount, Name: name, RevokedAt: 3}
}

const (
	bobARN  = "arn:aws:iam::" + testAccount + ":user/bob"
	opsARN  = "arn:aws:iam::" + testAccount + ":role/ops"
	bobID   = "AIDAAAAAAAAAAAAAAAAA1"
	bobID2  = "AIDAAAAAAAAAAAAAAAAA2"
	opsID   = "AROAAAAAAAAAAAAAAAAA1"
	opsID2  = "AROAAAAAAAAAAAAAAAAA2"
	rootARN = "arn:aws:iam::" + testAccount + ":root"
)

// issue returns a client certificate for arn carrying id, issued by ca.
func issue(t *testing.T, ca *identity.CA, arn, id string) *x509.Certificate {
	t.Helper()
	p, err := identity.ParsePrincipal(arn)
	if err != nil {
		t.Fatal(err)
	}
	p.ID = id
	key, err := identity.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	der, err := ca.IssueClient(p, key.Public(), now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func serialOf(c *x509.Certificate) string { return c.SerialNumber.Text(16) }

func TestCheckCert(t *testing.T) {
	t.Parallel()
	ca, err := identity.NewCA("c1", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	bob := issue(t, ca, bobARN, bobID)
	ops := issue(t, ca, opsARN, opsID)
	root := issue(t, ca, rootARN, "")
	tests := []struct {
		name  string
		setup []Command
		cert  *x509.Certificate
		want  error
	}{
		{"user", []Command{createUser("bob", bobID)}, bob, nil},
		{"role", []Command{createRole("ops", opsID)}, ops, nil},
		{"root", nil, root, nil},
		{"user never created", nil, bob, ErrCertPrincipalGone},
		{"user deleted", []Command{createUser("bob", bobID), deleteUser("bob")}, bob, ErrCertPrincipalGone},
		{"role deleted", []Command{createRole("ops", opsID), deleteRole("ops")}, ops, ErrCertPrincipalGone},
		{"user re-created", []Command{createUser("bob", bobID), deleteUser("bob"), createUser("bob", bobID2)}, bob, ErrCertPrincipalIDMismatch},
		{"role re-created", []Command{createRole("ops", opsID), deleteRole("ops"), createRole("ops", opsID2)}, ops, ErrCertPrincipalIDMismatch},
		{"user name now a role", []Command{createRole("bob", opsID)}, bob, ErrCertPrincipalGone},
		{"certificate without id", []Command{createUser("bob", bobID)}, issue(t, ca, bobARN, ""), ErrCertNoPrincipalID},
		{"user revoked", []Command{createUser("bob", bobID), revokeAs(serialOf(bob), "", false)}, bob, ErrCertRevoked},
		{"root revoked", []Command{revokeAs(serialOf(root), testAccount, true)}, root, ErrCertRevoked},
		{"nil", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := New()
			applyAll(t, f, tt.setup...)
			if err := f.CheckCert(tt.cert); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("CheckCert = %v, want %v", err, tt.want)
			}
			// The gate's form, with the principal it parsed.
			var named *identity.Principal
			if p, err := identity.PrincipalFromCert(tt.cert); err == nil {
				named = &p
			}
			if err := f.CheckCertOf(tt.cert, named); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("CheckCertOf = %v, want %v", err, tt.want)
			}
		})
	}
}

// Deleting a user or role puts every certificate issued to it on the deny
// list in the same command, scoped to its account; a re-created principal
// of the same name starts with no certificates.
func TestDeletingAPrincipalRevokesItsCertificates(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f, createUser("bob", bobID), createRole("ops", opsID), createUser("carol", "AIDAAAAAAAAAAAAAAAAA3"),
		recordCert("b1", bobARN, bobID), recordCert("b2", bobARN, bobID), recordCert("a1", opsARN, opsID),
		recordCert("c1", "arn:aws:iam::"+testAccount+":user/carol", "AIDAAAAAAAAAAAAAAAAA3"))
	if got, _ := f.ListCertificates(bobID, "", 10); len(got) != 2 {
		t.Fatalf("bob has %d certificates, want 2", len(got))
	}
	r := applyAll(t, f, &DeleteUser{Account: testAccount, Name: "bob", RevokedAt: 5}, deleteRole("ops"))
	for _, r := range r {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	for _, serial := range []string{"b1", "b2", "a1"} {
		if !f.CertRevoked(serial) {
			t.Errorf("serial %s not revoked", serial)
		}
		if _, ok := f.IssuedCert(serial); ok {
			t.Errorf("serial %s still recorded as issued", serial)
		}
	}
	if f.CertRevoked("c1") {
		t.Error("carol's certificate was revoked with bob's")
	}
	got := f.RevokedCerts(testAccount, false)
	if len(got) != 3 || got[1].Serial != "b1" || got[1].Owner != bobARN || got[1].RevokedAt != 5 || got[1].Account != testAccount {
		t.Fatalf("deny list %+v", got)
	}
	applyAll(t, f, createUser("bob", bobID2))
	if got, _ := f.ListCertificates(bobID2, "", 10); len(got) != 0 {
		t.Fatalf("the new bob has certificates %+v", got)
	}
}

func TestRecordCertRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		setup        []Command
		cmd          Command
		wantErr      string
		wantExisting bool
	}{
		{"user", []Command{createUser("bob", bobID)}, recordCert("b1", bobARN, bobID), "", false},
		{"role", []Command{createRole("ops", opsID)}, recordCert("b1", opsARN, opsID), "", false},
		{"retry", []Command{createUser("bob", bobID), recordCert("b1", bobARN, bobID)}, recordCert("b1", bobARN, bobID), "", true},
		{"serial collision", []Command{createUser("bob", bobID), createRole("ops", opsID), recordCert("b1", bobARN, bobID)}, recordCert("b1", opsARN, opsID), "ServiceFailure", false},
		{"serial already revoked", []Command{createUser("bob", bobID), revokeAs("b1", testAccount, true)}, recordCert("b1", bobARN, bobID), "ServiceFailure", false},
		{"user missing", nil, recordCert("b1", bobARN, bobID), "NoSuchEntity", false},
		// The certificate was signed for bob before bob was deleted and
		// re-created: its record is refused, so it is never handed out.
		{"user re-created", []Command{createUser("bob", bobID), deleteUser("bob"), createUser("bob", bobID2)}, recordCert("b1", bobARN, bobID), "NoSuchEntity", false},
		{"root", nil, recordCert("b1", rootARN, ""), "ValidationError", false},
		{"leading zero", []Command{createUser("bob", bobID)}, recordCert("0b1", bobARN, bobID), "ValidationError", false},
		{"upper case", []Command{createUser("bob", bobID)}, recordCert("B1", bobARN, bobID), "ValidationError", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := New()
			applyAll(t, f, tt.setup...)
			r := applyAll(t, f, tt.cmd)[0]
			switch {
			case tt.wantErr == "" && r.Err != nil:
				t.Fatalf("refused: %v", r.Err)
			case tt.wantErr != "" && (r.Err == nil || r.Err.Type != tt.wantErr):
				t.Fatalf("got %+v, want %s", r.Err, tt.wantErr)
			case r.Existing != tt.wantExisting:
				t.Fatalf("Existing = %v", r.Existing)
			}
		})
	}
}

// A revocation is decided against the recorded owner of the serial: an
// account root may revoke only its own account's certificates, and cannot
// tell another account's serial from one never issued. The admin account
// may revoke any serial.
func TestRevokeCertIsScopedToTheCertificatesAccount(t *testing.T) {
	t.Parallel()
	setup := []Command{createUser("bob", bobID), recordCert("b1", bobARN, bobID)}
	tests := []struct {
		name         string
		setup        []Command
		cmd          Command
		wantErr      string
		wantExisting bool
		wantAccount  string
	}{
		{"own account", setup, revokeAs("b1", testAccount, false), "", false, testAccount},
		{"own account again", append(setup, revokeAs("b1", testAccount, false)), revokeAs("b1", testAccount, false), "", true, testAccount},
		{"other account", setup, revokeAs("b1", otherAccount, false), "NoSuchEntity", false, ""},
		{"other account, already revoked", append(setup, revokeAs("b1", testAccount, false)), revokeAs("b1", otherAccount, false), "NoSuchEntity", false, ""},
		{"unknown serial", setup, revokeAs("ff", testAccount, false), "NoSuchEntity", false, ""},
		{"admin, other account's serial", setup, revokeAs("b1", otherAccount, true), "", false, testAccount},
		{"admin, unknown serial", nil, revokeAs("ff", otherAccount, true), "", false, ""},
		{"unrecorded serial revoked by the admin", []Command{revokeAs("ff", otherAccount, true)}, revokeAs("ff", testAccount, false), "NoSuchEntity", false, ""},
		// A command from before revocation was scoped applies as it did.
		{"unscoped command", setup, revokeAs("ff", "", false), "", false, ""},
		{"bad serial", nil, revokeAs("xyz", testAccount, true), "ValidationError", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := New()
			applyAll(t, f, tt.setup...)
			r := applyAll(t, f, tt.cmd)[0]
			switch {
			case tt.wantErr == "" && r.Err != nil:
				t.Fatalf("refused: %v", r.Err)
			case tt.wantErr != "":
				if r.Err == nil || r.Err.Type != tt.wantErr {
					t.Fatalf("got %+v, want %s", r, tt.wantErr)
				}
				if strings.Contains(r.Err.Message, testAccount) || strings.Contains(r.Err.Message, "bob") {
					t.Errorf("the refusal reveals the owner: %s", r.Err.Message)
				}
				return
			case r.Existing != tt.wantExisting:
				t.Fatalf("Existing = %v", r.Existing)
			case r.Revoked.Account != tt.wantAccount:
				t.Fatalf("revoked record of account %q, want %q", r.Revoked.Account, tt.wantAccount)
			}
		})
	}
}

func TestRevokedCertsListsOneAccount(t *testing.T) {
	t.Parallel()
	f := New()
	other := "arn:aws:iam::" + otherAccount + ":user/eve"
	applyAll(t, f, createUser("bob", bobID), &CreateUser{User: User{Account: otherAccount,
		Name: "eve", Path: "/", ID: "AIDAAAAAAAAAAAAAAAAA9", ARN: other}},
		recordCert("b1", bobARN, bobID), recordCert("e1", other, "AIDAAAAAAAAAAAAAAAAA9"),
		revokeAs("b1", testAccount, false), revokeAs("e1", otherAccount, false), revokeAs("ff", testAccount, true))
	serials := func(rs []*RevokedCert) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Serial)
		}
		return strings.Join(out, ",")
	}
	for _, tt := range []struct {
		account string
		all     bool
		want    string
	}{
		{testAccount, false, "b1"},
		{otherAccount, false, "e1"},
		{testAccount, true, "b1,e1,ff"},
	} {
		if got := serials(f.RevokedCerts(tt.account, tt.all)); got != tt.want {
			t.Errorf("RevokedCerts(%s, %v) = %s, want %s", tt.account, tt.all, got, tt.want)
		}
	}
}

func TestListCertificatesPaginates(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f, createUser("bob", bobID), createUser("carol", bobID2),
		recordCert("a1", bobARN, bobID), recordCert("a2", bobARN, bobID), recordCert("a3", bobARN, bobID),
		recordCert("a4", "arn:aws:iam::"+testAccount+":user/carol", bobID2))
	var got []string
	after := ""
	for {
		page, more := f.ListCertificates(bobID, after, 2)
		for _, c := range page {
			got = append(got, c.Serial)
		}
		if !more {
			break
		}
		after = page[len(page)-1].Serial
	}
	if strings.Join(got, ",") != "a1,a2,a3" {
		t.Fatalf("pages %v", got)
	}
}

func TestCertSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f, createUser("bob", bobID), createRole("ops", opsID), recordCert("b1", bobARN, bobID),
		recordCert("a1", opsARN, opsID), revokeAs("b1", testAccount, false), deleteRole("ops"))
	want := snapshotBytes(t, f)
	for _, rec := range []string{`{"issued_cert":`, `"principal_id":"` + bobID, `"owner":"` + opsARN} {
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
	// The derived index was rebuilt, and deleting bob revokes b1 still.
	if got, _ := g.ListCertificates(bobID, "", 10); len(got) != 1 {
		t.Fatalf("restored bob has %d certificates", len(got))
	}
	if r := applyAll(t, g, recordCert("b1", bobARN, bobID))[0]; !r.Existing {
		t.Fatalf("retry after restore: %+v", r)
	}
	bad := bytes.Replace(want, []byte(`{"issued_cert":{"serial":"b1"`), []byte(`{"issued_cert":{"serial":""`), 1)
	if err := New().Restore(io.NopCloser(bytes.NewReader(bad))); !errors.Is(err, ErrSnapshotFormat) {
		t.Fatalf("restore of an issued record without serial: %v", err)
	}
}

// PruneCerts forgets the issue records of certificates that expired
// before its cutoff, and their deny-list records; it keeps the others,
// and deny-list records whose expiry the state does not know.
func TestPruneCertsForgetsLongExpiredCertificates(t *testing.T) {
	t.Parallel()
	const notAfter = 1700086400000 // recordCert's expiry
	setup := []Command{createUser("bob", bobID), recordCert("b1", bobARN, bobID), recordCert("b2", bobARN, bobID),
		revokeAs("b1", testAccount, true), revokeAs("ff", testAccount, true)}
	tests := []struct {
		name        string
		before      int64 // the cutoff
		wantDue     int   // CertsToPrune before
		wantPruned  int
		wantIssued  []string // serials still recorded as issued
		wantRevoked []string // serials still on the deny list
	}{
		{"not expired before the cutoff", notAfter, 0, 0, []string{"b1", "b2"}, []string{"b1", "ff"}},
		{"cutoff at the expiry", notAfter - 1, 0, 0, []string{"b1", "b2"}, []string{"b1", "ff"}},
		{"expired before the cutoff", notAfter + 1, 2, 3, nil, []string{"ff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := New()
			applyAll(t, f, setup...)
			if got := f.CertsToPrune(tt.before); got != tt.wantDue {
				t.Fatalf("CertsToPrune = %d", got)
			}
			r := applyAll(t, f, &PruneCerts{Before: tt.before})[0]
			if r.Err != nil || r.Pruned != tt.wantPruned {
				t.Fatalf("PruneCerts = %+v, want %d pruned", r, tt.wantPruned)
			}
			var issued, revoked []string
			for _, s := range []string{"b1", "b2"} {
				if _, ok := f.IssuedCert(s); ok {
					issued = append(issued, s)
				}
			}
			for _, rc := range f.RevokedCerts("", true) {
				revoked = append(revoked, rc.Serial)
			}
			if !slices.Equal(issued, tt.wantIssued) || !slices.Equal(revoked, tt.wantRevoked) {
				t.Fatalf("issued %v, revoked %v; want %v, %v", issued, revoked, tt.wantIssued, tt.wantRevoked)
			}
			if certs, _ := f.ListCertificates(bobID, "", 10); len(certs) != len(tt.wantIssued) {
				t.Fatalf("ListCertificates lists %d certificates", len(certs))
			}
			if again := applyAll(t, f, &PruneCerts{Before: tt.before})[0]; again.Pruned != 0 {
				t.Fatalf("a second PruneCerts pruned %d", again.Pruned)
			}
		})
	}
}
