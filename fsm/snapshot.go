package fsm

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/google/btree"
)

// Snapshot format:
//
//	"TRENTFSM" | uint32 version (big-endian) | records
//
// Version 1 records are JSON values, one per line: first a header
// {"applied": N}; then {"key": ...} per key in id order, {"grant": ...} per
// grant in (key, id) order, the cluster records ({"cluster": ...},
// {"node": ...}, {"join_token": ...}, {"domain_rotation": ...}) and the IAM records ({"user": ...},
// {"access_key": ...}) in id order, the authorization records ({"role": ...},
// {"principal_policy": ...}, {"revoked_cert": ...}), the records of
// certificates issued through IAM ({"issued_cert": ...}, in serial order),
// the aliases ({"alias": ...}, in (account, name) order); then {"end": true}. The end record
// makes a truncated snapshot detectable. Record kinds were added within
// version 1; a reader refuses a record it does not know.
const (
	snapshotMagic   = "TRENTFSM"
	snapshotVersion = 1
)

// ErrSnapshotFormat is returned by Restore for a snapshot it cannot read.
var ErrSnapshotFormat = errors.New("fsm: unreadable snapshot")

type snapshotHeader struct {
	Applied uint64 `json:"applied"`
}

type snapshotRecord struct {
	Key   *Key   `json:"key,omitempty"`
	Grant *Grant `json:"grant,omitempty"`
	// DeletedKey records a deleted key's tombstone; snapshots from before
	// tombstones have none.
	DeletedKey *DeletedKey `json:"deleted_key,omitempty"`
	// Cluster records: the identity, members and join tokens.
	Cluster   *ClusterInfo `json:"cluster,omitempty"`
	Node      *NodeInfo    `json:"node,omitempty"`
	JoinToken *JoinToken   `json:"join_token,omitempty"`
	NodeCert  *NodeCert    `json:"node_cert,omitempty"`
	// DomainRotation is the latest domain-key rotation, if any.
	DomainRotation *DomainRotation `json:"domain_rotation,omitempty"`
	// IAM records: users, then access keys (see writeIAM).
	User      *User      `json:"user,omitempty"`
	AccessKey *AccessKey `json:"access_key,omitempty"`
	// Authorization records: roles, identity policies, revoked
	// certificates (see writeAuthz).
	Role            *Role            `json:"role,omitempty"`
	PrincipalPolicy *PrincipalPolicy `json:"principal_policy,omitempty"`
	RevokedCert     *RevokedCert     `json:"revoked_cert,omitempty"`
	// IssuedCert records certificates issued through IAM (see writeCerts).
	IssuedCert *IssuedCert `json:"issued_cert,omitempty"`
	// Alias records the aliases; snapshots from before aliases have none.
	Alias *Alias `json:"alias,omitempty"`
	End   bool   `json:"end,omitempty"`
}

// Snapshot is the state at one applied index, captured by [FSM.Snapshot]
// and written out by Persist while Apply goes on.
type Snapshot struct {
	applied    uint64
	keys       *btree.BTreeG[*Key]
	tombstones *btree.BTreeG[*DeletedKey]
	grants     *grantIndex
	cluster    *clusterState
	iam        *iamState
	authz      *authzState
	certs      *certState
	aliases    *btree.BTreeG[*Alias]
}

// Snapshot captures the state in O(1): a copy-on-write clone persisted
// while Apply goes on.
func (f *FSM) Snapshot() (*Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &Snapshot{applied: f.applied.Load(), keys: f.keys.Clone(), tombstones: f.tombstones.Clone(), grants: f.grants.clone(), cluster: f.cluster.clone(), iam: f.iam.clone(), authz: f.authz.clone(), certs: f.certs.clone(), aliases: f.aliases.byName.Clone()}, nil
}

// Persist writes the snapshot to w in the format above, possibly while
// Apply goes on. It neither closes nor discards w: keeping what it wrote,
// or throwing it away on an error, is the caller's.
func (s *Snapshot) Persist(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var hdr [12]byte
	copy(hdr[:], snapshotMagic)
	binary.BigEndian.PutUint32(hdr[8:], snapshotVersion)
	if _, err := bw.Write(hdr[:]); err != nil {
		return err
	}
	enc := json.NewEncoder(bw)
	if err := enc.Encode(snapshotHeader{Applied: s.applied}); err != nil {
		return err
	}
	if err := encodeTree(enc, s.keys, func(k *Key) snapshotRecord { return snapshotRecord{Key: k} }); err != nil {
		return err
	}
	if err := encodeTree(enc, s.grants.byKey, func(g *Grant) snapshotRecord { return snapshotRecord{Grant: g} }); err != nil {
		return err
	}
	if err := s.writeCluster(enc); err != nil {
		return err
	}
	if err := s.writeIAM(enc); err != nil {
		return err
	}
	if err := s.writeAuthz(enc); err != nil {
		return err
	}
	if err := encodeTree(enc, s.certs.issued, func(c *IssuedCert) snapshotRecord { return snapshotRecord{IssuedCert: c} }); err != nil {
		return err
	}
	if err := encodeTree(enc, s.aliases, func(a *Alias) snapshotRecord { return snapshotRecord{Alias: a} }); err != nil {
		return err
	}
	if s.tombstones != nil {
		if err := encodeTree(enc, s.tombstones, func(d *DeletedKey) snapshotRecord { return snapshotRecord{DeletedKey: d} }); err != nil {
			return err
		}
	}
	if err := enc.Encode(snapshotRecord{End: true}); err != nil {
		return err
	}
	return bw.Flush()
}

