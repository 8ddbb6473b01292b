package awsapi

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/trentkms/trent/audit"
	"github.com/trentkms/trent/consistency"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/uuid"
	"github.com/trentkms/trent/wire"
)

// Response headers.
const (
	// RequestIDHeader carries a UUID per request, read by SDKs as the
	// request id.
	RequestIDHeader = "x-amzn-RequestId"
	// ErrorTypeHeader carries the error name of a failed request.
	ErrorTypeHeader = "X-Amzn-Errortype"
	// Call metadata is reported in wire's Trent-* headers, as on the
	// Connect endpoint: wire.ServedByHeader, wire.AppliedIndexHeader, and
	// wire.LeaderHeader on retryable errors.

	contentType = "application/x-amz-json-1.1"
)

// DefaultMaxBodyBytes is the request body cap when Options.MaxBodyBytes is
// zero. The largest KMS request (a 4096-byte plaintext or 6144-byte
// ciphertext, base64, with context and grant tokens) is far below it.
const DefaultMaxBodyBytes = 1 << 20

// Options configures the handler.
type Options struct {
	// Region is the AWS region this endpoint serves; signatures must be
	// scoped to it. Required.
	Region string
	// NodeID, when set, is reported in the Trent-Served-By header.
	NodeID string
	// Now is the clock for the signature window and the Date header; nil
	// means time.Now.
	Now func() time.Time
	// MaxBodyBytes caps the request body; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives internal errors (never sent to callers); nil
	// discards them.
	Logger *slog.Logger
	// LeaderHint, if set, returns the leader's API address, sent in the
	// Trent-Leader header of retryable (503) errors.
	LeaderHint func() string
	// Audit, when set, records every request, answered or refused, once.
	Audit Auditor
	// Reads admits each call under the consistency its Trent-Consistency,
	// Trent-Max-Staleness and Trent-Min-Index headers ask for, as on the
	// Connect endpoint, and the response reports how it was served. Nil
	// admits everything.
	Reads consistency.Admitter
	// Quota, if set, counts each call against the request quotas of the
	// caller's account before it is admitted (see package quota); a call
	// over its quota is answered ThrottlingException.
	Quota Limiter
}

// Limiter counts a call of op by account against its request quota.
type Limiter interface {
	Allow(account, op string) error
}

// handler serves the AWS JSON 1.1 protocol. It is safe for concurrent use.
type handler struct {
	ops     map[string]*operation
	verify  *verifier
	nodeID  string
	now     func() time.Time
	maxBody int64
	logger  *slog.Logger
	decode  protojson.UnmarshalOptions
	audit   Auditor
	reads   consistency.Admitter
	quota   Limiter
	leader  func() string
}

