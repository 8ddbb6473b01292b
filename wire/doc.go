// Package wire is the vocabulary that Trent's services (kms, iam) and the
// transports that serve them (rpc, awsapi, and the cli and jepsen clients
// that read their answers) share: the AWS error names, the one error type
// that carries a name and a message to the caller, the Trent-* header
// names, the per-call facts a service hands back to its transport, and the
// three outcomes of proposing a write to the replicated log that every
// service must translate.
//
// It is named for where these things end up: every name here is read by a
// client, on the wire, or decides what the wire carries. Errors and
// headers live in one package because the transports put one into the
// other (Trent-Error-Type carries Error.Type).
//
// The package imports nothing of Trent's, so that a service can be built,
// and its errors understood, without the transports, the consensus engine
// (package raft and its storage) or another service: iam does not import
// kms, and kms does not import raft.
//
// Two kinds of error names are here. AWS KMS's names (NotFound is
// "NotFoundException") are the ones kms, the consistency checks and the
// AWS protocol layer answer with; AWS IAM's names (NoSuchEntity,
// IAMAccessDenied is "AccessDenied") are iam's. Transports map a name to an
// HTTP status or a Connect code; this package only names them.
package wire
