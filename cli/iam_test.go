package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/wire"
)

const (
	fakeIAMDate   = "2026-03-01T12:00:00.000Z"
	fakeIAMSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
)

// fakeIAM is an in-memory IdentityService with deterministic ids and
// dates, and a real CA for IssueCertificate.
type fakeIAM struct {
	iamv1connect.UnimplementedIdentityServiceHandler
	ca  *identity.CA
	now time.Time

	mu    sync.Mutex // guards the following fields
	users []*iamv1.User
	keys  []*iamv1.AccessKeyMetadata
	certs []*iamv1.IssueCertificateRequest
	n     int
	// policies holds inline policies by "user/NAME/POLICY" (authz_test.go).
	policies map[string]string
}

var _ iamv1connect.IdentityServiceHandler = (*fakeIAM)(nil)

func newFakeIAM(tb testing.TB) *fakeIAM {
	tb.Helper()
	now := time.Now()
	ca, err := identity.NewCA("fake", nil, now.Add(-time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	return &fakeIAM{ca: ca, now: now}
}

func iamError(code connect.Code, typ, msg string) error {
	err := connect.NewError(code, errors.New(msg))
	err.Meta().Set(wire.ErrorTypeHeader, typ)
	return err
}

func noSuchUser(name string) error {
	return iamError(connect.CodeNotFound, "NoSuchEntity", "The user with name "+name+" cannot be found.")
}

// user finds a user by name; the caller holds f.mu.
func (f *fakeIAM) user(name string) (*iamv1.User, error) {
	for _, u := range f.users {
		if strings.EqualFold(u.UserName, name) {
			return u, nil
		}
	}
	return nil, noSuchUser(name)
}

func (f *fakeIAM) CreateUser(_ context.Context, req *iamv1.CreateUserRequest) (*iamv1.CreateUserResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.user(req.UserName); err == nil {
		return nil, iamError(connect.CodeAlreadyExists, "EntityAlreadyExists", "User with name "+req.UserName+" already exists.")
	}
	path := req.Path
	if path == "" {
		path = "/"
	}
	f.n++
	u := &iamv1.User{Path: path, UserName: req.UserName, UserId: fmt.Sprintf("AIDA%016d", f.n),
		Arn: "arn:aws:iam::" + fakeAccount + ":user" + path + req.UserName, CreateDate: fakeIAMDate}
	f.users = append(f.users, u)
	return &iamv1.CreateUserResponse{User: u}, nil
}

func (f *fakeIAM) GetUser(_ context.Context, req *iamv1.GetUserRequest) (*iamv1.GetUserResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, err := f.user(req.UserName)
	if err != nil {
		return nil, err
	}
	return &iamv1.GetUserResponse{User: u}, nil
}

func (f *fakeIAM) ListUsers(context.Context, *iamv1.ListUsersRequest) (*iamv1.ListUsersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &iamv1.ListUsersResponse{Users: f.users}, nil
}

func (f *fakeIAM) DeleteUser(_ context.Context, req *iamv1.DeleteUserRequest) (*iamv1.DeleteUserResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, err := f.user(req.UserName)
	if err != nil {
		return nil, err
	}
	f.users = slicesDelete(f.users, u)
	return &iamv1.DeleteUserResponse{}, nil
}

func slicesDelete[T comparable](s []T, v T) []T {
	var out []T
	for _, e := range s {
		if e != v {
			out = append(out, e)
		}
	}
	return out
}

func (f *fakeIAM) CreateAccessKey(_ context.Context, req *iamv1.CreateAccessKeyRequest) (*iamv1.CreateAccessKeyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.UserName != "" {
		if _, err := f.user(req.UserName); err != nil {
			return nil, err
		}
	}
	f.n++
	k := &iamv1.AccessKeyMetadata{UserName: req.UserName, AccessKeyId: fmt.Sprintf("AKIA%016d", f.n), Status: "Active", CreateDate: fakeIAMDate}
	f.keys = append(f.keys, k)
	return &iamv1.CreateAccessKeyResponse{AccessKey: &iamv1.AccessKey{
		UserName: k.UserName, AccessKeyId: k.AccessKeyId, Status: k.Status, SecretAccessKey: fakeIAMSecret, CreateDate: k.CreateDate,
	}}, nil
}

func (f *fakeIAM) ListAccessKeys(_ context.Context, req *iamv1.ListAccessKeysRequest) (*iamv1.ListAccessKeysResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &iamv1.ListAccessKeysResponse{}
	for _, k := range f.keys {
		if k.UserName == req.UserName {
			resp.AccessKeyMetadata = append(resp.AccessKeyMetadata, k)
		}
	}
	return resp, nil
}

func (f *fakeIAM) DeleteAccessKey(_ context.Context, req *iamv1.DeleteAccessKeyRequest) (*iamv1.DeleteAccessKeyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.keys {
		if k.AccessKeyId == req.AccessKeyId && k.UserName == req.UserName {
			f.keys = slicesDelete(f.keys, k)
			return &iamv1.DeleteAccessKeyResponse{}, nil
		}
	}
	return nil, iamError(connect.CodeNotFound, "NoSuchEntity", "The Access Key with id "+req.AccessKeyId+" cannot be found.")
}

// ListCertificates lists two fixed certificates of an existing user.
func (f *fakeIAM) ListCertificates(_ context.Context, req *iamv1.ListCertificatesRequest) (*iamv1.ListCertificatesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, err := f.user(req.UserName)
	if err != nil {
		return nil, err
	}
	resp := &iamv1.ListCertificatesResponse{}
	for i, status := range []string{"Revoked", "Active"} {
		resp.Certificates = append(resp.Certificates, &iamv1.Certificate{SerialNumber: fmt.Sprintf("5eed%d", i), Arn: u.Arn, PrincipalId: u.UserId,
			IssueDate: "2026-03-01T12:00:00.000Z", Expiration: "2026-03-02T12:00:00.000Z", Status: status})
	}
	return resp, nil
}

// IssueCertificate signs CSRs only: the CLI must never need a server key.
func (f *fakeIAM) IssueCertificate(_ context.Context, req *iamv1.IssueCertificateRequest) (*iamv1.IssueCertificateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.certs = append(f.certs, req)
	u, err := f.user(req.UserName)
	if err != nil {
		return nil, err
	}
	p, err := identity.ParsePrincipal(u.Arn)
	if err != nil {
		return nil, err
	}
	csr, err := parseCSRForTest(req.CertificateSigningRequest)
	if err != nil {
		return nil, iamError(connect.CodeInvalidArgument, "ValidationError", err.Error())
	}
	der, err := f.ca.SignCSR(csr, p, f.now, time.Duration(req.GetValiditySeconds())*time.Second)
	if err != nil {
		return nil, iamError(connect.CodeInvalidArgument, "ValidationError", err.Error())
	}
	return &iamv1.IssueCertificateResponse{CertificatePem: string(identity.EncodeCertPEM(der)), CaPem: string(f.ca.CertPEM()), Principal: u.Arn}, nil
}

// parseCSRForTest returns the DER of a PEM certificate request.
func parseCSRForTest(s string) ([]byte, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("not a PEM certificate request")
	}
	return block.Bytes, nil
}

// newServerFixture serves a KMS and an IAM handler behind an HTTP/2 mTLS
// server, like newFixture.
func newServerFixture(tb testing.TB, kmsFake *fakeKMS, handlers ...func(*http.ServeMux)) *fixture {
	tb.Helper()
	fx := &fixture{fake: kmsFake, creds: newCreds(tb)}
	mux := http.NewServeMux()
	mux.Handle(newKMSHandler(kmsFake))
	for _, h := range handlers {
		h(mux)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{fx.creds.serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    fx.creds.pool,
		MinVersion:   tls.VersionTLS12,
	}
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	fx.url = srv.URL
	return fx
}

// iamFixture is a fixture whose server also serves fake IAM.
func iamFixture(tb testing.TB) (*fixture, *fakeIAM) {
	tb.Helper()
	fi := newFakeIAM(tb)
	fx := newServerFixture(tb, newFakeKMS(), func(mux *http.ServeMux) {
		mux.Handle(iamv1connect.NewIdentityServiceHandler(fi))
	})
	return fx, fi
}

func TestIAMGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup [][]string
		args  []string
	}{
		{
			name: "iam-create-user",
			args: []string{"iam", "create-user", "--user-name", "bob", "--path", "/eng/"},
		},
		{
			name:  "iam-get-user",
			setup: [][]string{{"iam", "create-user", "--user-name", "bob"}},
			args:  []string{"iam", "get-user", "--user-name", "bob"},
		},
		{
			name:  "iam-get-user-not-found",
			setup: [][]string{{"iam", "create-user", "--user-name", "bob"}},
			args:  []string{"iam", "get-user", "--user-name", "alice"},
		},
		{
			name:  "iam-list-users",
			setup: [][]string{{"iam", "create-user", "--user-name", "alice"}, {"iam", "create-user", "--user-name", "bob", "--path", "/eng/"}},
			args:  []string{"iam", "list-users"},
		},
		{
			name:  "iam-list-users-text",
			setup: [][]string{{"iam", "create-user", "--user-name", "alice"}, {"iam", "create-user", "--user-name", "bob", "--path", "/eng/"}},
			args:  []string{"iam", "list-users", "--output", "text"},
		},
		{
			name: "iam-list-users-empty",
			args: []string{"iam", "list-users"},
		},
		{
			name:  "iam-create-access-key",
			setup: [][]string{{"iam", "create-user", "--user-name", "bob"}},
			args:  []string{"iam", "create-access-key", "--user-name", "bob"},
		},
		{
			name: "iam-create-access-key-self",
			args: []string{"iam", "create-access-key"},
		},
		{
			name:  "iam-list-access-keys",
			setup: [][]string{{"iam", "create-user", "--user-name", "bob"}, {"iam", "create-access-key", "--user-name", "bob"}, {"iam", "create-access-key", "--user-name", "bob"}},
			args:  []string{"iam", "list-access-keys", "--user-name", "bob"},
		},
		{
			name:  "iam-delete-access-key",
			setup: [][]string{{"iam", "create-user", "--user-name", "bob"}, {"iam", "create-access-key", "--user-name", "bob"}},
			args:  []string{"iam", "delete-access-key", "--user-name", "bob", "--access-key-id", "AKIA0000000000000002"},
		},
		{
			name:  "iam-list-certificates",
			setup: [][]string{{"iam", "create-user", "--user-name", "bob"}},
			args:  []string{"iam", "list-certificates", "--user-name", "bob"},
		},
		{
			name:  "iam-list-certificates-text",
			setup: [][]string{{"iam", "create-user", "--user-name", "bob"}},
			args:  []string{"iam", "list-certificates", "--user-name", "bob", "--output", "text"},
		},
		{
			name:  "iam-delete-user",
			setup: [][]string{{"iam", "create-user", "--user-name", "bob"}},
			args:  []string{"iam", "delete-user", "--user-name", "bob"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fx, _ := iamFixture(t)
			for _, args := range tt.setup {
				if code, _, stderr := fx.run(t, args...); code != 0 {
					t.Fatalf("setup %v: exit %d: %s", args, code, stderr)
				}
			}
			code, stdout, stderr := fx.run(t, tt.args...)
			got := stdout
			if code != 0 || stderr != "" {
				got = fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", code, stdout, stderr)
			}
			checkGolden(t, tt.name, got)
		})
	}
}

