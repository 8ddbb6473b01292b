package cluster

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"

	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
	"github.com/trentkms/trent/identity"
)

// JoinParams is what a joining node sends.
type JoinParams struct {
	NodeID, RaftAddr, APIAddr string
	// Key is the node's new private key; its CSR is sent.
	Key crypto.Signer
	// HSMIdentity is the joining HSM's identity public key.
	HSMIdentity []byte
}

// RequestJoin asks the member at target (host:port of its API) to admit
// this node. It trusts the member only if its certificate chain ends in
// the CA the token names.
func RequestJoin(ctx context.Context, target string, token string, p JoinParams) (*clusterv1.JoinResponse, error) {
	t, err := ParseJoinToken(token)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: p.NodeID}}, p.Key)
	if err != nil {
		return nil, fmt.Errorf("cluster: CSR: %w", err)
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The chain is checked below against the CA pinned by the token.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyPinned(raw, t.CAFingerprint)
		},
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
	defer hc.CloseIdleConnections()
	cl := clusterv1connect.NewClusterServiceClient(hc, "https://"+target)
	resp, err := cl.Join(ctx, &clusterv1.JoinRequest{Token: token, NodeId: p.NodeID, RaftAddr: p.RaftAddr,
		ApiAddr: p.APIAddr, Csr: csr, HsmIdentity: p.HSMIdentity})
	if err != nil {
		return nil, fmt.Errorf("cluster: join via %s: %w", target, err)
	}
	if !namesCA(resp, t.CAFingerprint) {
		return nil, errors.New("cluster: the CA in the join response is not the one the token names")
	}
	return resp, nil
}

// namesCA reports whether the join response's CA, or one of its bundle's
// (a token made before a CA rotation's switch names the old CA), is the
// one pinned.
func namesCA(resp *clusterv1.JoinResponse, pin [32]byte) bool {
	if sha256.Sum256(pemDER(resp.CaCertificate)) == pin {
		return true
	}
	if len(resp.CaBundle) == 0 {
		return false
	}
	cas, err := identity.ParseCertsPEM(resp.CaBundle)
	if err != nil {
		return false
	}
	for _, c := range cas {
		if sha256.Sum256(c.Raw) == pin {
			return true
		}
	}
	return false
}

// ErrCAMismatch is the joiner's refusal of a server whose CA is not the
// one the join token pins.
var ErrCAMismatch = errors.New("cluster: server's CA does not match the join token")

// verifyPinned checks that the presented chain ends in the pinned CA and
// that the leaf is a node certificate issued by it.
func verifyPinned(raw [][]byte, pin [32]byte) error {
	if len(raw) < 2 {
		return errors.New("cluster: server did not present its CA; cannot check the join token's pin")
	}
	caDER := raw[len(raw)-1]
	if sha256.Sum256(caDER) != pin {
		return ErrCAMismatch
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	leaf, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fmt.Errorf("cluster: server certificate: %w", err)
	}
	if _, err := identity.NodeIDFromCert(leaf); err != nil {
		return errors.New("cluster: server is not a cluster node")
	}
	return nil
}

func pemDER(p []byte) []byte {
	c, err := identity.ParseCertPEM(p)
	if err != nil {
		return nil
	}
	return c.Raw
}

// forwardJoin passes a Join received by a follower to the leader.
func (c *Cluster) forwardJoin(ctx context.Context, req *clusterv1.JoinRequest) (*clusterv1.JoinResponse, error) {
	cl, _, err := c.leaderClient()
	if err != nil {
		return nil, c.forwardedJoinError(ctx, req.GetNodeId(), err)
	}
	resp, err := cl.Join(ctx, req)
	if err != nil {
		return nil, c.forwardedJoinError(ctx, req.GetNodeId(), err)
	}
	return resp, nil
}

// forwardedJoinError is what the joiner hears when a forwarded Join
// fails: the leader's verdicts on the request pass through (its handler
// words them for the joiner); anything else (no leader, a dial or
// transport error naming peers' addresses, the leader's own generic
// failure) is logged, and the joiner gets the generic answer.
func (c *Cluster) forwardedJoinError(ctx context.Context, joiner string, err error) error {
	switch connect.CodeOf(err) {
	case connect.CodeInvalidArgument, connect.CodePermissionDenied, connect.CodeAlreadyExists:
		if ce := new(connect.Error); errors.As(err, &ce) && connect.IsWireError(err) {
			return connect.NewError(ce.Code(), errors.New(ce.Message()))
		}
	}
	c.cfg.Logger.WarnContext(ctx, "join failed", "joiner", joiner, "step", "forward to the leader", "err", err)
	return connect.NewError(connect.CodeUnavailable, errJoinUnavailable)
}
