package wire

// Trent's own HTTP headers. Requests carry the consistency a read asks for;
// responses say how the call was served, and failed calls on the Connect
// transport carry the AWS error name. docs/consistency.md is the contract
// of the consistency headers.
const (
	// ConsistencyHeader names the consistency a request asks for
	// (leader, bounded, any) and, on a response, the one it was served
	// with.
	ConsistencyHeader = "Trent-Consistency"
	// MaxStalenessHeader bounds a bounded read's staleness (a Go
	// duration).
	MaxStalenessHeader = "Trent-Max-Staleness"
	// MinIndexHeader asks for a state that includes at least this raft
	// index.
	MinIndexHeader = "Trent-Min-Index"
	// StalenessBoundHeader reports how stale the served state may have
	// been (a Go duration).
	StalenessBoundHeader = "Trent-Staleness-Bound"
	// AppliedIndexHeader reports the raft index of the state a read saw,
	// or at which a write applied.
	AppliedIndexHeader = "Trent-Applied-Index"
	// SimulatedPropagationHeader reports the simulated propagation delay
	// a bounded read was served with (a Go duration), when it was
	// (docs/eventual-consistency.md).
	SimulatedPropagationHeader = "Trent-Simulated-Propagation"
	// ServedByHeader names the node that served the call.
	ServedByHeader = "Trent-Served-By"
	// LeaderHeader carries the leader's API address on retryable errors.
	LeaderHeader = "Trent-Leader"
	// ErrorTypeHeader carries the AWS error name of a failed Connect
	// call (Error.Type).
	ErrorTypeHeader = "Trent-Error-Type"
	// RequestIDHeader carries the call's request id on Connect responses.
	RequestIDHeader = "Trent-Request-Id"
)
