package server_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/server"
	"github.com/trentkms/trent/wire"
)

// iamAs returns an IAM client of s that authenticates with hc.
func iamAs(s *server.Server, hc *http.Client) iamv1connect.IdentityServiceClient {
	return iamv1connect.NewIdentityServiceClient(hc, "https://"+s.APIAddr())
}

// wantUnauthenticated fails unless err is the API's refusal of the
// client certificate, saying why.
func wantUnauthenticated(t *testing.T, err error, why string) {
	t.Helper()
	if connect.CodeOf(err) != connect.CodeUnauthenticated || !strings.Contains(connectMessage(err), why) {
		t.Fatalf("got %v, want Unauthenticated saying %q", err, why)
	}
}

// A certificate names a principal by ARN and unique id: once the user or
// role is deleted, every node refuses it, and a user re-created under the
// same name is a new identity that the old certificate does not reach.
// Through the real TLS authentication path of a node.
func TestDeletedPrincipalsCertificatesAreRefused(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	defer s.Close()
	ctx := context.Background()
	admin := iamAs(s, adminHTTP(t, dir))

	oldBob := iamAs(s, clientForPrincipal(t, s, dir, "arn:aws:iam::111122223333:user/bob"))
	if r, err := oldBob.GetUser(ctx, &iamv1.GetUserRequest{}); err != nil || r.User.UserName != "bob" {
		t.Fatalf("bob before the delete: %v", err)
	}
	if _, err := admin.DeleteUser(ctx, &iamv1.DeleteUserRequest{UserName: "bob"}); err != nil {
		t.Fatal(err)
	}
	// The same client, perhaps on the same connection: checked per request.
	_, err := oldBob.GetUser(ctx, &iamv1.GetUserRequest{})
	wantUnauthenticated(t, err, "revoked")

	newBob := iamAs(s, clientForPrincipal(t, s, dir, "arn:aws:iam::111122223333:user/bob"))
	if _, err := newBob.GetUser(ctx, &iamv1.GetUserRequest{}); err != nil {
		t.Fatalf("the new bob's own certificate: %v", err)
	}
	_, err = oldBob.GetUser(ctx, &iamv1.GetUserRequest{})
	wantUnauthenticated(t, err, "revoked")
	l, err := admin.ListCertificates(ctx, &iamv1.ListCertificatesRequest{UserName: "bob"})
	if err != nil || len(l.Certificates) != 1 || l.Certificates[0].Status != "Active" {
		t.Fatalf("the new bob's certificates: %v %+v", err, l)
	}

	// A role's certificate: authenticated (and denied by policy) while the
	// role exists, refused once it is deleted.
	ops := client(t, s, clientForPrincipal(t, s, dir, "arn:aws:iam::111122223333:role/ops"))
	_, err = ops.ListKeys(ctx, &kmsv1.ListKeysRequest{})
	assertAWSError(t, err, connect.CodePermissionDenied, "AccessDeniedException")
	if _, err := admin.DeleteRole(ctx, &iamv1.DeleteRoleRequest{RoleName: "ops"}); err != nil {
		t.Fatal(err)
	}
	_, err = ops.ListKeys(ctx, &kmsv1.ListKeysRequest{})
	wantUnauthenticated(t, err, "revoked")

	// The admin's root certificate carries no id and keeps working.
	if _, err := admin.ListUsers(ctx, &iamv1.ListUsersRequest{}); err != nil {
		t.Fatal(err)
	}
}

