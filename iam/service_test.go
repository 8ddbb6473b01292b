package iam_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/fsm/fsmtest"
	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/hsm/soft"
	"github.com/trentkms/trent/iam"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/wire"
)

const account = "111122223333"

type env struct {
	svc   *iam.Service
	fsm   *fsm.FSM
	hsm   *soft.HSM
	ca    *identity.CA
	now   time.Time
	root  context.Context
	other context.Context // the root of another account
	admin context.Context // the root of the cluster's admin account
}

// adminAccount is the cluster's admin account in these tests.
const adminAccount = "999988887777"

func newHSM(tb testing.TB) *soft.HSM {
	tb.Helper()
	dir := tb.TempDir()
	h, err := soft.Create(filepath.Join(dir, "state"), soft.InsecureDevKeyFile(filepath.Join(dir, "key"), true))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ca, err := identity.NewCA("test", nil, now)
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{fsm: fsm.New(), hsm: newHSM(tb), ca: ca, now: now,
		root:  identity.NewContext(context.Background(), identity.RootPrincipal(account)),
		other: identity.NewContext(context.Background(), identity.RootPrincipal("444455556666")),
		admin: identity.NewContext(context.Background(), identity.RootPrincipal(adminAccount)),
	}
	e.svc = e.service(tb, e.hsm)
	return e
}

// service returns a Service over e's state with the given HSM.
func (e *env) service(tb testing.TB, h iam.MAC) *iam.Service {
	tb.Helper()
	return e.serviceWith(tb, h, fsmtest.NewLog(e.fsm))
}

// serviceWith returns a Service over e's state proposing through log.
func (e *env) serviceWith(tb testing.TB, h iam.MAC, log iam.Log) *iam.Service {
	tb.Helper()
	svc, err := iam.New(iam.Config{Store: e.fsm, Log: log, HSM: h, CA: e.ca,
		Now: func() time.Time { return e.now }, AdminAccount: adminAccount})
	if err != nil {
		tb.Fatal(err)
	}
	return svc
}

// as returns a context authenticated as the principal with this ARN.
func as(tb testing.TB, arn string) context.Context {
	tb.Helper()
	p, err := identity.ParsePrincipal(arn)
	if err != nil {
		tb.Fatal(err)
	}
	return identity.NewContext(context.Background(), p)
}

func (e *env) createUser(tb testing.TB, name string) *iamv1.User {
	tb.Helper()
	r, err := e.svc.CreateUser(e.root, &iamv1.CreateUserRequest{UserName: name})
	if err != nil {
		tb.Fatal(err)
	}
	return r.User
}

func wantType(tb testing.TB, err error, typ string) {
	tb.Helper()
	if typ == "" {
		if err != nil {
			tb.Fatalf("unexpected error %v", err)
		}
		return
	}
	var ke *wire.Error
	if !errors.As(err, &ke) || ke.Type != typ {
		tb.Fatalf("got error %v, want %s", err, typ)
	}
}

func i32(v int32) *int32 { return &v }

// message returns the caller-visible message of err, which must be a
// *wire.Error.
func message(tb testing.TB, err error) string {
	tb.Helper()
	var we *wire.Error
	if !errors.As(err, &we) {
		tb.Fatalf("got error %v, want a *wire.Error", err)
	}
	return we.Message
}
func i64(v int64) *int64 { return &v }

var (
	userIDPattern = regexp.MustCompile(`^AIDA[A-Z0-9]{17}$`)
	keyIDPattern  = regexp.MustCompile(`^AKIA[A-Z0-9]{16}$`)
)

func TestUserLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r, err := e.svc.CreateUser(e.root, &iamv1.CreateUserRequest{UserName: "alice", Path: "/eng/"})
	wantType(t, err, "")
	u := r.User
	if !userIDPattern.MatchString(u.UserId) || u.Arn != "arn:aws:iam::"+account+":user/eng/alice" ||
		u.Path != "/eng/" || u.UserName != "alice" || u.CreateDate != "2026-03-01T12:00:00.000Z" {
		t.Fatalf("created %v", u)
	}
	e.createUser(t, "Bob")
	e.createUser(t, "carol")

	g, err := e.svc.GetUser(e.root, &iamv1.GetUserRequest{UserName: "ALICE"})
	wantType(t, err, "")
	if g.User.UserId != u.UserId || g.User.Arn != u.Arn {
		t.Fatalf("GetUser = %v, want %v", g.User, u)
	}

	var names []string
	marker, pages := "", 0
	for {
		l, err := e.svc.ListUsers(e.root, &iamv1.ListUsersRequest{MaxItems: i32(2), Marker: marker})
		wantType(t, err, "")
		pages++
		for _, u := range l.Users {
			names = append(names, u.UserName)
		}
		if !l.IsTruncated {
			if l.Marker != "" {
				t.Fatalf("marker %q on the last page", l.Marker)
			}
			break
		}
		marker = l.Marker
	}
	if strings.Join(names, ",") != "alice,Bob,carol" || pages != 2 {
		t.Fatalf("listed %v in %d pages", names, pages)
	}
	l, err := e.svc.ListUsers(e.root, &iamv1.ListUsersRequest{PathPrefix: "/eng/"})
	wantType(t, err, "")
	if len(l.Users) != 1 || l.Users[0].UserName != "alice" {
		t.Fatalf("PathPrefix /eng/ listed %v", l.Users)
	}
	l, err = e.svc.ListUsers(e.other, &iamv1.ListUsersRequest{})
	wantType(t, err, "")
	if len(l.Users) != 0 {
		t.Fatalf("another account sees %v", l.Users)
	}

	_, err = e.svc.DeleteUser(e.root, &iamv1.DeleteUserRequest{UserName: "alice"})
	wantType(t, err, "")
	_, err = e.svc.GetUser(e.root, &iamv1.GetUserRequest{UserName: "alice"})
	wantType(t, err, "NoSuchEntity")
	_, err = e.svc.DeleteUser(e.root, &iamv1.DeleteUserRequest{UserName: "alice"})
	wantType(t, err, "NoSuchEntity")
}

func TestCreateUserTwiceIsEntityAlreadyExists(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.createUser(t, "bob")
	for _, name := range []string{"bob", "BOB"} {
		_, err := e.svc.CreateUser(e.root, &iamv1.CreateUserRequest{UserName: name, Path: "/other/"})
		wantType(t, err, "EntityAlreadyExists")
	}
	g, _ := e.svc.GetUser(e.root, &iamv1.GetUserRequest{UserName: "bob"})
	if g.User.UserId != first.UserId {
		t.Fatal("a refused CreateUser replaced the user")
	}
	// The same name in another account is another user.
	_, err := e.svc.CreateUser(e.other, &iamv1.CreateUserRequest{UserName: "bob"})
	wantType(t, err, "")
}

func TestValidationErrorsChangeNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(t, "bob")
	before := e.fsm.AppliedIndex()
	long := strings.Repeat("a", 65)
	calls := map[string]func() error{
		"empty name": func() error { _, err := e.svc.CreateUser(e.root, &iamv1.CreateUserRequest{}); return err },
		"long name":  func() error { _, err := e.svc.CreateUser(e.root, &iamv1.CreateUserRequest{UserName: long}); return err },
		"bad name": func() error {
			_, err := e.svc.CreateUser(e.root, &iamv1.CreateUserRequest{UserName: "a b"})
			return err
		},
		"path without end": func() error {
			_, err := e.svc.CreateUser(e.root, &iamv1.CreateUserRequest{UserName: "a", Path: "/x"})
			return err
		},
		"path empty seg": func() error {
			_, err := e.svc.CreateUser(e.root, &iamv1.CreateUserRequest{UserName: "a", Path: "/x//"})
			return err
		},
		"path bad char": func() error {
			_, err := e.svc.CreateUser(e.root, &iamv1.CreateUserRequest{UserName: "a", Path: "/a:b/"})
			return err
		},
		"max items zero": func() error { _, err := e.svc.ListUsers(e.root, &iamv1.ListUsersRequest{MaxItems: i32(0)}); return err },
		"max items 1001": func() error {
			_, err := e.svc.ListUsers(e.root, &iamv1.ListUsersRequest{MaxItems: i32(1001)})
			return err
		},
		"bad path prefix": func() error {
			_, err := e.svc.ListUsers(e.root, &iamv1.ListUsersRequest{PathPrefix: "eng"})
			return err
		},
		"empty key id": func() error { _, err := e.svc.DeleteAccessKey(e.root, &iamv1.DeleteAccessKeyRequest{}); return err },
		"short key id": func() error {
			_, err := e.svc.DeleteAccessKey(e.root, &iamv1.DeleteAccessKeyRequest{AccessKeyId: "AKIA"})
			return err
		},
		"bad key user": func() error {
			_, err := e.svc.CreateAccessKey(e.root, &iamv1.CreateAccessKeyRequest{UserName: "a/b"})
			return err
		},
		"validity zero": func() error {
			_, err := e.svc.IssueCertificate(e.root, &iamv1.IssueCertificateRequest{UserName: "bob", ValiditySeconds: i64(0)})
			return err
		},
		"validity too long": func() error {
			_, err := e.svc.IssueCertificate(e.root, &iamv1.IssueCertificateRequest{UserName: "bob", ValiditySeconds: i64(366 * 86400)})
			return err
		},
		"csr not pem": func() error {
			_, err := e.svc.IssueCertificate(e.root, &iamv1.IssueCertificateRequest{UserName: "bob", CertificateSigningRequest: "x"})
			return err
		},
		"csr wrong block": func() error {
			_, err := e.svc.IssueCertificate(e.root, &iamv1.IssueCertificateRequest{UserName: "bob", CertificateSigningRequest: string(e.ca.CertPEM())})
			return err
		},
	}
	for name, call := range calls {
		if err := call(); err == nil || wire.TypeOf(err) != "ValidationError" {
			t.Errorf("%s: got %v, want ValidationError", name, err)
		}
	}
	if e.fsm.AppliedIndex() != before {
		t.Fatal("a refused request proposed a command")
	}
}

func TestOnlyTheRootManagesOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(t, "bob")
	e.createUser(t, "alice")
	bob := as(t, "arn:aws:iam::"+account+":user/bob")
	role := as(t, "arn:aws:iam::"+account+":role/app")
	tests := map[string]func(context.Context) error{
		"CreateUser": func(ctx context.Context) error {
			_, err := e.svc.CreateUser(ctx, &iamv1.CreateUserRequest{UserName: "carol"})
			return err
		},
		"GetUser": func(ctx context.Context) error {
			_, err := e.svc.GetUser(ctx, &iamv1.GetUserRequest{UserName: "alice"})
			return err
		},
		"ListUsers": func(ctx context.Context) error { _, err := e.svc.ListUsers(ctx, &iamv1.ListUsersRequest{}); return err },
		"DeleteUser": func(ctx context.Context) error {
			_, err := e.svc.DeleteUser(ctx, &iamv1.DeleteUserRequest{UserName: "alice"})
			return err
		},
		"CreateAccessKey": func(ctx context.Context) error {
			_, err := e.svc.CreateAccessKey(ctx, &iamv1.CreateAccessKeyRequest{UserName: "alice"})
			return err
		},
		"ListAccessKeys": func(ctx context.Context) error {
			_, err := e.svc.ListAccessKeys(ctx, &iamv1.ListAccessKeysRequest{UserName: "alice"})
			return err
		},
		"DeleteAccessKey": func(ctx context.Context) error {
			_, err := e.svc.DeleteAccessKey(ctx, &iamv1.DeleteAccessKeyRequest{UserName: "alice", AccessKeyId: "AKIAAAAAAAAAAAAAAAAA"})
			return err
		},
		"IssueCertificate": func(ctx context.Context) error {
			_, err := e.svc.IssueCertificate(ctx, &iamv1.IssueCertificateRequest{UserName: "bob"})
			return err
		},
	}
	before := e.fsm.AppliedIndex()
	for op, call := range tests {
		for name, ctx := range map[string]context.Context{"user": bob, "role": role} {
			err := call(ctx)
			wantType(t, err, "AccessDenied")
			if !strings.Contains(message(t, err), "is not authorized to perform: iam:"+op) {
				t.Errorf("%s as %s: message %q", op, name, err)
			}
		}
	}
	if e.fsm.AppliedIndex() != before {
		t.Fatal("a denied request proposed a command")
	}
	// Another account's root does not see this account's users.
	_, err := e.svc.GetUser(e.other, &iamv1.GetUserRequest{UserName: "bob"})
	wantType(t, err, "NoSuchEntity")
	// No principal at all.
	_, err = e.svc.ListUsers(context.Background(), &iamv1.ListUsersRequest{})
	wantType(t, err, wire.UnrecognizedClient)
}

