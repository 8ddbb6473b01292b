// Package server is Trent's composition root. It turns a [Config] into a
// running node: the data directory, the node's identity (cluster CA, node
// certificate, admin credential), the HSM, the replicated state machine and
// raft, the kms service, and the HTTPS listener that serves Connect, gRPC
// and gRPC-Web. It owns start-up and orderly shutdown; no other package
// imports it.
//
// # Data directory
//
//	node-id            this node's raft id, fixed on first start
//	ca/                cluster CA certificate and key (mode 0600)
//	node/              this node's certificate and key
//	admin/             ca.pem, cert.pem, key.pem for the account root principal
//	hsm/state          the soft HSM's sealed state
//	hsm/unseal.key     dev mode only: the key that unseals hsm/state
//	raft/              raft.db (log and votes) and snapshots
package server
