package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"

	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/server"
)

// eventually waits until f succeeds on every node, checking node i again
// whenever it applies an entry (replication, not time, makes f succeed),
// and fails the test after a deadline.
func eventually(t *testing.T, what string, nodes []*server.Server, f func(i int) error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for i, n := range nodes {
		waitFor(t, onNode(what, i), time.Until(deadline), func() error { return f(i) }, n)
	}
}

// TestIdentityPoliciesAndRevocationOnEveryNode: an identity policy put
// through one node lets bob use a key through every node, and a revoked
// certificate is refused by every node.
func TestIdentityPoliciesAndRevocationOnEveryNode(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	admin := adminHTTP(t, c.adminDir)
	iamc := iamv1connect.NewIdentityServiceClient(admin, "https://"+c.nodes[0].APIAddr())
	if _, err := iamc.CreateUser(ctx, &iamv1.CreateUserRequest{UserName: "bob"}); err != nil {
		t.Fatal(err)
	}
	ic, err := iamc.IssueCertificate(ctx, &iamv1.IssueCertificateRequest{UserName: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair([]byte(ic.CertificatePem), []byte(ic.PrivateKeyPem))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(ic.CertificatePem))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool, _, err := identity.LoadCredentials(filepath.Join(c.adminDir, "admin"))
	if err != nil {
		t.Fatal(err)
	}
	bobHTTP := httpClient(identity.ClientTLSConfig(pool, pair))
	key, err := c.kms(t, 0).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	describe := func(i int) error {
		_, err := client(t, c.nodes[i], bobHTTP).DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: key.KeyMetadata.KeyId})
		return err
	}
	eventually(t, "bob denied without a policy", c.nodes, func(i int) error {
		if err := describe(i); connect.CodeOf(err) != connect.CodePermissionDenied {
			return errors.New("not denied yet: " + connect.CodeOf(err).String())
		}
		return nil
	})
	if _, err := iamc.PutUserPolicy(ctx, &iamv1.PutUserPolicyRequest{UserName: "bob", PolicyName: "read",
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:DescribeKey","Resource":"*"}]}`}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob DescribeKey under the policy", c.nodes, describe)
	x, err := iamc.Explain(ctx, &iamv1.ExplainRequest{Principal: "arn:aws:iam::111122223333:user/bob", Action: "kms:DescribeKey", KeyId: key.KeyMetadata.KeyId})
	if err != nil || x.Decision != "allowed" || x.Reason != "IdentityPolicyAllow" || len(x.Statements) != 2 || x.Statements[1].PolicyName != "read" {
		t.Fatalf("Explain: %v %+v", err, x)
	}

	if _, err := iamc.RevokeCert(ctx, &iamv1.RevokeCertRequest{SerialNumber: cert.SerialNumber.Text(16)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "revoked certificate refused", c.nodes, func(i int) error {
		err := describe(i)
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			return errors.New("not refused yet: " + connect.CodeOf(err).String())
		}
		return nil
	})
	// The admin's certificate still works.
	if _, err := c.kms(t, 2).DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: key.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
}
