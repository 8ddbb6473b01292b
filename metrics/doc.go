// Package metrics is a node's Prometheus instrumentation: one registry per
// server (never the process-wide default one), the collectors on it, and
// the HTTP handler that exposes it in the text exposition format.
//
// The packages it measures do not import Prometheus. Each declares the
// small observer interface it reports to (consistency.Observer,
// audit.Observer, raft.Observer, cluster.Observer) with plain Go types, and
// a *Metrics satisfies all of them; the server passes it in. Values that
// already exist somewhere (raft's term and indexes, the key and grant
// counts, the audit queue, the soft HSM's cache counters) are read when
// the registry is scraped, through the funcs of [Sources], so that the hot
// paths pay nothing for them.
//
// Names follow the Prometheus conventions: a trent_ prefix, the unit in
// the name (_seconds, _bytes), _total on counters. Labels have bounded
// values only: an operation name from the services' own descriptors
// (anything else is "other"), a protocol, an AWS error name or "ok". Never
// a key id, a principal or an account: those belong in the audit trail.
// docs/operations.md lists every metric.
//
// hashicorp/raft reports its own internals (commit time, replication,
// bolt store) through the process-wide hashicorp/go-metrics. Built with
// the hashicorpmetrics tag (which also routes raft-boltdb's metrics to
// that package), a node forwards them into its registry; see
// gometrics.go.
package metrics