func TestGetUserWithoutNameIsTheCaller(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bobUser := e.createUser(t, "bob")
	r, err := e.svc.GetUser(as(t, bobUser.Arn), &iamv1.GetUserRequest{})
	wantType(t, err, "")
	if r.User.UserId != bobUser.UserId {
		t.Fatalf("GetUser as bob = %v", r.User)
	}
	r, err = e.svc.GetUser(e.root, &iamv1.GetUserRequest{})
	wantType(t, err, "")
	if r.User.Arn != "arn:aws:iam::"+account+":root" || r.User.UserId != account {
		t.Fatalf("GetUser as root = %v", r.User)
	}
	_, err = e.svc.GetUser(as(t, "arn:aws:iam::"+account+":role/app"), &iamv1.GetUserRequest{})
	wantType(t, err, "ValidationError")
}

func TestAccessKeySecretIsDerivedNotStored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bobUser := e.createUser(t, "bob")
	r, err := e.svc.CreateAccessKey(e.root, &iamv1.CreateAccessKeyRequest{UserName: "bob"})
	wantType(t, err, "")
	k := r.AccessKey
	if !keyIDPattern.MatchString(k.AccessKeyId) || len(k.SecretAccessKey) != 40 || k.Status != "Active" ||
		k.UserName != "bob" || k.CreateDate != "2026-03-01T12:00:00.000Z" {
		t.Fatalf("created %v", k)
	}

	secret, p, err := e.svc.AccessKeys().Lookup(context.Background(), k.AccessKeyId)
	if err != nil || string(secret) != k.SecretAccessKey || p.ARN != bobUser.Arn || p.Kind != identity.KindUser {
		t.Fatalf("Lookup = %q, %v, %v", secret, p, err)
	}
	// Another Service over the same state and HSM (another node) derives
	// the same secret; one whose HSM has another domain key does not.
	again, _, err := e.service(t, e.hsm).AccessKeys().Lookup(context.Background(), k.AccessKeyId)
	if err != nil || string(again) != k.SecretAccessKey {
		t.Fatalf("same domain: %q, %v", again, err)
	}
	otherDomain, _, err := e.service(t, newHSM(t)).AccessKeys().Lookup(context.Background(), k.AccessKeyId)
	if err != nil || string(otherDomain) == k.SecretAccessKey {
		t.Fatalf("other domain: %q, %v", otherDomain, err)
	}

	// Neither the replicated state nor a listing holds the secret.
	snap, err := e.fsm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink bytes.Buffer
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sink.Bytes(), []byte(k.SecretAccessKey)) || !bytes.Contains(sink.Bytes(), []byte(k.AccessKeyId)) {
		t.Fatal("the snapshot holds the secret, or lacks the key")
	}
	l, err := e.svc.ListAccessKeys(e.root, &iamv1.ListAccessKeysRequest{UserName: "bob"})
	wantType(t, err, "")
	if len(l.AccessKeyMetadata) != 1 || l.AccessKeyMetadata[0].AccessKeyId != k.AccessKeyId || strings.Contains(l.String(), k.SecretAccessKey) {
		t.Fatalf("listed %v", l)
	}

	_, _, err = e.svc.AccessKeys().Lookup(context.Background(), "AKIAUNKNOWNUNKNOWN00")
	if !errors.Is(err, iam.ErrUnknownAccessKey) {
		t.Fatalf("unknown key: %v", err)
	}
	_, err = e.svc.DeleteAccessKey(e.root, &iamv1.DeleteAccessKeyRequest{UserName: "bob", AccessKeyId: k.AccessKeyId})
	wantType(t, err, "")
	if _, _, err = e.svc.AccessKeys().Lookup(context.Background(), k.AccessKeyId); !errors.Is(err, iam.ErrUnknownAccessKey) {
		t.Fatalf("deleted key: %v", err)
	}
	_, err = e.svc.DeleteAccessKey(e.root, &iamv1.DeleteAccessKeyRequest{UserName: "bob", AccessKeyId: k.AccessKeyId})
	wantType(t, err, "NoSuchEntity")
}

