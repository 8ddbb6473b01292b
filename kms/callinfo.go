package kms

import "context"

// CallInfo carries facts about one call back to the transport, which
// reports them in response headers.
type CallInfo struct {
	// AppliedIndex is the raft index at which the call's write applied, or
	// 0 for a call that wrote nothing.
	AppliedIndex uint64
	// ReadIndex is the index a linearizable read (one with grant tokens)
	// waited for, or 0.
	ReadIndex uint64
}

type callInfoKey struct{}

// WithCallInfo returns a context in which the service records facts about
// the call into info.
func WithCallInfo(ctx context.Context, info *CallInfo) context.Context {
	return context.WithValue(ctx, callInfoKey{}, info)
}

// SetAppliedIndex records that the call's write applied at raft index
// idx. The service does it for its own writes; other services that share
// the transport (IAM) do it for theirs.
func SetAppliedIndex(ctx context.Context, idx uint64) {
	if info, ok := ctx.Value(callInfoKey{}).(*CallInfo); ok {
		info.AppliedIndex = idx
	}
}

func setReadIndex(ctx context.Context, idx uint64) {
	if info, ok := ctx.Value(callInfoKey{}).(*CallInfo); ok {
		info.ReadIndex = idx
	}
}
