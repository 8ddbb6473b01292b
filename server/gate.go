package server

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/audit"
	"github.com/trentkms/trent/awsapi"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/rpc"
	"github.com/trentkms/trent/uuid"
	"github.com/trentkms/trent/wire"
)

// The gate: every route of the API listener is mounted through [gate],
// which runs the same steps for each request before its handler sees it:
//
//  1. size: a declared body larger than the route's cap is refused;
//  2. authentication: the caller is classified by its verified TLS
//     certificate as anonymous, an IAM principal, or a cluster node;
//  3. revocation: every presented certificate is checked, whatever the
//     route, including routes open to anonymous callers;
//  4. authorization: the caller's kind must be one the route admits (and
//     on an admin route, the caller must be the admin account's root);
//  5. compression: anonymous callers may not send compressed bodies;
//  6. readiness: while the node is not serving (waiting for a leader,
//     catching up, shutting down, its HSM sealed) only the cluster routes
//     serve, and only to peers (policy.peers), and health, which says why
//     the node is not ready (health.go); every other call, including
//     the catch-all's for paths not mounted yet, is refused as retryable
//     (see [gate.notServing]);
//  7. forming: KMS, IAM and AWS calls wait for --bootstrap-expect voters;
//
// all before a byte of the body is read. The handler then gets a body
// capped at the route's size (and Connect handlers the same cap on the
// decompressed message), a deadline, the caller's identity in its context,
// and one audit record per call: the gate writes the records of the calls
// it refuses, the route's own auditing (mode) the rest.

// A refusal answers in the shape of the request's protocol: a Connect,
// gRPC or gRPC-Web error for those protocols, an AWS JSON 1.1 error for the
// AWS endpoint; the catch-all route, which stands in for routes not
// mounted yet, picks by the request. Every refusal names the node
// (Trent-Served-By), and a retryable one the leader's API address when the
// node knows it and it is another node (Trent-Leader).

// lateHandler is a handler set once, after it is mounted: the catch-all
// route is mounted (and refuses while the node is not serving) from the
// first request, its handler only once the node has caught up.
type lateHandler struct{ h atomic.Pointer[http.Handler] }

func (l *lateHandler) set(h http.Handler) { l.h.Store(&h) }

func (l *lateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*l.h.Load()).ServeHTTP(w, r)
}

// callers is a set of caller kinds.
type callers uint8

const (
	// anonymous callers present no client certificate: joining nodes
	// (their join token is checked by the handler), load balancers
	// probing health, and AWS SDKs (SigV4 is checked by the handler).
	anonymous callers = 1 << iota
	// principals present a client certificate naming an IAM principal.
	principals
	// nodes present a cluster node certificate.
	nodes
)

func (c callers) String() string {
	var parts []string
	for _, k := range []struct {
		c    callers
		name string
	}{{anonymous, "anonymous"}, {principals, "principals"}, {nodes, "nodes"}} {
		if c&k.c != 0 {
			parts = append(parts, k.name)
		}
	}
	return strings.Join(parts, "|")
}

// auditMode says who writes the records of the calls the gate admits.
type auditMode uint8

const (
	// auditRefusals records only the calls the gate refuses (health: load
	// balancers probe it every few seconds, it reveals and changes
	// nothing).
	auditRefusals auditMode = iota
	// auditConnect: the service's audit interceptor records every call it
	// runs, and audit.Middleware those that fail before it.
	auditConnect
	// auditHandler: the handler records every request it is handed (the
	// AWS endpoint's Auditor).
	auditHandler
	// auditServed: the gate records every call when it is answered
	// (reflection, a streaming service the interceptor does not see).
	auditServed
)