func TestIssueCert(t *testing.T) {
	t.Parallel()
	fx, fi := iamFixture(t)
	fx.run(t, "iam", "create-user", "--user-name", "bob", "--path", "/eng/")
	out := filepath.Join(t.TempDir(), "bob")
	code, stdout, stderr := fx.run(t, "iam", "issue-cert", "--user-name", "bob", "--out", out, "--validity", "2h")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	const arn = "arn:aws:iam::" + fakeAccount + ":user/eng/bob"
	if stdout != arn+"\n" {
		t.Fatalf("stdout %q, want the ARN", stdout)
	}
	pool, cert, err := identity.LoadCredentials(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("certificate does not verify against ca.pem: %v", err)
	}
	if p, err := identity.PrincipalFromCert(cert.Leaf); err != nil || p.ARN != arn {
		t.Fatalf("certificate names %v, %v", p, err)
	}
	if want := fi.now.Add(2 * time.Hour).Truncate(time.Second); !cert.Leaf.NotAfter.Equal(want) {
		t.Fatalf("expires %v, want %v (2h)", cert.Leaf.NotAfter, want)
	}
	// The server got a CSR and a lifetime, never a key.
	req := fi.certs[0]
	if !strings.HasPrefix(req.CertificateSigningRequest, "-----BEGIN CERTIFICATE REQUEST-----") || req.GetValiditySeconds() != 7200 {
		t.Fatalf("request %v", req)
	}
	keyPEM, err := os.ReadFile(filepath.Join(out, identity.KeyFile))
	if err != nil || bytes.Contains([]byte(req.String()), keyPEM[40:80]) {
		t.Fatal("the private key was sent")
	}

	// An existing key is not replaced without --force.
	code, _, stderr = fx.run(t, "iam", "issue-cert", "--user-name", "bob", "--out", out)
	if code != exitError || !strings.Contains(stderr, "pass --force") {
		t.Fatalf("second issue-cert: exit %d: %s", code, stderr)
	}
	after, _ := os.ReadFile(filepath.Join(out, identity.KeyFile))
	if !bytes.Equal(after, keyPEM) {
		t.Fatal("the key was replaced")
	}
	if code, _, stderr := fx.run(t, "iam", "issue-cert", "--user-name", "bob", "--out", out, "--force"); code != 0 {
		t.Fatalf("--force: exit %d: %s", code, stderr)
	}

	// A service error is reported like any other, and nothing is written.
	empty := filepath.Join(t.TempDir(), "nobody")
	code, _, stderr = fx.run(t, "iam", "issue-cert", "--user-name", "nobody", "--out", empty)
	if code != exitError || !strings.Contains(stderr, "An error occurred (NoSuchEntity) when calling the IssueCertificate operation") {
		t.Fatalf("unknown user: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(empty); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a failed issue-cert wrote files")
	}
}

func TestIAMUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"no-verb", []string{"iam"}, []string{"iam: missing verb", "issue-cert", "create-access-key"}},
		{"unknown-verb", []string{"iam", "assume-role"}, []string{`unknown verb "assume-role"`, "valid verbs: create-access-key, create-role, create-user,"}},
		{"missing-required", []string{"iam", "create-user"}, []string{"required: --user-name", "Run 'trent iam create-user --help'"}},
		{"unknown-flag", []string{"iam", "delete-user", "--name", "x"}, []string{"unknown option --name for delete-user", "Run 'trent iam delete-user --help'"}},
		{"issue-cert-missing", []string{"iam", "issue-cert", "--user-name", "bob"}, []string{"required: --out"}},
		{"issue-cert-validity", []string{"iam", "issue-cert", "--user-name", "bob", "--out", "d", "--validity", "1.5s"}, []string{"whole number of seconds"}},
		{"issue-cert-validity-too-long", []string{"iam", "issue-cert", "--user-name", "bob", "--out", "d", "--validity", "8761h"}, []string{"--validity must be at most 8760h (a year), got 8761h0m0s"}},
		{"issue-cert-positional", []string{"iam", "issue-cert", "bob"}, []string{`unexpected argument "bob"`}},
		{"issue-cert-user-and-role", []string{"iam", "issue-cert", "--user-name", "bob", "--role-name", "ops", "--out", "d"}, []string{"cannot be used together"}},
		{"grants-no-verb", []string{"grants"}, []string{"grants: missing verb", "find-duplicates"}},
		{"grants-unknown-verb", []string{"grants", "list"}, []string{`unknown verb "list"`}},
		{"grants-yes-alone", []string{"grants", "find-duplicates", "--yes"}, []string{"--yes only applies with --retire-extras"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runTrent(t, nil, tt.args...)
			if code != exitUsage || stdout != "" {
				t.Errorf("exit %d, stdout %q; want %d and no output", code, stdout, exitUsage)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestIAMHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"iam", "help"}, "issue-cert"},
		{[]string{"iam", "--help"}, "Verbs:"},
		{[]string{"iam", "create-user", "--help"}, "usage: trent iam create-user --user-name <value>"},
		{[]string{"iam", "issue-cert", "--help"}, "never leaves this machine"},
		{[]string{"grants", "help"}, "find-duplicates"},
		{[]string{"grants", "find-duplicates", "--help"}, "--retire-extras"},
		{[]string{"--help"}, "iam <verb>"},
	}
	for _, tt := range tests {
		code, stdout, stderr := runTrent(t, nil, tt.args...)
		if code != 0 || !strings.Contains(stdout, tt.want) || stderr != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout lacks %q:\n%s", tt.args, code, stderr, tt.want, stdout)
		}
	}
}

