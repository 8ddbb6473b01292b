package wire

import "context"

// CallInfo carries facts about one call from the service back to the
// transport, which reports them in response headers (AppliedIndexHeader)
// and in the audit record.
type CallInfo struct {
	// AppliedIndex is the raft index at which the call's write applied, or
	// 0 for a call that wrote nothing.
	AppliedIndex uint64
	// ReadIndex is the index a linearizable read (one with grant tokens)
	// waited for, or 0.
	ReadIndex uint64
}

type callInfoKey struct{}

// WithCallInfo returns a context in which a service records facts about
// the call into info.
func WithCallInfo(ctx context.Context, info *CallInfo) context.Context {
	return context.WithValue(ctx, callInfoKey{}, info)
}

// SetAppliedIndex records that the call's write applied at raft index
// idx. Each service does it for its own writes.
func SetAppliedIndex(ctx context.Context, idx uint64) {
	if info, ok := ctx.Value(callInfoKey{}).(*CallInfo); ok {
		info.AppliedIndex = idx
	}
}

// SetReadIndex records that the call read a state at raft index idx or
// later, having waited for it.
func SetReadIndex(ctx context.Context, idx uint64) {
	if info, ok := ctx.Value(callInfoKey{}).(*CallInfo); ok {
		info.ReadIndex = idx
	}
}
