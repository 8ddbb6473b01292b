package awsapi

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/trentkms/trent/audit"
	"github.com/trentkms/trent/wire"
)

// Auditor records one audit event per request (package audit's Log is
// one). Record returns once the event is durable; when it fails the
// request is answered with KMSInternalException instead of its result,
// and CallRefused logs that (see audit.Log.CallRefused).
type Auditor interface {
	Record(ctx context.Context, c *audit.Call) error
	CallRefused(ctx context.Context, logger *slog.Logger, err error, msg string, args ...any)
}

// newAuditCall starts the audit event of r; serve fills in what it learns.
func newAuditCall(r *http.Request, reqID string) *audit.Call {
	c := &audit.Call{
		Source:    audit.SourceKMS,
		Protocol:  audit.ProtocolAWSJSON,
		SourceIP:  r.RemoteAddr,
		UserAgent: r.Header.Get("User-Agent"),
		RequestID: reqID,
	}
	target := r.Header.Get("X-Amz-Target")
	if name, ok := strings.CutPrefix(target, targetPrefix); ok {
		c.Operation = name
	} else {
		c.Operation = target
	}
	if len(c.Operation) > 128 {
		c.Operation = c.Operation[:128]
	}
	// The access key the request names, verified or not, as CloudTrail
	// logs it.
	if a, err := parseAuthorization(r.Header.Get("Authorization")); err == nil {
		c.AccessKeyID = a.accessKeyID
		if len(c.AccessKeyID) > 128 {
			c.AccessKeyID = c.AccessKeyID[:128]
		}
	}
	return c
}

// record writes ev's audit record with the request's outcome; it reports
// false when the record could not be written, and the request must then
// be answered with an internal error. Without an auditor it does nothing.
func (h *handler) record(w http.ResponseWriter, r *http.Request, ev *audit.Call, appliedIndex uint64, e *apiError) bool {
	if ev == nil {
		return true
	}
	if e != nil {
		ev.ErrorCode, ev.ErrorMessage = e.typ, e.msg
		ev.Output = nil
	}
	// What the response reports about how it was served.
	hdr := w.Header()
	ev.AppliedIndex = appliedIndex
	if n, err := strconv.ParseUint(hdr.Get(wire.AppliedIndexHeader), 10, 64); err == nil {
		ev.AppliedIndex = max(ev.AppliedIndex, n)
	}
	ev.Consistency = hdr.Get(wire.ConsistencyHeader)
	ev.StalenessBound = hdr.Get(wire.StalenessBoundHeader)
	ev.SimulatedPropagation = hdr.Get(wire.SimulatedPropagationHeader)
	// As in the Connect interceptor: a call whose context ended is still
	// recorded, and answered as it ended, once the record is durable.
	if err := h.audit.Record(context.WithoutCancel(r.Context()), ev); err != nil {
		h.audit.CallRefused(r.Context(), h.logger, err, "audit record not written; answering an internal error", "request_id", ev.RequestID)
		return false
	}
	return true
}
