package server

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/audit"
)

// Limits of the API listener. A message cap is what the largest legal
// request of the route needs, with room to spare; the gate also caps the
// body on the wire (wireBytes) and refuses a larger declared length before
// reading anything.
const (
	// kmsMaxBytes: the largest KMS request is CreateKey or PutKeyPolicy
	// with a policy the model allows (131072 characters, refused above
	// the 32 KB quota with LimitExceededException), a description (8192),
	// 50 tags and 10 grant tokens of 8192; JSON escaping of the policy can
	// nearly double it. Encrypt (4096-byte plaintext) and Decrypt
	// (6144-byte ciphertext) are far below.
	kmsMaxBytes = 256 << 10
	// iamMaxBytes: IAM policy documents are at most 6144 characters.
	iamMaxBytes = 64 << 10
	// joinMaxBytes: a join token, a CSR, an HSM identity key, addresses.
	joinMaxBytes = 32 << 10
	// applyMaxBytes: a forwarded command carries one KMS or IAM write,
	// re-encoded (JSON, base64), plus sealed key material.
	applyMaxBytes = 1 << 20
	// smallMaxBytes: requests of a few ids and numbers (cluster admin,
	// promotion, read index, health).
	smallMaxBytes = 4 << 10
	// reflectionMaxBytes: reflection requests name files and symbols.
	reflectionMaxBytes = 64 << 10

	// callTimeout bounds a call's handler; callers' own deadlines are
	// shorter (raft proposals time out in seconds).
	callTimeout = 30 * time.Second
	// healthTimeout bounds a health check (a Watch stream ends with it).
	healthTimeout = 10 * time.Second

	// readHeaderTimeout, readTimeout: a client has that long to send its
	// headers, and its whole request; the largest request is 1 MiB.
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	// maxHeaderBytes: SigV4 and gRPC metadata are a few KiB.
	maxHeaderBytes = 64 << 10
	// maxConcurrentStreams per HTTP/2 connection.
	maxConcurrentStreams = 100
)

func kmsPolicy() policy {
	return policy{source: audit.SourceKMS, callers: principals, maxBytes: kmsMaxBytes, timeout: callTimeout,
		audit: auditConnect, waitForming: true}
}

func iamPolicy() policy {
	return policy{source: audit.SourceIAM, callers: principals, maxBytes: iamMaxBytes, timeout: callTimeout,
		audit: auditConnect, waitForming: true}
}

// awsPolicy: SigV4 authenticates AWS endpoint callers (the handler checks
// it); a client certificate is optional, and revoked ones are refused.
func awsPolicy() policy {
	return policy{source: audit.SourceKMS, callers: anonymous | principals | nodes, maxBytes: kmsMaxBytes, timeout: callTimeout,
		audit: auditHandler, waitForming: true, aws: true}
}

// healthPolicy: load balancers probe health without certificates, in
// every phase of the node: a node that does not serve says so, and why,
// rather than being refused (health.go).
func healthPolicy() policy {
	all := anonymous | principals | nodes
	return policy{source: audit.SourceAPI, callers: all, maxBytes: smallMaxBytes, timeout: healthTimeout,
		audit: auditRefusals, peers: all}
}

// metricsPolicy: the admin scrapes /metrics with a GET; it changes
// nothing and a scraper calls it every few seconds, so only refusals are
// recorded, as for health. It serves while the node does not (a node with
// no leader is when its metrics matter most): the admin check needs only
// the certificate.
func metricsPolicy() policy {
	return policy{source: audit.SourceAPI, callers: principals, admin: true, maxBytes: smallMaxBytes, timeout: healthTimeout,
		audit: auditRefusals, peers: principals}
}

func reflectionPolicy() policy {
	return policy{source: audit.SourceAPI, callers: principals | nodes, maxBytes: reflectionMaxBytes, timeout: callTimeout,
		audit: auditServed}
}

// clusterPolicies are the ClusterService's routes: the service path (the
// admin calls CreateJoinToken, RemoveNode and Status, which a follower
// also forwards with its node certificate) and the procedures with other
// callers or limits. The handler still checks who may do what (the admin
// account's root, membership). They serve peers in every phase of the
// node: nodes forward writes, read indexes and joins to it, and join
// through it, while it catches up or leaves. An admin's calls but Status
// wait until it serves.
func clusterPolicies() map[string]policy {
	admin := policy{source: audit.SourceCluster, callers: principals | nodes, maxBytes: smallMaxBytes, timeout: callTimeout,
		audit: auditConnect, peers: anonymous | nodes}
	// Join is open to nodes without a certificate; the join token is the
	// credential.
	join := admin
	join.callers, join.maxBytes = anonymous|principals|nodes, joinMaxBytes
	node := admin
	node.callers = nodes
	// Forwarded writes and read indexes are recorded where the call that
	// caused them was, with its outcome; here only a refused caller is.
	forwarded := node
	forwarded.unrecorded = func(_ string, err error) bool {
		code := connect.CodeOf(err)
		return err == nil || (code != connect.CodeUnauthenticated && code != connect.CodePermissionDenied)
	}
	apply := forwarded
	apply.maxBytes = applyMaxBytes
	// Status changes nothing, and tells an operator why a node does not
	// serve: it answers the admin then too.
	status := admin
	status.peers |= principals
	return map[string]policy{"": admin, "Join": join, "Promote": node, "Apply": apply, "ReadIndex": forwarded, "Status": status}
}

func (s *Server) mountCluster(g *gate, adminAccount string) {
	build := func(ics []connect.Interceptor, limits ...connect.HandlerOption) (string, http.Handler) {
		return s.cluster.Handler(adminAccount, append([]connect.HandlerOption{connect.WithInterceptors(ics...)}, limits...)...)
	}
	for proc, p := range clusterPolicies() {
		g.connect(proc, p, build)
	}
}

// newHTTPServer returns the API server with the listener's limits.
func newHTTPServer(h http.Handler, tlsCfg *tls.Config, log *slog.Logger) *http.Server {
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	return &http.Server{
		Handler:           h,
		TLSConfig:         tlsCfg,
		Protocols:         protocols,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: maxConcurrentStreams},
		ConnContext:       withPeerCache,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}
