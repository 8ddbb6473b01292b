package server

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/trentkms/trent/audit"
	"github.com/trentkms/trent/backup"
	"github.com/trentkms/trent/fsm"
)

// snapshotPath serves `trent snapshot save` (GET: a backup of the
// replicated state, streamed from the leader) and `trent snapshot
// restore` (PUT with ?force=true: the backup becomes the cluster's state,
// through raft). See docs/operations.md, "Backup and restore".
const snapshotPath = "/v1/snapshot"

const (
	// snapshotMaxBytes caps a backup uploaded to restore: it is held in
	// memory while it is checked and installed.
	snapshotMaxBytes = 1 << 30
	// snapshotTimeout bounds a save or a restore.
	snapshotTimeout = 10 * time.Minute
)

// snapshotPolicy: only the admin saves or restores the whole state; both
// are recorded, served or refused.
func snapshotPolicy() policy {
	return policy{source: audit.SourceCluster, callers: principals, admin: true, maxBytes: snapshotMaxBytes,
		timeout: snapshotTimeout, audit: auditServed}
}

// serveSnapshot is the snapshot route's handler.
func (s *Server) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		s.saveSnapshot(w)
	case http.MethodPut:
		s.restoreSnapshot(w, r)
	default:
		w.Header().Set("Allow", "GET, PUT")
		http.Error(w, "snapshot: GET saves a backup, PUT restores one", http.StatusMethodNotAllowed)
	}
}

// notLeader answers a call only the leader serves.
func (s *Server) notLeader(w http.ResponseWriter) {
	if l := s.otherLeader(); l != "" {
		w.Header().Set("Trent-Leader", l)
		http.Error(w, "snapshot: this node is not the leader; the leader is "+l, http.StatusServiceUnavailable)
		return
	}
	http.Error(w, "snapshot: this node is not the leader, and no leader is known", http.StatusServiceUnavailable)
}

// saveSnapshot streams a backup of the state the leader has applied: the
// FSM is captured in O(1) and written while writes go on.
func (s *Server) saveSnapshot(w http.ResponseWriter) {
	if !s.raft.IsLeader() {
		s.notLeader(w)
		return
	}
	term := s.raft.Term()
	snap, err := s.fsm.Snapshot()
	if err != nil {
		http.Error(w, "snapshot: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer snap.Release()
	info := s.fsm.Cluster()
	dk := s.hsm.DomainKeyID()
	n := snap.Counts()
	h := backup.Header{ClusterID: info.ID, NodeID: s.nodeID, Applied: n.Applied, Term: term,
		Created: time.Now().UTC(), DomainKeyID: hex.EncodeToString(dk[:]), Counts: n.Counts}
	w.Header().Set("Content-Type", "application/octet-stream")
	if err := backup.Write(w, h, snap.Persist); err != nil {
		// The status is sent: the client sees a file without its
		// checksum, which it refuses.
		s.log.Warn("snapshot save failed", slog.Any("error", err))
	}
}

// restoreSnapshot installs an uploaded backup as the cluster's state.
func (s *Server) restoreSnapshot(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("force") != "true" {
		http.Error(w, "snapshot: restoring replaces every key, grant and alias of the running cluster: confirm with force=true (trent snapshot restore --force)", http.StatusBadRequest)
		return
	}
	if !s.raft.IsLeader() {
		s.notLeader(w)
		return
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "snapshot: reading the upload: "+err.Error(), http.StatusBadRequest)
		return
	}
	h, payload, err := backup.Read(data)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := checkDomainKey(h, s.hsm.DomainKeyID()); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	n, err := fsm.CountSnapshot(bytes.NewReader(payload))
	if err != nil {
		http.Error(w, "snapshot: "+err.Error(), http.StatusBadRequest)
		return
	}
	if n.Counts != h.Counts {
		http.Error(w, "snapshot: the backup's header does not describe its snapshot (its counts differ)", http.StatusBadRequest)
		return
	}
	cur, err := s.fsm.Snapshot()
	if err != nil {
		http.Error(w, "snapshot: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer cur.Release()
	err = s.raft.Restore(func(applied uint64, w io.Writer) error {
		return cur.Graft(bytes.NewReader(payload), applied, w)
	}, snapshotTimeout)
	if err != nil {
		http.Error(w, "snapshot: restore: "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.log.Warn("restored a backup", slog.String("from_cluster", h.ClusterID), slog.Uint64("from_index", h.Applied))
	w.WriteHeader(http.StatusNoContent)
}

// ErrWrongDomainKey refuses a backup whose keys are wrapped under a domain
// key this node's HSM does not hold: restored, none would decrypt.
var ErrWrongDomainKey = errors.New("snapshot: wrong domain key")

func checkDomainKey(h backup.Header, have [16]byte) error {
	if h.DomainKeyID != hex.EncodeToString(have[:]) {
		return fmt.Errorf("%w: the backup's keys are wrapped under domain key %s, and this cluster's HSM holds %s; restore onto nodes whose HSM holds the backed-up domain key (docs/operations.md)",
			ErrWrongDomainKey, h.DomainKeyID, hex.EncodeToString(have[:]))
	}
	return nil
}
