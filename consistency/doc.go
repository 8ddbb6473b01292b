// Package consistency decides whether this node may serve a read, and how
// fresh its answer is. It implements the three read modes of
// docs/consistency.md:
//
//   - bounded (the default): served from local state only while that state
//     provably reflects every write acknowledged before now minus the
//     staleness bound. A Tracker keeps a "fresh as of" instant t0: it notes
//     t0 on its monotonic clock, learns the leader's commit index through a
//     ReadIndex exchange, and waits until the local state machine has
//     applied it. A read at time t is served only while t - t0 is within the
//     bound; past it, the Tracker refreshes synchronously, and refuses with
//     a retryable error if it cannot.
//   - linearizable: a fresh ReadIndex barrier that started after the read
//     did. Concurrent linearizable reads share one barrier.
//   - min_index (read-your-writes): wait briefly until the local state has
//     applied a given index, then apply the bounded rule too.
//
// Clients choose per request with the Trent-Consistency, Trent-Max-Staleness
// and Trent-Min-Index headers; every response reports Trent-Consistency,
// Trent-Staleness-Bound and Trent-Applied-Index. No wall clock is used: only
// differences of one node's monotonic clock, so the bound holds without
// clock synchronization.
package consistency
