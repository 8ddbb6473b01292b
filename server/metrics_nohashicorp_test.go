//go:build !hashicorpmetrics

package server_test

// hashicorpMetrics: without the hashicorpmetrics tag a node forwards none
// of hashicorp/raft's metrics (see metrics.ForwardHashicorp).
var hashicorpMetrics []string