// A certificate that was never recorded (signed with the CA key outside
// IAM, or issued before certificates carried ids) is refused once its
// user is re-created, even though nothing revoked it: the id decides.
func TestRecreatedUserDoesNotInheritUnrecordedCertificates(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	defer s.Close()
	ctx := context.Background()
	admin := iamAs(s, adminHTTP(t, dir))
	old, err := admin.CreateUser(ctx, &iamv1.CreateUserRequest{UserName: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	ca := dataDirCA(t, dir)
	pool, _, err := identity.LoadCredentials(filepath.Join(dir, "admin"))
	if err != nil {
		t.Fatal(err)
	}
	minted := func(id string) iamv1connect.IdentityServiceClient {
		p, _ := identity.ParsePrincipal(old.User.Arn)
		p.ID = id
		key, _ := identity.NewKeyPair()
		der, err := ca.IssueClient(p, key.Public(), time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return iamAs(s, httpClient(identity.ClientTLSConfig(pool, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key})))
	}
	withID, withoutID := minted(old.User.UserId), minted("")
	if _, err := withID.GetUser(ctx, &iamv1.GetUserRequest{}); err != nil {
		t.Fatalf("bob's certificate with his id: %v", err)
	}
	// Certificates from before ids were carried are refused for users and
	// roles: they cannot be told from an earlier bob's.
	_, err = withoutID.GetUser(ctx, &iamv1.GetUserRequest{})
	wantUnauthenticated(t, err, "carries no principal id")

	if _, err := admin.DeleteUser(ctx, &iamv1.DeleteUserRequest{UserName: "bob"}); err != nil {
		t.Fatal(err)
	}
	_, err = withID.GetUser(ctx, &iamv1.GetUserRequest{})
	wantUnauthenticated(t, err, "no longer exists")
	if _, err := admin.CreateUser(ctx, &iamv1.CreateUserRequest{UserName: "bob"}); err != nil {
		t.Fatal(err)
	}
	_, err = withID.GetUser(ctx, &iamv1.GetUserRequest{})
	wantUnauthenticated(t, err, "earlier principal of the same name")
}

// Revocation is scoped to the caller's account: another account's root
// can neither revoke nor list this account's certificates; the admin
// account can list every account's.
func TestCrossAccountRevokeIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	defer s.Close()
	ctx := context.Background()
	admin := iamAs(s, adminHTTP(t, dir))
	bob := iamAs(s, clientForPrincipal(t, s, dir, "arn:aws:iam::111122223333:user/bob"))
	l, err := admin.ListCertificates(ctx, &iamv1.ListCertificatesRequest{UserName: "bob"})
	if err != nil || len(l.Certificates) != 1 {
		t.Fatalf("bob's certificates: %v %+v", err, l)
	}
	serial := l.Certificates[0].SerialNumber

	other := iamAs(s, rootClient(t, dir, "444455556666"))
	_, err = other.RevokeCert(ctx, &iamv1.RevokeCertRequest{SerialNumber: serial})
	if connect.CodeOf(err) != connect.CodeNotFound || errorType(err) != wire.NoSuchEntity || !strings.Contains(connectMessage(err), "cannot be found") {
		t.Fatalf("another account revoking bob's certificate: %v", err)
	}
	if _, err := bob.GetUser(ctx, &iamv1.GetUserRequest{}); err != nil {
		t.Fatalf("bob after the refused revoke: %v", err)
	}
	if _, err := admin.RevokeCert(ctx, &iamv1.RevokeCertRequest{SerialNumber: serial}); err != nil {
		t.Fatal(err)
	}
	_, err = bob.GetUser(ctx, &iamv1.GetUserRequest{})
	wantUnauthenticated(t, err, "revoked")
	if r, err := other.ListRevokedCerts(ctx, &iamv1.ListRevokedCertsRequest{}); err != nil || len(r.RevokedCerts) != 0 {
		t.Fatalf("another account lists %v %+v", err, r)
	}
	if r, err := admin.ListRevokedCerts(ctx, &iamv1.ListRevokedCertsRequest{}); err != nil || len(r.RevokedCerts) != 1 || r.RevokedCerts[0].SerialNumber != serial {
		t.Fatalf("the admin lists %v %+v", err, r)
	}
}

// The access keys of a deleted user stop working on the AWS endpoint, and
// a user re-created under the same name does not inherit them.
func TestDeletedUsersAccessKeysAreRefusedOnTheAWSEndpoint(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	defer s.Close()
	ctx := context.Background()
	admin := iamAs(s, adminHTTP(t, dir))
	if _, err := admin.CreateUser(ctx, &iamv1.CreateUserRequest{UserName: "bob"}); err != nil {
		t.Fatal(err)
	}
	k, err := admin.CreateAccessKey(ctx, &iamv1.CreateAccessKeyRequest{UserName: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	id, secret := k.AccessKey.AccessKeyId, k.AccessKey.SecretAccessKey
	// Authenticated, and denied by policy.
	if got := rawAWS(t, s, dir, "TrentService.ListKeys", "{}", id, secret); got != "AccessDeniedException" {
		t.Fatalf("bob's key before the delete: %q", got)
	}
	if _, err := admin.DeleteUser(ctx, &iamv1.DeleteUserRequest{UserName: "bob"}); err != nil {
		t.Fatal(err)
	}
	if got := rawAWS(t, s, dir, "TrentService.ListKeys", "{}", id, secret); got != "UnrecognizedClientException" {
		t.Fatalf("the deleted bob's key: %q", got)
	}
	if _, err := admin.CreateUser(ctx, &iamv1.CreateUserRequest{UserName: "bob"}); err != nil {
		t.Fatal(err)
	}
	if got := rawAWS(t, s, dir, "TrentService.ListKeys", "{}", id, secret); got != "UnrecognizedClientException" {
		t.Fatalf("the re-created bob inherited the key: %q", got)
	}
}