// policy is a route's rules.
type policy struct {
	// source is the audit event source of the route's records.
	source string
	// callers are the caller kinds the route admits.
	callers callers
	// maxBytes caps the request: a Connect message after decompression,
	// or the AWS endpoint's body.
	maxBytes int64
	// timeout bounds the handler (the request context's deadline).
	timeout time.Duration
	audit   auditMode
	// waitForming: refuse while the cluster is forming (bootstrap-expect).
	waitForming bool
	// peers are the caller kinds the route serves while the node does
	// not serve (starting, closing, HSM sealed): the cluster routes serve
	// nodes forwarding calls and nodes joining through it. Other callers
	// are refused as retryable: the state that checks them (revocations,
	// policies) may be behind.
	peers callers
	// aws: refusals are written as AWS JSON 1.1 errors, not Connect ones.
	aws bool
	// unrecorded, for auditConnect, leaves calls out of the trail (see
	// audit.Unrecorded).
	unrecorded func(procedure string, err error) bool
	// admin: only the admin account's root principal may call (the
	// principals of callers, narrowed).
	admin bool
}

// phase is where a node is between its start and its end, as the gate
// sees it: only a serving node serves more than the cluster routes.
type phase int32

const (
	// phaseWaitingLeader: the node has no raft leader yet (a new cluster
	// electing, a restarted node that hears no leader).
	phaseWaitingLeader phase = iota
	// phaseCatchingUp: the node applies the log up to its start-up
	// barrier, registers itself, and mounts its services.
	phaseCatchingUp
	// phaseServing: the node serves every route.
	phaseServing
	// phaseClosing: Close has begun; the node serves only its peers.
	phaseClosing
)

// gateConfig is what the gate asks of its node.
type gateConfig struct {
	// nodeID names the node in refusals (Trent-Served-By).
	nodeID string
	// revoked reports why a presented certificate may not be used, or
	// nil. It is the single revocation hook of the listener. p is the
	// principal the certificate names (identity.PrincipalFromCert), nil if
	// it names none: the gate parses the certificate once per request.
	revoked func(cert *x509.Certificate, p *identity.Principal) error
	// forming reports whether the cluster waits for voters, and how many.
	forming func() (bool, int)
	// sealed reports whether the node's HSM is sealed (no domain key, or
	// closed): the node cannot serve KMS calls. Nil means never.
	sealed func() bool
	// leaderHint returns the leader's API address, or "" if unknown or
	// this node; nil means unknown.
	leaderHint func() string
	// adminAccount is the account whose root may call admin routes.
	adminAccount string
	audit        *audit.Log // nil when auditing is off
	// requests, if set, is told of every call the gate's routes answer,
	// refused or served (metrics).
	requests requestObserver
	log      *slog.Logger
	// now is the clock certificates' validity is checked against on every
	// request, as crypto/tls checks it at the handshake; nil means
	// time.Now.
	now func() time.Time
}

// requestObserver is told of each answered call: its operation (the
// procedure, or the AWS target's operation: caller text, which the
// observer must bound), protocol (connect, grpc, grpcweb, aws), result
// ("ok" or the AWS error name) and time from arrival to answer.
type requestObserver interface {
	RequestDone(op, protocol, result string, d time.Duration)
}

// gate mounts routes on a mux, each behind the gate.
type gate struct {
	gateConfig
	mux    *http.ServeMux
	phase  atomic.Int32 // a phase
	routes map[string]policy
}

