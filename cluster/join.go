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
	"time"

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

// RequestJoinAny asks the members at targets, in turn, to admit this node
// (see RequestJoin). While every refusal of a round may pass (the cluster
// electing a leader, a member not up yet, an attempt's timeout) it asks
// again after a pause, until ctx ends; onRetry, if not nil, hears each
// round's refusals before the pause. Any other refusal (the token
// invalid or spent, the node already a member, a CA that is not the
// token's) ends it at once.
func RequestJoinAny(ctx context.Context, targets []string, token string, p JoinParams, onRetry func(error)) (*clusterv1.JoinResponse, error) {
	return retryJoin(ctx, targets, func(ctx context.Context, target string) (*clusterv1.JoinResponse, error) {
		// Short enough that a member dropping packets leaves the others
		// rounds of their own within the wait.
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return RequestJoin(actx, target, token, p)
	}, joinPause, onRetry)
}

// joinPause is the pause before a joiner's next round: short at first,
// as an election takes about a second, then longer.
func joinPause(round int) time.Duration {
	return min(250*time.Millisecond<<min(round, 5), 4*time.Second)
}

// retryJoin is RequestJoinAny's loop, with each attempt made by ask and
// the pause before round n+1 given by pause(n).
func retryJoin(ctx context.Context, targets []string, ask func(context.Context, string) (*clusterv1.JoinResponse, error),
	pause func(int) time.Duration, onRetry func(error)) (*clusterv1.JoinResponse, error) {
	if len(targets) == 0 {
		return nil, errors.New("cluster: no member to join through")
	}
	for round := 0; ; round++ {
		var errs []error
		retry := true
		for _, target := range targets {
			resp, err := ask(ctx, target)
			if err == nil {
				return resp, nil
			}
			errs = append(errs, err)
			retry = retry && retryableJoin(err)
		}
		err := errors.Join(errs...)
		if !retry {
			if round > 0 && anyCode(errs, connect.CodePermissionDenied) {
				// A timed-out attempt may have spent it (the leader
				// answered after the joiner gave up).
				return nil, fmt.Errorf("%w (an earlier attempt that timed out or was refused for now may have spent the token: make a new one)", err)
			}
			return nil, err
		}
		if onRetry != nil {
			onRetry(err)
		}
		ended := ctx.Err()
		if ended == nil {
			select {
			case <-ctx.Done():
				ended = ctx.Err()
			case <-time.After(pause(round)):
			}
		}
		if ended != nil {
			return nil, fmt.Errorf("%w (still refused as retryable when the wait ended: %w)", err, ended)
		}
	}
}

// anyCode says whether any of errs has code c.
func anyCode(errs []error, c connect.Code) bool {
	for _, err := range errs {
		if connect.CodeOf(err) == c {
			return true
		}
	}
	return false
}

// retryableJoin says whether a join attempt's failure may pass if asked
// again: the cluster's retryable refusal (errJoinUnavailable), a member
// that cannot be reached, an attempt that timed out. A member whose
// certificate the token's pin does not vouch for is never retried.
func retryableJoin(err error) bool {
	if errors.Is(err, ErrCAMismatch) || errors.Is(err, errNotPinned) {
		return false
	}
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeAborted:
		return true
	}
	return false
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

// errNotPinned wraps verifyPinned's refusals other than ErrCAMismatch: the
// member's chain does not show that it is a node of the token's cluster.
var errNotPinned = errors.New("cluster: the server is not a node of the join token's cluster")

// verifyPinned checks that the presented chain ends in the pinned CA and
// that the leaf is a node certificate issued by it.
func verifyPinned(raw [][]byte, pin [32]byte) error {
	err := checkPinned(raw, pin)
	if err == nil || errors.Is(err, ErrCAMismatch) {
		return err
	}
	return fmt.Errorf("%w: %w", errNotPinned, err)
}

// checkPinned is verifyPinned's check.
func checkPinned(raw [][]byte, pin [32]byte) error {
	if len(raw) < 2 {
		return errors.New("it did not present its CA; cannot check the join token's pin")
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
		return fmt.Errorf("its certificate: %w", err)
	}
	if _, err := identity.NodeIDFromCert(leaf); err != nil {
		return errors.New("its certificate is not a node certificate")
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
	case connect.CodeInvalidArgument, connect.CodePermissionDenied, connect.CodeAlreadyExists, connect.CodeFailedPrecondition:
		if ce := new(connect.Error); errors.As(err, &ce) && connect.IsWireError(err) {
			return connect.NewError(ce.Code(), errors.New(ce.Message()))
		}
	}
	c.cfg.Logger.WarnContext(ctx, "join failed", "joiner", joiner, "step", "forward to the leader", "err", err)
	return connect.NewError(connect.CodeUnavailable, errJoinUnavailable)
}