// encodeTree writes one record per item of t, in tree order.
func encodeTree[T any](enc *json.Encoder, t *btree.BTreeG[T], record func(T) snapshotRecord) error {
	var err error
	t.Ascend(func(v T) bool {
		err = enc.Encode(record(v))
		return err == nil
	})
	return err
}

// Release is a no-op: the clone is garbage collected.
func (s *Snapshot) Release() {}

// Restore replaces the whole state with the snapshot read from r. The new
// state is built aside and swapped in only once it was read completely, so
// a bad snapshot leaves the FSM as it was.
func (f *FSM) Restore(r io.Reader) error {
	st, err := readSnapshot(r)
	if err != nil {
		return err
	}
	f.mu.Lock()
	var gone []string
	f.keys.Ascend(func(k *Key) bool {
		if _, ok := st.keys.Get(k); !ok {
			gone = append(gone, k.ID)
		}
		return true
	})
	f.keys = st.keys
	f.tombstones = st.tombstones
	f.grants = st.grants
	f.cluster = st.cluster
	f.iam = st.iam
	f.authz = st.authz
	f.certs = st.certs
	f.aliases = st.aliases
	f.mu.Unlock()
	f.tellDeleted(gone)
	f.setApplied(st.applied)
	return nil
}

// restored is a state read from a snapshot, not yet swapped in.
type restored struct {
	applied    uint64
	keys       *btree.BTreeG[*Key]
	tombstones *btree.BTreeG[*DeletedKey]
	grants     *grantIndex
	cluster    *clusterState
	iam        *iamState
	authz      *authzState
	certs      *certState
	aliases    *aliasState
}

func readSnapshot(r io.Reader) (*restored, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var hdr [12]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w: short header", ErrSnapshotFormat)
	}
	if string(hdr[:8]) != snapshotMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrSnapshotFormat)
	}
	if v := binary.BigEndian.Uint32(hdr[8:]); v != snapshotVersion {
		return nil, fmt.Errorf("%w: unknown version %d", ErrSnapshotFormat, v)
	}
	dec := json.NewDecoder(br)
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrSnapshotFormat, err)
	}
	st := &restored{applied: h.Applied, keys: btree.NewG(32, keyLess), tombstones: btree.NewG(32, deletedKeyLess), grants: newGrantIndex(), cluster: newClusterState(), iam: newIAMState(), authz: newAuthzState(), certs: newCertState(), aliases: newAliasState()}
	for {
		var rec snapshotRecord
		if err := dec.Decode(&rec); err != nil {
			return nil, fmt.Errorf("%w: record: %v", ErrSnapshotFormat, err)
		}
		switch {
		case rec.End:
			return st, nil
		case rec.Grant != nil && rec.Grant.ID != "":
			if _, dup := st.grants.get(rec.Grant.KeyID, rec.Grant.ID); dup {
				return nil, fmt.Errorf("%w: duplicate grant %s", ErrSnapshotFormat, rec.Grant.ID)
			}
			st.grants.insert(rec.Grant)
		case rec.Key != nil && rec.Key.ID != "":
			// Keys from before key policies were stored get the default.
			if _, dup := st.keys.ReplaceOrInsert(withDefaultPolicy(rec.Key)); dup {
				return nil, fmt.Errorf("%w: duplicate key %s", ErrSnapshotFormat, rec.Key.ID)
			}
		case rec.DeletedKey != nil && rec.DeletedKey.ID != "":
			if _, dup := st.tombstones.ReplaceOrInsert(rec.DeletedKey); dup {
				return nil, fmt.Errorf("%w: duplicate deleted key %s", ErrSnapshotFormat, rec.DeletedKey.ID)
			}
		case rec.Cluster != nil || rec.Node != nil || rec.JoinToken != nil || rec.NodeCert != nil || rec.DomainRotation != nil:
			st.cluster.restore(&rec)
		case rec.User != nil || rec.AccessKey != nil:
			if err := st.iam.restore(&rec); err != nil {
				return nil, err
			}
		case rec.Role != nil || rec.PrincipalPolicy != nil || rec.RevokedCert != nil:
			if err := st.authz.restore(&rec); err != nil {
				return nil, err
			}
		case rec.IssuedCert != nil && validSerial(rec.IssuedCert.Serial) && rec.IssuedCert.PrincipalID != "":
			if _, dup := st.certs.issued.Get(rec.IssuedCert); dup {
				return nil, fmt.Errorf("%w: duplicate issued certificate %s", ErrSnapshotFormat, rec.IssuedCert.Serial)
			}
			st.certs.insert(rec.IssuedCert)
		case rec.Alias != nil && rec.Alias.Account != "" && rec.Alias.Name != "" && rec.Alias.KeyID != "":
			if _, dup := st.aliases.get(rec.Alias.Account, rec.Alias.Name); dup {
				return nil, fmt.Errorf("%w: duplicate alias %s", ErrSnapshotFormat, rec.Alias.ARN)
			}
			st.aliases.put(rec.Alias)
		default:
			return nil, fmt.Errorf("%w: empty record", ErrSnapshotFormat)
		}
	}
}