func TestAccessKeysForTheCaller(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bobUser := e.createUser(t, "bob")
	e.createUser(t, "alice")
	bob := as(t, bobUser.Arn)

	// A user manages its own keys, with or without naming itself.
	r, err := e.svc.CreateAccessKey(bob, &iamv1.CreateAccessKeyRequest{})
	wantType(t, err, "")
	if r.AccessKey.UserName != "bob" {
		t.Fatalf("created %v", r.AccessKey)
	}
	_, err = e.svc.CreateAccessKey(bob, &iamv1.CreateAccessKeyRequest{UserName: "bob"})
	wantType(t, err, "")
	_, err = e.svc.CreateAccessKey(bob, &iamv1.CreateAccessKeyRequest{})
	wantType(t, err, "LimitExceeded")
	l, err := e.svc.ListAccessKeys(bob, &iamv1.ListAccessKeysRequest{MaxItems: i32(1)})
	wantType(t, err, "")
	if len(l.AccessKeyMetadata) != 1 || !l.IsTruncated || l.Marker == "" {
		t.Fatalf("first page %v", l)
	}
	l2, err := e.svc.ListAccessKeys(bob, &iamv1.ListAccessKeysRequest{Marker: l.Marker})
	wantType(t, err, "")
	if len(l2.AccessKeyMetadata) != 1 || l2.IsTruncated || l2.AccessKeyMetadata[0].AccessKeyId <= l.Marker {
		t.Fatalf("second page %v", l2)
	}
	// Bob cannot delete alice's key, even knowing its id.
	ak, err := e.svc.CreateAccessKey(e.root, &iamv1.CreateAccessKeyRequest{UserName: "alice"})
	wantType(t, err, "")
	_, err = e.svc.DeleteAccessKey(bob, &iamv1.DeleteAccessKeyRequest{AccessKeyId: ak.AccessKey.AccessKeyId})
	wantType(t, err, "NoSuchEntity")

	// The root may have keys of its own; they authenticate as the root.
	rr, err := e.svc.CreateAccessKey(e.root, &iamv1.CreateAccessKeyRequest{})
	wantType(t, err, "")
	if rr.AccessKey.UserName != "" {
		t.Fatalf("root key %v", rr.AccessKey)
	}
	_, p, err := e.svc.AccessKeys().Lookup(context.Background(), rr.AccessKey.AccessKeyId)
	if err != nil || !p.IsRoot() || p.Account != account {
		t.Fatalf("root key authenticates as %v, %v", p, err)
	}

	// Deleting a user deletes its keys; its principal no longer exists.
	_, err = e.svc.DeleteUser(e.root, &iamv1.DeleteUserRequest{UserName: "bob"})
	wantType(t, err, "")
	for _, k := range append(l.AccessKeyMetadata, l2.AccessKeyMetadata...) {
		if _, _, err := e.svc.AccessKeys().Lookup(context.Background(), k.AccessKeyId); !errors.Is(err, iam.ErrUnknownAccessKey) {
			t.Fatalf("key %s of a deleted user: %v", k.AccessKeyId, err)
		}
	}
	pb, _ := identity.ParsePrincipal(bobUser.Arn)
	if e.svc.Exists(pb) || !e.svc.Exists(identity.RootPrincipal(account)) {
		t.Fatal("Exists disagrees with the state")
	}
	_, err = e.svc.CreateAccessKey(bob, &iamv1.CreateAccessKeyRequest{})
	wantType(t, err, "NoSuchEntity")
}