// NewHandler returns the AWS KMS endpoint for svc: it serves POST / with
// AWS JSON 1.1 requests (X-Amz-Target: TrentService.<Operation>), verifies
// their SigV4 signatures with creds, and calls svc with the signing
// principal in the context, so authorization is exactly that of native
// calls. Every RPC of KeyManagementService is reachable; operations svc
// does not implement answer UnsupportedOperationException.
//
// NewHandler panics if svc or creds is nil or opts.Region is not a valid
// region, as these are programming errors.
func NewHandler(svc kmsv1connect.KeyManagementServiceHandler, creds Credentials, opts Options) http.Handler {
	if svc == nil || creds == nil {
		panic("awsapi: NewHandler needs a service and credentials")
	}
	if !identity.ValidRegion(opts.Region) {
		panic(fmt.Sprintf("awsapi: invalid region %q", opts.Region))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &handler{
		ops:     operations(svc),
		verify:  newVerifier(creds, opts.Region, opts.Now, opts.Logger),
		nodeID:  opts.NodeID,
		now:     opts.Now,
		maxBody: opts.MaxBodyBytes,
		logger:  opts.Logger,
		decode:  protojson.UnmarshalOptions{DiscardUnknown: true},
		audit:   opts.Audit,
		reads:   opts.Reads,
		quota:   opts.Quota,
		leader:  opts.LeaderHint,
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	reqID := audit.RequestID(r.Context()) // the gate's, as in the node's logs
	if reqID == "" {
		reqID = newRequestID()
	}
	hdr[RequestIDHeader] = []string{reqID}
	hdr.Set("Content-Type", contentType)
	// SDKs correct their clock from Date when a signature is out of the
	// window, so it must come from the clock that judges the window.
	hdr.Set("Date", h.now().UTC().Format(http.TimeFormat))
	if h.nodeID != "" {
		hdr.Set(wire.ServedByHeader, h.nodeID)
	}
	var ev *audit.Call
	if h.audit != nil {
		ev = newAuditCall(r, reqID)
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.logger.ErrorContext(r.Context(), "panic serving AWS request", "request_id", reqID, "panic", v, "stack", string(debug.Stack()))
			e := internalError()
			h.record(w, r, ev, 0, e)
			writeError(w, e)
		}
	}()
	body, appliedIndex, e := h.serve(w, r, reqID, ev)
	if !h.record(w, r, ev, appliedIndex, e) {
		body, e = nil, internalError()
	}
	if e != nil {
		if e.status == http.StatusServiceUnavailable && h.leader != nil {
			if l := h.leader(); l != "" {
				hdr.Set(wire.LeaderHeader, l)
			}
		}
		writeError(w, e)
		return
	}
	if appliedIndex != 0 {
		hdr.Set(wire.AppliedIndexHeader, strconv.FormatUint(appliedIndex, 10))
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// serve runs one request and returns the response body, or the error to
// answer with.
// ev, when not nil, collects the request's audit event.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, reqID string, ev *audit.Call) ([]byte, uint64, *apiError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, 0, &apiError{status: http.StatusMethodNotAllowed, typ: wire.UnknownOperation,
			msg: fmt.Sprintf("The AWS KMS API is served by POST /; %s is not supported.", r.Method)}
	}
	if r.URL.Path != "/" {
		return nil, 0, &apiError{status: http.StatusNotFound, typ: wire.UnknownOperation,
			msg: fmt.Sprintf("The AWS KMS API is served at path /, not %s.", r.URL.Path)}
	}
	if e := checkContentType(r.Header.Get("Content-Type")); e != nil {
		return nil, 0, e
	}
	body, e := h.readBody(w, r)
	if e != nil {
		return nil, 0, e
	}
	p, e := h.verify.verify(r, body)
	if e != nil {
		return nil, 0, e
	}
	if ev != nil {
		ev.Principal = p
	}
	target := r.Header.Get("X-Amz-Target")
	name, ok := strings.CutPrefix(target, targetPrefix)
	op := h.ops[name]
	if !ok || op == nil {
		if target == "" {
			return nil, 0, newError(wire.UnknownOperation, "The request has no X-Amz-Target header; it must be %s<Operation>.", targetPrefix)
		}
		return nil, 0, newError(wire.UnknownOperation, "X-Amz-Target '%s' is not an operation of this service; it must be %s<Operation>.", target, targetPrefix)
	}
	in := op.input.New().Interface()
	if len(bytes.TrimSpace(body)) > 0 {
		if err := h.decode.Unmarshal(body, in); err != nil {
			return nil, 0, newError(wire.Serialization, "Cannot read the %s request body: %s", op.name, strings.TrimPrefix(err.Error(), "proto: "))
		}
	}
	if ev != nil {
		ev.Input = in
	}
	if h.quota != nil {
		if err := h.quota.Allow(p.Account, op.name); err != nil {
			return nil, 0, newError(wire.Throttling, "%s", err.Error())
		}
	}
	var served consistency.Served
	if h.reads != nil {
		var err error
		if served, err = consistency.Admit(identity.NewContext(r.Context(), p), h.reads, r.Header, in); err != nil {
			var ce *wire.Error
			if errors.As(err, &ce) {
				return nil, 0, newError(ce.Type, "%s", ce.Message)
			}
			return nil, 0, timeoutError()
		}
	}
	info := &wire.CallInfo{}
	ctx := identity.NewContext(consistency.WithServed(wire.WithCallInfo(r.Context(), info), served), p)
	out, err := op.call(ctx, in)
	if ev != nil {
		ev.Output, ev.AppliedIndex = out, info.AppliedIndex
	}
	if err != nil {
		e, internal := serviceError(err, op.name)
		if internal {
			h.logger.ErrorContext(r.Context(), "AWS request failed", "request_id", reqID, "op", op.name, "err", err)
		}
		return nil, 0, e
	}
	if h.reads != nil {
		consistency.Report(w.Header(), served, info.AppliedIndex, info.ReadIndex)
	}
	if out == nil {
		return []byte("{}"), info.AppliedIndex, nil
	}
	return appendMessage(make([]byte, 0, 256), out.ProtoReflect()), info.AppliedIndex, nil
}

// checkContentType accepts application/x-amz-json-1.1 and 1.0, with any
// parameters.
func checkContentType(v string) *apiError {
	mt, _, err := mime.ParseMediaType(v)
	if err == nil && (mt == contentType || mt == "application/x-amz-json-1.0") {
		return nil
	}
	if v == "" {
		return newError(wire.Serialization, "The request has no Content-Type; it must be %s.", contentType)
	}
	return newError(wire.Serialization, "Content-Type '%s' is not supported; it must be %s.", v, contentType)
}

// readBody reads the body, up to the cap.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	tooLarge := &apiError{status: http.StatusRequestEntityTooLarge, typ: wire.Serialization,
		msg: fmt.Sprintf("The request body is larger than %d bytes.", h.maxBody)}
	if r.ContentLength > h.maxBody {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge
		}
		return nil, newError(wire.Serialization, "Cannot read the request body.")
	}
	return body, nil
}

// writeError writes e as an AWS JSON 1.1 error.
func writeError(w http.ResponseWriter, e *apiError) {
	b := appendError(make([]byte, 0, 128), e)
	hdr := w.Header()
	hdr.Set(ErrorTypeHeader, e.typ)
	hdr.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// newRequestID returns a random (version 4) UUID.
func newRequestID() string {
	s, _, _ := uuid.New(rand.Reader)
	return s
}
