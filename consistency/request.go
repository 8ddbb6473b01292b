package consistency

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/trentkms/trent/wire"
)

// Mode is how a read is served.
type Mode string

// The read modes. Leader is reported, never requested: a write is ordered
// by the leader's log, and its Trent-Applied-Index is the index at which it
// applied.
const (
	Bounded      Mode = "bounded"
	Linearizable Mode = "linearizable"
	MinIndex     Mode = "min_index"
	Leader       Mode = "leader"
)

// Request is what a caller asked for.
type Request struct {
	// Mode is Bounded (the default), Linearizable or MinIndex.
	Mode Mode
	// MaxStaleness, when positive, tightens the node's staleness bound.
	// It can only tighten: a larger value is the node's bound.
	MaxStaleness time.Duration
	// MinIndex, when nonzero, is the raft index the local state must have
	// applied before the read is served.
	MinIndex uint64
	// Write: the call is a write, which reads the local state to decide
	// (does the key exist, is it enabled) and is admitted like a read;
	// its refusals say write.
	Write bool
	// Account is the caller's account ("" if unknown), for a simulated
	// propagation delay aimed at some accounts only.
	Account string
}

// what names the call in a refusal.
func (r Request) what() string {
	if r.Write {
		return "write"
	}
	return "read"
}

// ParseRequest reads a Request from request headers. A malformed value is
// a ValidationException that names the header.
func ParseRequest(h http.Header) (Request, error) {
	r := Request{Mode: Bounded}
	if v := strings.TrimSpace(h.Get(wire.ConsistencyHeader)); v != "" {
		switch Mode(strings.ToLower(v)) {
		case Bounded:
		case Linearizable:
			r.Mode = Linearizable
		default:
			return Request{}, invalid("%s must be bounded or linearizable, not %q.", wire.ConsistencyHeader, clip(v))
		}
	}
	if v := strings.TrimSpace(h.Get(wire.MaxStalenessHeader)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return Request{}, invalid("%s must be a non-negative duration such as 250ms, not %q.", wire.MaxStalenessHeader, clip(v))
		}
		if d == 0 {
			d = 1 // zero asks for the freshest bounded read: a refresh every time
		}
		r.MaxStaleness = d
	}
	if v := strings.TrimSpace(h.Get(wire.MinIndexHeader)); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return Request{}, invalid("%s must be a raft index (a non-negative integer), not %q.", wire.MinIndexHeader, clip(v))
		}
		r.MinIndex = n
		if r.Mode == Bounded && n > 0 {
			r.Mode = MinIndex
		}
	}
	return r, nil
}

// clip keeps an echoed header value short.
func clip(v string) string {
	if len(v) > 64 {
		return v[:64] + "..."
	}
	return v
}

// Served describes how a call was served, for the response headers.
type Served struct {
	Mode Mode
	// StalenessBound is t - t0 when the read was admitted: how much older
	// than now the state may be. Zero for linearizable reads and writes.
	StalenessBound time.Duration
	// AppliedIndex is the local applied index when the read was admitted:
	// the state the call saw reflects at least this index.
	AppliedIndex uint64
	// Delayed, when positive, is the simulated propagation delay the read
	// was served with: it saw the delayed view (AppliedIndex is the
	// view's), not the local state, and that view reflected no entry
	// applied on the node less than Delayed before: the delay in force,
	// or less where the staleness bound cut it short.
	Delayed time.Duration
}

// SetHeaders writes s into response headers.
func (s Served) SetHeaders(h http.Header) {
	h.Set(wire.ConsistencyHeader, string(s.Mode))
	h.Set(wire.StalenessBoundHeader, FormatBound(s.StalenessBound))
	if s.AppliedIndex != 0 {
		h.Set(wire.AppliedIndexHeader, strconv.FormatUint(s.AppliedIndex, 10))
	}
	if s.Delayed > 0 {
		h.Set(wire.SimulatedPropagationHeader, FormatBound(s.Delayed))
	}
}

// FormatBound renders a staleness bound as a Go duration, to the
// microsecond ("12.5ms", "0s").
func FormatBound(d time.Duration) string {
	return d.Round(time.Microsecond).String()
}

// invalid returns the refusal of a malformed header: a
// ValidationException.
func invalid(format string, args ...any) *wire.Error {
	return wire.Errorf(wire.Validation, format, args...)
}

// unavailable returns the refusal of a read this node cannot serve now: a
// DependencyTimeoutException, which clients retry here or on another node.
func unavailable(format string, args ...any) *wire.Error {
	return wire.Errorf(wire.DependencyTimeout, format, args...)
}