func newCSR(tb testing.TB) (*ecdsa.PrivateKey, string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		tb.Fatal(err)
	}
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func TestIssueCertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.createUser(t, "bob")
	key, csr := newCSR(t)

	check := func(t *testing.T, r *iamv1.IssueCertificateResponse, ttl time.Duration) *x509.Certificate {
		t.Helper()
		cert, err := identity.ParseCertPEM([]byte(r.CertificatePem))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: e.ca.Pool(), CurrentTime: e.now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Fatalf("certificate does not verify against the CA: %v", err)
		}
		p, err := identity.PrincipalFromCert(cert)
		if err != nil || p.ARN != u.Arn || p.ID != u.UserId || r.Principal != u.Arn {
			t.Fatalf("certificate names %v (%v), response %q; want %s", p, err, r.Principal, u.Arn)
		}
		if !cert.NotAfter.Equal(e.now.Add(ttl)) {
			t.Fatalf("expires %v, want %v", cert.NotAfter, e.now.Add(ttl))
		}
		if r.CaPem != string(e.ca.CertPEM()) {
			t.Fatal("CaPem is not the cluster CA")
		}
		return cert
	}

	t.Run("with_CSR", func(t *testing.T) {
		r, err := e.svc.IssueCertificate(e.root, &iamv1.IssueCertificateRequest{UserName: "bob", CertificateSigningRequest: csr})
		wantType(t, err, "")
		cert := check(t, r, 24*time.Hour)
		if !key.PublicKey.Equal(cert.PublicKey) || r.PrivateKeyPem != "" {
			t.Fatal("the certificate is not for the CSR's key, or a private key was returned")
		}
	})
	t.Run("without_CSR", func(t *testing.T) {
		r, err := e.svc.IssueCertificate(e.root, &iamv1.IssueCertificateRequest{UserName: "BOB", ValiditySeconds: i64(3600)})
		wantType(t, err, "")
		check(t, r, time.Hour)
		if _, err := tls.X509KeyPair([]byte(r.CertificatePem), []byte(r.PrivateKeyPem)); err != nil {
			t.Fatalf("returned key does not match the certificate: %v", err)
		}
		if err := identity.WriteCredentials(t.TempDir(), []byte(r.CaPem), []byte(r.CertificatePem), []byte(r.PrivateKeyPem)); err != nil {
			t.Fatalf("response is not a credential set: %v", err)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		_, err := e.svc.IssueCertificate(e.root, &iamv1.IssueCertificateRequest{UserName: "nobody", CertificateSigningRequest: csr})
		wantType(t, err, "NoSuchEntity")
		_, err = e.svc.IssueCertificate(as(t, u.Arn), &iamv1.IssueCertificateRequest{UserName: "bob", CertificateSigningRequest: csr})
		wantType(t, err, "AccessDenied")
		_, err = e.svc.IssueCertificate(e.other, &iamv1.IssueCertificateRequest{UserName: "bob", CertificateSigningRequest: csr})
		wantType(t, err, "NoSuchEntity")
		tampered := strings.Replace(csr, csr[40:44], "AAAA", 1)
		_, err = e.svc.IssueCertificate(e.root, &iamv1.IssueCertificateRequest{UserName: "bob", CertificateSigningRequest: tampered})
		wantType(t, err, "ValidationError")
	})
}