// TestEveryIAMRPCHasAVerb keeps the iam and authz verb tables in step
// with the service: every RPC has a verb (IssueCertificate is issue-cert,
// Explain is authz explain).
func TestEveryIAMRPCHasAVerb(t *testing.T) {
	t.Parallel()
	methods := iamv1.File_trent_iam_v1_iam_proto.Services().ByName("IdentityService").Methods()
	byOp := map[string]*verb{}
	verbs := append(slices.Clone(iamVerbs.verbs), authzVerbs.verbs...)
	for _, v := range verbs {
		byOp[v.op] = v
	}
	for i := range methods.Len() {
		m := methods.Get(i)
		v := byOp[string(m.Name())]
		if v == nil {
			t.Errorf("RPC %s has no verb", m.Name())
			continue
		}
		if v.run == nil && (v.newReq().ProtoReflect().Descriptor() != m.Input() || len(v.flags) != m.Input().Fields().Len()) {
			t.Errorf("verb %s does not match RPC %s", v.name, m.Name())
		}
	}
	if got, want := len(verbs), methods.Len(); got != want {
		t.Errorf("%d verbs for %d RPCs", got, want)
	}
}

// newKMSHandler mounts a fake KMS, with RevokeGrant.
func newKMSHandler(f *fakeKMS) (string, http.Handler) {
	return kmsv1connect.NewKeyManagementServiceHandler(revokingKMS{f})
}
