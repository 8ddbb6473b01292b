// Package server is Trent's composition root. It turns a [Config] into a
// running node: the data directory, the HSM, the node's identity (cluster
// CA, node certificate, admin credential), the replicated state machine and
// raft, the kms service, and the HTTPS listener that serves Connect, gRPC
// and gRPC-Web. It owns start-up and orderly shutdown; no other package
// imports it.
//
// # Data directory
//
//	node-id            this node's raft id, fixed on first start
//	ca/ca.pem          cluster CA certificate
//	ca/ca-key.sealed   on the node that created the cluster: the CA key,
//	                   sealed under the HSM (never in the clear; an old
//	                   ca-key.pem is sealed and removed at start)
//	node/              this node's certificate and key
//	admin/             ca.pem, cert.pem, key.pem for the account root principal
//	hsm/state          the soft HSM's sealed state
//	hsm/unseal.key     dev mode only: the key that unseals hsm/state
//	raft/              raft.db (log and votes) and snapshots
package server
