//go:build !hashicorpmetrics

package metrics

// ForwardHashicorp does nothing in a build without the hashicorpmetrics
// tag. There raft-boltdb reports through armon/go-metrics (its compat
// package picks by this tag) while hashicorp/raft and memberlist use
// hashicorp/go-metrics: forwarding one of the two would show raft's
// commit times but not the bolt store's, a picture that looks whole and
// is not. Build with -tags hashicorpmetrics, as the README does, for both. Trent's own raft metrics
// (trent_raft_...) do not depend on the tag.
func ForwardHashicorp(*Metrics) (stop func(), err error) { return func() {}, nil }
