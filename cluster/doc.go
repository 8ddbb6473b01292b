// Package cluster turns single raft nodes into a Trent cluster: it lets a
// node join with a one-time token, forwards writes and read barriers from
// followers to the leader, and serves the ClusterService between nodes.
//
// # Joining
//
// An admin asks any node for a join token (`trent cluster join-token`):
//
//	trent-join-v1.<id>.<secret>.<sha256 of the cluster CA certificate, hex>
//
// The cluster keeps only a hash of the secret, in the replicated state,
// with an expiry. The joining node dials the API address it was given,
// trusting only a server whose certificate chain ends in the CA named by
// the token, and sends the token, its node id and addresses, a CSR for its
// node key, and its HSM's identity public key. The leader spends the token
// through raft (so it works once, cluster-wide, before it expires), issues
// a node certificate from the cluster CA, seals the domain key to the
// joiner's HSM with HPKE (the key never appears in plaintext outside the
// two HSMs), records the node's addresses and its certificate's serial,
// and adds it as a non-voter. The joiner starts raft, catches up, and asks
// to be promoted to voter.
//
// # Removal
//
// Removing a member (RemoveNode, or dead-server cleanup) proposes one
// command that forgets its addresses and puts its recorded certificate
// serials on the deny list, then takes it out of the raft configuration.
// From then on the ClusterService refuses its forwarded calls (members
// only), and the raft transport of every member refuses and drops its
// connections (package raft). The leader then replaces the gossip key,
// which the removed node holds. A wiped node may join again under the
// same id: it gets a new certificate.
//
// # The cluster CA
//
// The CA key is replicated sealed: AES-256-GCM under an internal key whose
// material is an EKT, so any node holding the domain key can sign, and
// neither the log nor a snapshot reveals it. The node that created the
// cluster keeps its own copy sealed the same way ([SealCAKey]), bound to
// the CA certificate, so its data directory holds no plaintext CA key
// either.
//
// # Forwarding
//
// A write that reaches a follower is proposed on the leader through
// ClusterService.Apply over mutual TLS with node certificates (one hop at
// most); the follower then waits until it has applied the write itself, so
// a client reads its own writes on the node it wrote through. Linearizable
// reads on a follower ask the leader for a read index the same way.
package cluster