func newGate(cfg gateConfig) *gate {
	if cfg.forming == nil {
		cfg.forming = func() (bool, int) { return false, 0 }
	}
	if cfg.sealed == nil {
		cfg.sealed = func() bool { return false }
	}
	if cfg.leaderHint == nil {
		cfg.leaderHint = func() string { return "" }
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	return &gate{gateConfig: cfg, mux: http.NewServeMux(), routes: map[string]policy{}}
}

// setPhase moves the node to ph.
func (g *gate) setPhase(ph phase) { g.phase.Store(int32(ph)) }

// notServing returns the refusal of a call to a route that serves only
// while the node serves, or nil when the node serves. Each is
// DependencyTimeoutException (KMS's retryable refusal, HTTP 503, which AWS
// SDKs retry), Connect unavailable.
func (g *gate) notServing() *refusal {
	var why string
	switch phase(g.phase.Load()) {
	case phaseWaitingLeader:
		why = "is starting: it knows no raft leader yet, so it cannot serve. Retry the request, here or on another node"
	case phaseCatchingUp:
		why = "is starting: it is catching up with the cluster's log, so it cannot serve yet. Retry the request, here or on another node"
	case phaseClosing:
		why = "is shutting down. Retry the request on another node"
	default:
		if !g.sealed() {
			return nil
		}
		why = "cannot serve: its HSM is sealed. Retry the request on another node"
	}
	return unavailable(fmt.Sprintf("Node %s %s.", g.nodeID, why))
}

// unavailable is a retryable refusal: DependencyTimeoutException, HTTP 503,
// Connect unavailable.
func unavailable(msg string) *refusal {
	return &refusal{status: http.StatusServiceUnavailable, code: connect.CodeUnavailable, awsType: wire.DependencyTimeout, msg: msg}
}

// connectBuilder builds a Connect handler with the given interceptors (to
// run outermost) and limits (options to apply last: the message cap and a
// gzip decompressor that stops at it), returning its path.
type connectBuilder func(interceptors []connect.Interceptor, limits ...connect.HandlerOption) (string, http.Handler)

// connect mounts a Connect service at its path, or at the one procedure of
// it named by procedure (a method name such as "Join"; "" for the whole
// service).
func (g *gate) connect(procedure string, p policy, build connectBuilder) {
	var interceptors []connect.Interceptor
	if g.audit != nil && p.audit == auditConnect {
		var opts []audit.InterceptorOption
		if p.unrecorded != nil {
			opts = append(opts, audit.Unrecorded(p.unrecorded))
		}
		interceptors = append(interceptors, g.audit.Interceptor(p.source, opts...))
	}
	path, h := build(interceptors, connect.WithReadMaxBytes(int(p.maxBytes)), cappedGzip(p.maxBytes))
	g.handle(path+procedure, p, h)
}

// handle mounts h at pattern behind the gate.
func (g *gate) handle(pattern string, p policy, h http.Handler) {
	if _, dup := g.routes[pattern]; dup {
		panic("server: route mounted twice: " + pattern)
	}
	if p.maxBytes <= 0 || p.timeout <= 0 || p.callers == 0 || p.source == "" {
		panic("server: route without limits, callers or audit source: " + pattern)
	}
	g.routes[pattern] = p
	if g.audit != nil && p.audit == auditConnect {
		h = g.audit.Middleware(p.source, h)
	}
	g.mux.Handle(pattern, rpc.WithRequestInfo(g.wrap(p, h)))
}

// requestDone tells the request observer of a call answered through sw
// that arrived at start.
func (g *gate) requestDone(r *http.Request, p policy, sw *audit.StatusWriter, start time.Time) {
	op, protocol := operationOf(r, p)
	if protocol == audit.ProtocolAWSJSON {
		protocol = "aws"
	}
	g.requests.RequestDone(op, protocol, resultOf(sw), time.Since(start))
}

// resultOf is the result of an answered call: the AWS error name its
// answer carries (Trent-Error-Type in a Connect error's headers or a gRPC
// error's trailers, X-Amzn-Errortype on the AWS endpoint), or for an error
// without one (a Connect protocol error before the service ran) the gRPC
// code or HTTP status; "ok" if it succeeded.
func resultOf(sw *audit.StatusWriter) string {
	h := sw.Header()
	if t := headerOrTrailer(h, wire.ErrorTypeHeader); t != "" {
		return t
	}
	if t := h.Get("X-Amzn-Errortype"); t != "" {
		return t
	}
	if s := headerOrTrailer(h, "Grpc-Status"); s != "" && s != "0" {
		if n, err := strconv.Atoi(s); err == nil {
			return connect.Code(n).String()
		}
	}
	if sw.Status() >= 400 {
		return "http_" + strconv.Itoa(sw.Status())
	}
	return "ok"
}

func headerOrTrailer(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	return h.Get(http.TrailerPrefix + name)
}

// wireBytes is the body cap on the wire for a message cap: room for
// framing, and for compression that grows incompressible input a little.
func wireBytes(maxBytes int64) int64 { return maxBytes + maxBytes/16 + 4096 }

// refusal is a request the gate answers itself.
type refusal struct {
	status  int // for AWS JSON answers
	code    connect.Code
	awsType string
	msg     string
}

// errorWriter writes Connect, gRPC and gRPC-Web errors.
var errorWriter = connect.NewErrorWriter()

func (g *gate) wrap(p policy, next http.Handler) http.Handler {
	ew := errorWriter
	wireCap := wireBytes(p.maxBytes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The request's id: its audit record's, its response header's and
		// that of every log line about it (logging.go).
		if id, _, err := uuid.New(rand.Reader); err == nil {
			r = r.WithContext(audit.WithRequestID(r.Context(), id))
		}
		// The call is observed here, not by a handler of its own: the
		// deeper a call's chain of frames, the larger the stack its
		// goroutine grows (and copies) when it is new, or again after a
		// GC shrank it (warm.go; see soft.WithObserver).
		if g.requests != nil {
			sw := &audit.StatusWriter{ResponseWriter: w}
			defer g.requestDone(r, p, sw, time.Now())
			w = sw
		}
		caller, kind, ref := g.check(r, p, wireCap)
		if ref != nil {
			g.refuse(ew, w, r, p, caller, ref)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, wireCap)
		ctx, cancel := context.WithTimeout(r.Context(), p.timeout)
		defer cancel()
		if kind != anonymous {
			ctx = identity.NewContext(ctx, caller)
		}
		if p.audit != auditServed || g.audit == nil {
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		sw := &audit.StatusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		c := g.call(r, p, caller)
		if sw.Status() >= 400 || grpcFailed(w.Header()) {
			c.ErrorCode, c.ErrorMessage = "RequestFailed", "HTTP status "+strconv.Itoa(sw.Status())
		}
		g.record(r, c)
	})
}

// check runs the gate's steps, returning the caller (zero if anonymous),
// its kind, and the refusal if any.
func (g *gate) check(r *http.Request, p policy, wireCap int64) (identity.Principal, callers, *refusal) {
	if r.ContentLength > wireCap {
		return identity.Principal{}, 0, &refusal{status: http.StatusRequestEntityTooLarge, code: connect.CodeResourceExhausted,
			awsType: wire.LimitExceeded, msg: fmt.Sprintf("The request is larger than the %d bytes this operation accepts.", p.maxBytes)}
	}
	caller, kind, ref := g.authenticate(r)
	if ref != nil {
		return caller, kind, ref
	}
	if p.callers&kind == 0 {
		switch {
		case kind == anonymous:
			return caller, kind, &refusal{status: http.StatusForbidden, code: connect.CodeUnauthenticated, awsType: wire.UnrecognizedClient,
				msg: "A client certificate issued by the cluster CA is required."}
		case p.callers&^anonymous == principals:
			return caller, kind, &refusal{status: http.StatusForbidden, code: connect.CodeUnauthenticated, awsType: wire.UnrecognizedClient,
				msg: "The client certificate does not name an IAM principal."}
		case p.callers&^anonymous == nodes:
			return caller, kind, &refusal{status: http.StatusForbidden, code: connect.CodePermissionDenied, awsType: wire.AccessDenied,
				msg: "Only cluster nodes may call this."}
		default:
			return caller, kind, &refusal{status: http.StatusForbidden, code: connect.CodePermissionDenied, awsType: wire.AccessDenied,
				msg: "This caller may not call this."}
		}
	}
	if p.admin && (!caller.IsRoot() || caller.Account != g.adminAccount) {
		return caller, kind, &refusal{status: http.StatusForbidden, code: connect.CodePermissionDenied, awsType: wire.AccessDenied,
			msg: "Only the admin account's root may call this."}
	}
	if kind == anonymous && compressed(r.Header) {
		return caller, kind, &refusal{status: http.StatusBadRequest, code: connect.CodeInvalidArgument, awsType: wire.Validation,
			msg: "A request without a client certificate must not be compressed."}
	}
	if kind&p.peers == 0 {
		if ref := g.notServing(); ref != nil {
			return caller, kind, ref
		}
	}
	if p.waitForming {
		if forming, want := g.forming(); forming {
			return caller, kind, unavailable(fmt.Sprintf("The cluster is forming: node %s waits for %d voters (--bootstrap-expect). Retry the request later.",
				g.nodeID, want))
		}
	}
	return caller, kind, nil
}

// authenticate classifies the caller by its certificate and checks the
// certificate against the revocation hook. The certificate is parsed for
// a principal once, for both.
func (g *gate) authenticate(r *http.Request) (identity.Principal, callers, *refusal) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return identity.Principal{}, anonymous, nil
	}
	unauthenticated := func(msg string) *refusal {
		return &refusal{status: http.StatusForbidden, code: connect.CodeUnauthenticated, awsType: wire.UnrecognizedClient, msg: msg}
	}
	leaf := r.TLS.PeerCertificates[0]
	p, err := peerPrincipalOf(r.Context(), leaf)
	named := &p
	if err != nil {
		named = nil
	}
	if err := g.revoked(leaf, named); err != nil {
		return identity.Principal{}, 0, unauthenticated(sentence(err))
	}
	// The handshake checked the certificate's validity period when the
	// connection opened; a connection kept busy can outlive it. Check it
	// on every request, so that an expired certificate is refused without
	// its revocation record (which is forgotten a while after expiry:
	// fsm.PruneCerts).
	if now := g.now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return identity.Principal{}, 0, unauthenticated("The client certificate has expired or is not yet valid.")
	}
	// crypto/tls verifies the presented leaf: a verified chain starts with
	// it. Anything else is not a certificate this gate checked.
	if len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 || r.TLS.VerifiedChains[0][0] != leaf {
		return identity.Principal{}, 0, unauthenticated("A client certificate issued by the cluster CA is required.")
	}
	if named != nil {
		return p, principals, nil
	}
	if id, err := identity.NodeIDFromCert(leaf); err == nil {
		if p, err := identity.NodePrincipal(id); err == nil {
			return p, nodes, nil
		}
	}
	return identity.Principal{}, 0, unauthenticated("The client certificate names neither an IAM principal nor a cluster node.")
}

