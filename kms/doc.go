// Package kms is the Trent key management service: one method per AWS KMS
// operation, independent of any transport. The rpc package serves it over
// Connect, gRPC and gRPC-Web, and the awsapi package over the AWS JSON 1.1
// endpoint; both hand it the generated request messages and get the
// response messages back.
//
// Every method follows the same path: validate the request (a bad one is a
// ValidationException and changes nothing), resolve the key, ask the
// [Authorizer], check the key state, then either read the replicated state
// or propose a command through the [Log], and do cryptography only through
// the [HSM]. Errors returned to callers are always [*wire.Error] values
// carrying the AWS error name (wire's KMS names) and an AWS-shaped message,
// and they never contain plaintext or key material. A write's facts for
// the transport (the index at which it applied) go back through
// [wire.CallInfo].
//
// The package knows the replicated log only through [Log]: it does not
// import package raft, and learns that a write may be retried, or has an
// unknown outcome, from wire's ErrNotLeader, ErrShutdown and
// ErrUnknownOutcome.
package kms