// Every certificate IssueCertificate hands out is recorded under its
// principal and listed by ListCertificates, for users and roles.
func TestListCertificates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bob := e.createUser(t, "bob")
	e.createUser(t, "carol")
	role, err := e.svc.CreateRole(e.root, &iamv1.CreateRoleRequest{RoleName: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	var issued []string
	for range 3 {
		issued = append(issued, e.issueSerial(t, "bob"))
	}
	slices.Sort(issued)
	e.issueSerial(t, "carol")
	rr, err := e.svc.IssueCertificate(e.root, &iamv1.IssueCertificateRequest{RoleName: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := identity.ParseCertPEM([]byte(rr.CertificatePem))
	if p, err := identity.PrincipalFromCert(rc); err != nil || p.ARN != role.Role.Arn || p.ID != role.Role.RoleId {
		t.Fatalf("role certificate names %+v (%v)", p, err)
	}

	// Pages of one, as the root.
	var got []string
	marker := ""
	for {
		l, err := e.svc.ListCertificates(e.root, &iamv1.ListCertificatesRequest{UserName: "bob", MaxItems: i32(1), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range l.Certificates {
			if c.Arn != bob.Arn || c.PrincipalId != bob.UserId || c.Status != "Active" || c.IssueDate == "" || c.Expiration == "" {
				t.Fatalf("certificate %+v", c)
			}
			got = append(got, c.SerialNumber)
		}
		if !l.IsTruncated {
			break
		}
		marker = l.Marker
	}
	if !slices.Equal(got, issued) {
		t.Fatalf("listed %v, want %v", got, issued)
	}
	// Bob lists his own, and sees a revoked one as Revoked.
	if _, err := e.svc.RevokeCert(e.root, &iamv1.RevokeCertRequest{SerialNumber: issued[0]}); err != nil {
		t.Fatal(err)
	}
	l, err := e.svc.ListCertificates(as(t, bob.Arn), &iamv1.ListCertificatesRequest{})
	if err != nil || len(l.Certificates) != 3 || l.Certificates[0].Status != "Revoked" || l.Certificates[1].Status != "Active" {
		t.Fatalf("bob's own list: %v %+v", err, l)
	}
	l, err = e.svc.ListCertificates(e.root, &iamv1.ListCertificatesRequest{RoleName: "ops"})
	if err != nil || len(l.Certificates) != 1 || l.Certificates[0].SerialNumber != rc.SerialNumber.Text(16) {
		t.Fatalf("role list: %v %+v", err, l)
	}
	for _, tt := range []struct {
		name string
		ctx  context.Context
		req  *iamv1.ListCertificatesRequest
		want string
	}{
		{"another user's", as(t, bob.Arn), &iamv1.ListCertificatesRequest{UserName: "carol"}, wire.IAMAccessDenied},
		{"a role's, as a user", as(t, bob.Arn), &iamv1.ListCertificatesRequest{RoleName: "ops"}, wire.IAMAccessDenied},
		{"another account's", e.other, &iamv1.ListCertificatesRequest{UserName: "bob"}, wire.NoSuchEntity},
		{"root without a name", e.root, &iamv1.ListCertificatesRequest{}, wire.IAMValidation},
		{"both names", e.root, &iamv1.ListCertificatesRequest{UserName: "bob", RoleName: "ops"}, wire.IAMValidation},
		{"max items", e.root, &iamv1.ListCertificatesRequest{UserName: "bob", MaxItems: i32(0)}, wire.IAMValidation},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.ListCertificates(tt.ctx, tt.req)
			wantType(t, err, tt.want)
		})
	}

	// Deleting bob revokes every certificate he had; a new bob has none.
	if _, err := e.svc.DeleteUser(e.root, &iamv1.DeleteUserRequest{UserName: "bob"}); err != nil {
		t.Fatal(err)
	}
	for _, serial := range issued {
		if !e.fsm.CertRevoked(serial) {
			t.Errorf("serial %s of deleted bob not revoked", serial)
		}
	}
	e.createUser(t, "bob")
	if l, err := e.svc.ListCertificates(e.root, &iamv1.ListCertificatesRequest{UserName: "bob"}); err != nil || len(l.Certificates) != 0 {
		t.Fatalf("the new bob's list: %v %+v", err, l)
	}
}

// deletingLog deletes user name just before the first RecordCert applies,
// as a DeleteUser racing an IssueCertificate would.
type deletingLog struct {
	*fsmtest.Log
	name string
	once sync.Once
}

func (l *deletingLog) Apply(ctx context.Context, cmd []byte) (any, uint64, error) {
	if c, err := fsm.Decode(cmd); err == nil && c.Op() == fsm.OpRecordCert {
		l.once.Do(func() {
			del, _ := fsm.Encode(&fsm.DeleteUser{Account: account, Name: l.name})
			l.Log.Apply(ctx, del)
		})
	}
	return l.Log.Apply(ctx, cmd)
}

// A certificate signed for a user that is deleted before its serial is
// recorded is never handed out.
func TestIssueCertificateRacingDeleteUserHandsOutNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(t, "bob")
	svc := e.serviceWith(t, e.hsm, &deletingLog{Log: fsmtest.NewLog(e.fsm), name: "bob"})
	r, err := svc.IssueCertificate(e.root, &iamv1.IssueCertificateRequest{UserName: "bob"})
	wantType(t, err, wire.NoSuchEntity)
	if r != nil {
		t.Fatalf("a certificate was handed out: %+v", r)
	}
}

func TestNewRequiresDependencies(t *testing.T) {
	t.Parallel()
	if _, err := iam.New(iam.Config{}); err == nil {
		t.Fatal("New accepted an empty Config")
	}
}
