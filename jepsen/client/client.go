// Package client calls the KMS service of one node as the test's clients
// do: it sets the consistency request headers, reads the consistency
// response headers, and classifies each failure as definite (the operation
// did not happen) or indefinite (it may have).
package client

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"connectrpc.com/connect"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/jepsen/history"
	"github.com/trentkms/trent/wire"
)

// KMS is the generated client interface.
type KMS = kmsv1connect.KeyManagementServiceClient

// New returns a KMS client of the node at baseURL over hc.
func New(hc connect.HTTPClient, baseURL string) KMS {
	return kmsv1connect.NewKeyManagementServiceClient(hc, baseURL)
}

// Meta is what the serving node reported about a call.
type Meta struct {
	ServedBy    string
	Applied     uint64
	Consistency string
	Staleness   string
	RequestID   string
	Propagation string
}

func metaOf(h http.Header) Meta {
	m := Meta{ServedBy: h.Get(wire.ServedByHeader), Consistency: h.Get(wire.ConsistencyHeader), Staleness: h.Get(wire.StalenessBoundHeader),
		RequestID: h.Get(wire.RequestIDHeader), Propagation: h.Get(wire.SimulatedPropagationHeader)}
	m.Applied, _ = strconv.ParseUint(h.Get(wire.AppliedIndexHeader), 10, 64)
	return m
}

// Fill copies m into op.
func (m Meta) Fill(op *history.Op) {
	op.ServedBy, op.Applied, op.Consistency, op.Staleness, op.Propagation = m.ServedBy, m.Applied, m.Consistency, m.Staleness, m.Propagation
	op.RequestID = m.RequestID
}

// Call runs one call with the consistency headers of mode (history.Mode*)
// and returns the response metadata, also when the call fails.
func Call[Req, Resp any](ctx context.Context, mode string, call func(context.Context, *Req) (*Resp, error), req *Req) (*Resp, Meta, error) {
	cctx, info := connect.NewClientContext(ctx)
	switch mode {
	case history.ModeLinearizable, history.ModeFinal:
		info.RequestHeader().Set(wire.ConsistencyHeader, "linearizable")
	case history.ModeBounded:
		info.RequestHeader().Set(wire.ConsistencyHeader, "bounded")
	}
	resp, err := call(cctx, req)
	var m Meta
	if err != nil {
		var ce *connect.Error
		if errors.As(err, &ce) {
			m = metaOf(ce.Meta())
		}
		return nil, m, err
	}
	if h := info.ResponseHeader(); h != nil {
		m = metaOf(h)
	}
	return resp, m, nil
}

// ErrorType is the AWS error name of err, or "" if the service did not
// answer (a network failure, a timeout).
func ErrorType(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) || !connect.IsWireError(ce) {
		return ""
	}
	if t := ce.Meta().Get(wire.ErrorTypeHeader); t != "" {
		return t
	}
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if info, ok := v.(*kmsv1.ErrorInfo); ok && info.GetType() != "" {
				return info.GetType()
			}
		}
	}
	return ce.Code().String()
}

// definite are answers that mean the operation did not take effect.
var definite = map[string]bool{
	wire.AccessDenied: true, wire.AlreadyExists: true, wire.Disabled: true,
	wire.IncorrectKey: true, wire.InvalidArn: true, wire.InvalidCiphertext: true,
	wire.InvalidGrantToken: true, wire.InvalidGrantId: true, wire.InvalidKeyUsage: true,
	wire.KMSInvalidState: true, wire.LimitExceeded: true, wire.NotFound: true,
	wire.Validation: true, wire.UnsupportedOperation: true, wire.UnrecognizedClient: true,
	// Refusals the state machine decides at apply time: an on-demand
	// rotation within 20 minutes of an automatic one, a CA rotation in its
	// overlap, a concurrent import (ConflictException); material that is
	// not the key's; a bad tag or policy.
	wire.Conflict: true, wire.IncorrectKeyMaterial: true, wire.Tag: true, wire.MalformedPolicyDocument: true,
	"invalid_argument": true, "permission_denied": true, "not_found": true, "unauthenticated": true,
}

// Outcome classifies the result of a call: ok, fail (definitely did not
// happen) or info (a write whose effect is unknown). A read that fails is
// always fail: it returned nothing, and changed nothing.
func Outcome(err error, write bool) string {
	if err == nil {
		return history.Ok
	}
	if !write || definite[ErrorType(err)] || neverSent(err) {
		return history.Fail
	}
	return history.Info
}

// neverSent says whether err shows the request never left the client.
func neverSent(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || strings.Contains(err.Error(), "connection refused")
}

// Short is a one-line form of err for the history.
func Short(err error) string {
	if err == nil {
		return ""
	}
	if t := ErrorType(err); t != "" {
		return t
	}
	s := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(s, "deadline exceeded"):
		return "timeout"
	case neverSent(err):
		return "refused"
	}
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// Timeout bounds one operation.
const Timeout = 2 * time.Second
