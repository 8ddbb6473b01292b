package audit

import "context"

// A request's id is given once, where the request enters the node (the
// server's gate), and carried in its context: the audit record's
// requestID, the Trent-Request-Id or x-amzn-RequestId response header and
// every log line about the request (the server's logger adds it) are the
// same id.

type requestIDKey struct{}

// WithRequestID returns ctx carrying the request id id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id ctx carries, "" if none.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
