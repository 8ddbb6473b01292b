//go:build hashicorpmetrics

package server_test

// hashicorpMetrics are metrics of hashicorp/raft and raft-boltdb that a
// node built with the hashicorpmetrics tag forwards into its registry.
var hashicorpMetrics = []string{
	"trent_raft_commitTime",       // hashicorp/raft
	"trent_raft_boltdb_storeLogs", // raft-boltdb, through go-metrics' compat package
	"trent_raft_fsm_applyBatch",   // hashicorp/raft's FSM loop
	"trent_memberlist_msg_alive",  // memberlist (gossip)
}
