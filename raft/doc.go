// Package raft is Trent's consensus layer: a hashicorp/raft node with its
// log and stable store in raft-boltdb/v2 (fsync on, always), file
// snapshots, and a transport that runs over mutual TLS between nodes and
// speaks only with nodes in the raft configuration: a removed node's
// certificate stays valid, and hashicorp/raft would take AppendEntries
// from it (see stream).
//
// It moves opaque command bytes; the state machine is the caller's, a
// [StateMachine] of this package's own terms (Trent's is package fsm's,
// which the server joins to it; neither imports the other). Committed
// commands and configuration changes reach it in batches as [Entry]
// values, and a snapshot it takes is persisted to the snapshot store, or
// discarded if Persist fails. [Node.Apply] returns the state machine's
// response and the log index at which the command applied.
//
// # Errors
//
// [ErrNotLeader] means the command was not accepted and may be sent to the
// leader. [ErrUnknownOutcome] means leadership was lost after the command was
// handed to raft: it may or may not commit, so the caller must make retries
// safe (commands carry proposer-chosen ids and apply idempotently). These
// errors and [ErrShutdown] are package wire's values, so services and the
// cluster test them with errors.Is without importing this package.
//
// Tuning: CommitTimeout 5ms (an idle leader's AppendEntries carries the
// commit index to followers that often, which bounds how long a follower
// takes to see a write), MaxAppendEntries 64, one AppendEntries in
// flight per follower (hashicorp/raft's pipelined replication can wedge
// on a refused append; see transportConfig), and hashicorp/raft's
// pre-vote, which is on by default.
package raft
