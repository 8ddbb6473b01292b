// Package audit is Trent's audit trail: one CloudTrail-shaped record per
// API call, appended to a hash-chained, append-only log of JSON lines on
// the node that served the call, and the verifier of that chain.
//
// A [Record] has the members of a CloudTrail event (eventVersion,
// eventTime, eventSource, eventName, userIdentity, requestParameters,
// responseElements, errorCode, ...) plus Trent's own (the serving node,
// the raft index the call applied at, the consistency it was served with)
// and the chain: seq, prevHash and hash, the SHA-256 of the record's line
// without its hash member. Request parameters and response elements are
// an allowlist of message members (see [RequestFields]); plaintext,
// ciphertext, grant tokens, secrets and private keys are never written.
//
// A [Log] owns a directory of size-rotated files and a single writer
// goroutine that commits records in groups, one write and one fsync per
// group. [Log.Record] returns only once the call's record is durable, so a
// transport answers a call only after its record is on disk (unless
// Options.SyncInterval defers the fsync: then once it is written); when
// the record cannot be written the transport answers KMSInternalException
// instead of the result (fail closed).
//
// [Log.Interceptor] and [Log.Middleware] record calls of Connect services;
// the AWS JSON endpoint (package awsapi) calls [Log.Record] itself.
// [Verify] and [VerifyFiles] check a chain and report the first broken
// link with its position.
package audit