// compressed reports whether a request declares a compressed body, in any
// of the protocols the listener speaks.
func compressed(h http.Header) bool {
	for _, name := range []string{"Content-Encoding", "Connect-Content-Encoding", "Grpc-Encoding"} {
		if v := strings.TrimSpace(h.Get(name)); v != "" && !strings.EqualFold(v, "identity") {
			return true
		}
	}
	return false
}

// refuse answers and records a refused request.
func (g *gate) refuse(ew *connect.ErrorWriter, w http.ResponseWriter, r *http.Request, p policy, caller identity.Principal, ref *refusal) {
	c := g.call(r, p, caller)
	c.ErrorCode, c.ErrorMessage = ref.awsType, ref.msg
	if !g.record(r, c) {
		ref = &refusal{status: http.StatusInternalServerError, code: connect.CodeInternal, awsType: wire.KMSInternal, msg: "internal error"}
	}
	h := w.Header()
	h.Set(wire.ServedByHeader, g.nodeID)
	if id := audit.RequestID(r.Context()); id != "" {
		h.Set(wire.RequestIDHeader, id)
	}
	if ref.code == connect.CodeUnavailable {
		if l := g.leaderHint(); l != "" {
			h.Set(wire.LeaderHeader, l)
		}
	}
	if connectShaped(ew, r, p) {
		ce := connect.NewError(ref.code, errors.New(ref.msg))
		ce.Meta().Set(wire.ErrorTypeHeader, ref.awsType)
		if d, err := connect.NewErrorDetail(&kmsv1.ErrorInfo{Type: ref.awsType}); err == nil {
			ce.AddDetail(d)
		}
		_ = ew.Write(w, r, ce)
		return
	}
	body, _ := json.Marshal(map[string]string{"__type": ref.awsType, "message": ref.msg})
	if id := h.Get(wire.RequestIDHeader); id != "" {
		h.Set(awsapi.RequestIDHeader, id)
	}
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("X-Amzn-Errortype", ref.awsType)
	w.WriteHeader(ref.status)
	_, _ = w.Write(body)
}

