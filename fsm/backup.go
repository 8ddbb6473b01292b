package fsm

import (
	"io"

	"github.com/trentkms/trent/backup"
)

// Counts are what a snapshot holds, for `trent snapshot inspect`: the
// index it was taken at and its records, by kind, in the backup file
// format's own terms.
type Counts struct {
	Applied uint64
	backup.Counts
}

// count counts the records of a state, persisted or not.
func count(applied uint64, keys, grants, aliases, users, accessKeys, roles, policies, nodes int) Counts {
	return Counts{Applied: applied, Counts: backup.Counts{Keys: keys, Grants: grants, Aliases: aliases, Users: users,
		AccessKeys: accessKeys, Roles: roles, PrincipalPolicies: policies, Nodes: nodes}}
}

// Counts counts the records s holds, as CountSnapshot counts them in its
// persisted form.
func (s *Snapshot) Counts() Counts {
	return count(s.applied, s.keys.Len(), s.grants.byKey.Len(), s.aliases.Len(), s.iam.users.Len(), s.iam.keys.Len(),
		s.authz.roles.Len(), s.authz.policies.Len(), len(s.cluster.nodes))
}

// CountSnapshot reads a snapshot written by [Snapshot.Persist] the way
// Restore would, refusing what Restore refuses, and counts its records.
func CountSnapshot(r io.Reader) (Counts, error) {
	st, err := readSnapshot(r)
	if err != nil {
		return Counts{}, err
	}
	return count(st.applied, st.keys.Len(), st.grants.byKey.Len(), st.aliases.byName.Len(), st.iam.users.Len(), st.iam.keys.Len(),
		st.authz.roles.Len(), st.authz.policies.Len(), len(st.cluster.nodes)), nil
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
	// Tombstones too, except of the keys the backup brings back.
	if s.tombstones != nil {
		s.tombstones.Ascend(func(d *DeletedKey) bool {
			if _, back := st.keys.Get(&Key{ID: d.ID}); !back {
				st.tombstones.ReplaceOrInsert(d)
			}
			return true
		})
	}
	g := &Snapshot{applied: applied, keys: st.keys, tombstones: st.tombstones, grants: st.grants, cluster: s.cluster, iam: st.iam,
		authz: st.authz, certs: s.certs, aliases: st.aliases.byName}
	return g.Persist(w)
}
