package fsm

import "io"

// Counts are what a snapshot holds, for `trent snapshot inspect`.
type Counts struct {
	Applied           uint64 `json:"applied_index"`
	Keys              int    `json:"keys"`
	Grants            int    `json:"grants"`
	Aliases           int    `json:"aliases"`
	Users             int    `json:"users"`
	AccessKeys        int    `json:"access_keys"`
	Roles             int    `json:"roles"`
	PrincipalPolicies int    `json:"principal_policies"`
	Nodes             int    `json:"nodes"`
}

// Counts counts the records s holds, as CountSnapshot counts them in its
// persisted form.
func (s *Snapshot) Counts() Counts {
	return Counts{Applied: s.applied, Keys: s.keys.Len(), Grants: s.grants.byKey.Len(), Aliases: s.aliases.Len(),
		Users: s.iam.users.Len(), AccessKeys: s.iam.keys.Len(), Roles: s.authz.roles.Len(),
		PrincipalPolicies: s.authz.policies.Len(), Nodes: len(s.cluster.nodes)}
}

// CountSnapshot reads a snapshot written by [Snapshot.Persist] the way
// Restore would, refusing what Restore refuses, and counts its records.
func CountSnapshot(r io.Reader) (Counts, error) {
	st, err := readSnapshot(r)
	if err != nil {
		return Counts{}, err
	}
	return Counts{Applied: st.applied, Keys: st.keys.Len(), Grants: st.grants.byKey.Len(), Aliases: st.aliases.byName.Len(),
		Users: st.iam.users.Len(), AccessKeys: st.iam.keys.Len(), Roles: st.authz.roles.Len(),
		PrincipalPolicies: st.authz.policies.Len(), Nodes: len(st.cluster.nodes)}, nil
}

// Graft writes to w a snapshot that holds the data of the backup snapshot
// read from r (keys, grants, aliases, IAM users and access keys, roles,
// identity policies and revocations) and this snapshot's cluster records
// (identity, CA, members, join tokens, node and issued certificates), at
// applied index applied. Restoring a backup through raft installs it: the
// cluster restored into keeps its own CA and members, so its nodes still
// know one another, and gets the keys of the cluster that was backed up.
// The backup is read completely before anything is written.
func (s *Snapshot) Graft(r io.Reader, applied uint64, w io.Writer) error {
	st, err := readSnapshot(r)
	if err != nil {
		return err
	}
	// Revocations are kept from both: a certificate revoked after the
	// backup was saved stays revoked when the cluster rolls back to it.
	s.authz.revoked.Ascend(func(c *RevokedCert) bool {
		if _, ok := st.authz.revoked.Get(c); !ok {
			st.authz.revoked.ReplaceOrInsert(c)
		}
		return true
	})
	g := &Snapshot{applied: applied, keys: st.keys, grants: st.grants, cluster: s.cluster, iam: st.iam,
		authz: st.authz, certs: s.certs, aliases: st.aliases.byName}
	return g.Persist(w)
}