// connectShaped reports whether a refusal at route p is answered as a
// Connect, gRPC or gRPC-Web error: on a Connect route when the request
// speaks one of them, and on the AWS endpoint (the catch-all) when it
// does and is no AWS call (AWS calls name their operation in
// X-Amz-Target): a Connect call to a service not mounted yet.
func connectShaped(ew *connect.ErrorWriter, r *http.Request, p policy) bool {
	return ew.IsSupported(r) && (!p.aws || r.Header.Get("X-Amz-Target") == "")
}

// call describes a request for the trail.
func (g *gate) call(r *http.Request, p policy, caller identity.Principal) *audit.Call {
	c := &audit.Call{Source: p.source, Principal: caller, SourceIP: r.RemoteAddr, UserAgent: r.Header.Get("User-Agent")}
	c.Operation, c.Protocol = operationOf(r, p)
	return c
}

// operationOf returns a request's operation (at most 128 bytes of the
// caller's text) and protocol (audit.ProtocolAWSJSON on the AWS endpoint).
func operationOf(r *http.Request, p policy) (op, protocol string) {
	switch {
	case p.aws && !connectShaped(errorWriter, r, p):
		protocol = audit.ProtocolAWSJSON
		op = r.Header.Get("X-Amz-Target")
		op = op[strings.LastIndexByte(op, '.')+1:]
	default:
		protocol = protocolOf(r)
		p := strings.TrimSuffix(r.URL.Path, "/") // a subtree's index names the subtree: "pprof"
		op = p[strings.LastIndexByte(p, '/')+1:]
	}
	if len(op) > 128 { // the caller's text
		op = op[:128]
	}
	return op, protocol
}

// record writes c, reporting whether it was written.
func (g *gate) record(r *http.Request, c *audit.Call) bool {
	if g.audit == nil {
		return true
	}
	if err := g.audit.Record(context.WithoutCancel(r.Context()), c); err != nil {
		g.audit.CallRefused(r.Context(), g.log, err, "audit record not written", "op", c.Operation)
		return false
	}
	return true
}

func protocolOf(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/grpc-web"):
		return connect.ProtocolGRPCWeb
	case strings.HasPrefix(ct, "application/grpc"):
		return connect.ProtocolGRPC
	}
	return connect.ProtocolConnect
}

// grpcFailed reports a gRPC status other than OK in the trailers.
func grpcFailed(h http.Header) bool {
	for _, name := range []string{"Grpc-Status", http.TrailerPrefix + "Grpc-Status"} {
		if v := h.Get(name); v != "" && v != "0" {
			return true
		}
	}
	return false
}

// sentence turns an error of the certificate check ("the client
// certificate has been revoked") into the message a client reads.
func sentence(err error) string {
	msg := err.Error()
	if msg == "" {
		return "The client certificate may not be used."
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}
