package consistency

import (
	"context"
	"net/http"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/wire"
)

// Admitter decides whether this node may serve a call now. *Tracker is
// one.
type Admitter interface {
	Admit(ctx context.Context, r Request) (Served, error)
}

// Admit applies the consistency that a call's request headers ask for,
// before the call runs. A request that carries a grant token is
// linearizable, and the service makes it so itself (it must also wait for
// the entries that created the tokens' grants), so Admit only reports it.
// A refusal is a *wire.Error.
func Admit(ctx context.Context, a Admitter, h http.Header, msg proto.Message) (Served, error) {
	r, err := ParseRequest(h)
	if err != nil {
		return Served{}, err
	}
	if msg != nil && carriesGrantToken(msg) {
		return Served{Mode: Linearizable}, nil
	}
	r.Write = msg != nil && isWrite(msg)
	if p, ok := identity.FromContext(ctx); ok {
		r.Account = p.Account
	}
	return a.Admit(ctx, r)
}

// isWrite reports whether m is the request of an operation that changes
// state: its message is named for the operation (UpdateKeyDescriptionRequest).
func isWrite(m proto.Message) bool {
	op := strings.TrimSuffix(string(m.ProtoReflect().Descriptor().Name()), "Request")
	return !wire.ReadOnly(op)
}

// Report writes how a successful call was served into response headers.
// A write (appliedIndex > 0) reports the index at which it applied; a read
// reports the state it saw: at least served.AppliedIndex, or readIndex if
// the service waited for a later one (grant tokens).
func Report(h http.Header, served Served, appliedIndex, readIndex uint64) {
	if appliedIndex != 0 {
		Served{Mode: Leader, AppliedIndex: appliedIndex}.SetHeaders(h)
		return
	}
	served.AppliedIndex = max(served.AppliedIndex, readIndex)
	served.SetHeaders(h)
}

// carriesGrantToken reports whether a request has a grant token: a
// non-empty grant_tokens list or grant_token field.
func carriesGrantToken(m proto.Message) bool {
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	if fd := fields.ByName("grant_tokens"); fd != nil && fd.IsList() && r.Get(fd).List().Len() > 0 {
		return true
	}
	if fd := fields.ByName("grant_token"); fd != nil && fd.Kind() == protoreflect.StringKind && r.Get(fd).String() != "" {
		return true
	}
	return false
}

type servedKey struct{}

// WithServed returns ctx carrying how the call was admitted, for the
// handler that picks the state it reads (a delayed view: Served.Delayed).
func WithServed(ctx context.Context, s Served) context.Context {
	if s.Delayed <= 0 {
		return ctx // only the delayed view needs telling apart
	}
	return context.WithValue(ctx, servedKey{}, s)
}

// DelayedView reports whether the call in ctx was admitted to the delayed
// view of a simulated propagation delay.
func DelayedView(ctx context.Context) bool {
	s, ok := ctx.Value(servedKey{}).(Served)
	return ok && s.Delayed > 0
}
