package raft

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/trentkms/trent/wire"
)

// Errors returned by Node.Apply. The first three are wire's, the same
// values, so that services test them without importing this package (and
// hashicorp/raft and bbolt with it).
var (
	// ErrNotLeader means this node is not the leader; nothing was proposed.
	ErrNotLeader = wire.ErrNotLeader
	// ErrUnknownOutcome means the command may or may not have committed.
	ErrUnknownOutcome = wire.ErrUnknownOutcome
	// ErrShutdown means the node is shutting down.
	ErrShutdown = wire.ErrShutdown
	// ErrStoreLocked means another process holds the data directory.
	ErrStoreLocked = errors.New("raft: data directory is in use by another process")
)

// Config configures a Node.
type Config struct {
	// NodeID is the stable, unique raft server id of this node.
	NodeID string
	// Dir holds raft.db (log and votes) and snapshots/.
	Dir string
	// BindAddr is the transport's listen address, host:port. Port 0 picks one.
	BindAddr string
	// Listener, if set, is used instead of listening on BindAddr (callers
	// that must know the port before raft starts bind it themselves).
	Listener net.Listener
	// AdvertiseAddr is the address peers dial; defaults to the bound address.
	AdvertiseAddr string
	// ServerTLS and ClientTLS secure the transport with mutual TLS, and
	// with them the transport speaks only with members: peers must present
	// node certificates (identity.NodeIDFromCert) of nodes in the raft
	// configuration (see stream). Both nil means plain TCP with no checks,
	// which only tests use.
	ServerTLS, ClientTLS *tls.Config
	// ClientTLSFunc, if set, returns the client configuration for each
	// dial instead of ClientTLS (which must still be set, as a template):
	// the CAs a node trusts change during a CA rotation.
	ClientTLSFunc func() *tls.Config
	// FSM is the replicated state machine.
	FSM StateMachine
	// Noop is a command the state machine applies as a no-op. A new
	// leader commits one before it answers its term's first read index
	// (see termCommitted): unlike raft's own barrier entries, it reaches
	// the state machine, so a follower waiting for the state machine to
	// apply a read index is never left waiting on an entry it does not
	// see. Nil makes the node commit a barrier entry instead (tests of
	// this package, whose state machines count every entry).
	Noop []byte
	// Dial, if set, opens the transport's outgoing connections (TLS runs
	// on top); tests inject faults through it. Nil means a plain dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Bootstrap makes a node with no existing state form a one-voter cluster.
	Bootstrap bool
	// Logger receives raft's logs. Nil discards them.
	Logger hclog.Logger
	// Observer, if set, is told how long each proposal took (metrics).
	Observer Observer

	// Timing; zero values take the defaults of DefaultTimings.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration // zero means 5ms; see defaults
	SnapshotInterval   time.Duration
	SnapshotThreshold  uint64
	TrailingLogs       uint64

	// wrapLogs, if set, wraps the log store raft writes (this package's
	// tests fail appends through it).
	wrapLogs func(hraft.LogStore) hraft.LogStore
}

func (c *Config) defaults() {
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = time.Second
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = time.Second
	}
	if c.LeaderLeaseTimeout == 0 {
		c.LeaderLeaseTimeout = 500 * time.Millisecond
	}
	if c.CommitTimeout == 0 {
		// Followers learn that an entry committed from the leader's next
		// AppendEntries, which an idle leader sends every CommitTimeout to
		// 2x CommitTimeout: this bounds follower visibility lag (about
		// 5-10ms here) at the cost of a few hundred tiny RPCs a second.
		c.CommitTimeout = 5 * time.Millisecond
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = 120 * time.Second
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 8192
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 10240
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
}

// Observer is told of each proposal this node made as leader: the time
// from Apply to the state machine's response here, and its error (nil if
// it applied). Proposals refused because this node is not the leader are
// not reported.
type Observer interface {
	RaftApplied(d time.Duration, err error)
}

// Node is a running raft member. It is safe for concurrent use.
type Node struct {
	// readyTerm is the latest term in which this node, as leader, has
	// committed an entry of its own (see termCommitted).
	readyTerm atomic.Uint64
	raft      *hraft.Raft
	store     *raftboltdb.BoltStore
	watched   *watchedStore // store, as raft writes it
	transport *hraft.NetworkTransport
	stream    *stream
	id        string
	addr      string
	observer  Observer
	// reads shares leadership confirmations among concurrent ReadIndex
	// calls (readindex.go); probe confirms (confirmLeadership).
	reads sharedConfirm
	probe *termProbe
	// noop is Config.Noop.
	noop []byte
}

// Open starts a raft node on the data in cfg.Dir, creating it if needed.
// It owns cfg.Listener from the call on: Close closes it, and so does a
// failed Open. A failure at any step releases exactly what the steps
// before it acquired.
func Open(cfg Config) (_ *Node, err error) {
	cfg.defaults()
	var undo undoStack
	defer func() {
		if err != nil {
			undo.run()
		}
	}()
	if cfg.Listener != nil {
		undo.push(cfg.Listener.Close)
	}
	if cfg.NodeID == "" || cfg.Dir == "" || cfg.FSM == nil {
		return nil, errors.New("raft: NodeID, Dir and FSM are required")
	}
	store, snaps, err := openStores(cfg, &undo)
	if err != nil {
		return nil, err
	}
	watched := &watchedStore{BoltStore: store}
	if err := dropOlderTermTail(watched); err != nil {
		return nil, fmt.Errorf("raft: checking the log's tail: %w", err)
	}
	cache, err := hraft.NewLogCache(512, watched)
	if err != nil {
		return nil, fmt.Errorf("raft: %w", err)
	}
	var logs hraft.LogStore = &suffixStore{LogStore: cache}
	if cfg.wrapLogs != nil {
		logs = cfg.wrapLogs(logs)
	}
	stream, transport, err := openTransport(cfg, &undo)
	if err != nil {
		return nil, err
	}
	rc := raftConfig(cfg)
	if err := hraft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("raft: %w", err)
	}
	if cfg.Bootstrap {
		if err := bootstrap(rc, logs, watched, snaps, transport); err != nil {
			return nil, err
		}
	}
	paced := &pacedTransport{fullTransport: transport, pace: storeRetryPace, sleep: time.Sleep}
	r, err := hraft.NewRaft(rc, machine{cfg.FSM, stream}, logs, watched, snaps, paced)
	if err != nil {
		return nil, fmt.Errorf("raft: %w", err)
	}
	stream.setConfiguration(func() hraft.Configuration { return r.GetConfiguration().Configuration() },
		func() string { _, id := r.LeaderWithID(); return string(id) })
	n := &Node{raft: r, store: store, watched: watched, transport: transport, stream: stream, id: cfg.NodeID, addr: string(transport.LocalAddr()),
		observer: cfg.Observer, noop: cfg.Noop}
	// A round waits for a quorum at least 2 s (a loaded machine's TLS
	// dial to a peer can take a while), longer with long timeouts; a
	// leader that cannot reach a quorum steps down meanwhile.
	n.probe = &termProbe{trans: transport, logs: logs, id: hraft.ServerID(cfg.NodeID), addr: transport.LocalAddr(),
		timeout: max(2*time.Second, 2*cfg.ElectionTimeout)}
	n.reads.confirm = n.confirmRead
	return n, nil
}

// undoStack is a start-up's cleanup: each step that acquires something
// pushes its release, and a failed start-up runs them, newest first.
type undoStack []func() error

func (u *undoStack) push(release func() error) { *u = append(*u, release) }

func (u undoStack) run() {
	for i := len(u) - 1; i >= 0; i-- {
		_ = u[i]() // the start-up's own error is the one to report
	}
}

// openStores opens the log and vote store, raft.db (locked against a
// second process), and the snapshot store in cfg.Dir.
func openStores(cfg Config, undo *undoStack) (*raftboltdb.BoltStore, hraft.SnapshotStore, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("raft: %w", err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(cfg.Dir, "raft.db"),
		BoltOptions: &bbolt.Options{
			Timeout:        time.Second,
			NoFreelistSync: true,
			FreelistType:   bbolt.FreelistMapType,
		},
		// NoSync stays false: votes live in the same file.
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, nil, ErrStoreLocked
		}
		return nil, nil, fmt.Errorf("raft: open log store: %w", err)
	}
	undo.push(store.Close)
	snaps, err := hraft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, cfg.Logger.Named("snapshots"))
	if err != nil {
		return nil, nil, fmt.Errorf("raft: snapshot store: %w", err)
	}
	return store, snaps, nil
}

// openTransport starts the stream layer on cfg.Listener (or BindAddr) and
// the network transport over it.
func openTransport(cfg Config, undo *undoStack) (*stream, *hraft.NetworkTransport, error) {
	stream, err := listen(cfg.Listener, cfg.BindAddr, cfg.AdvertiseAddr, cfg.ServerTLS, cfg.ClientTLS, cfg.Logger.Named("stream"))
	if err != nil {
		return nil, nil, err
	}
	stream.clientFunc = cfg.ClientTLSFunc
	undo.push(stream.Close)
	stream.dial = cfg.Dial
	transport := hraft.NewNetworkTransportWithConfig(transportConfig(stream, cfg.Logger.Named("transport")))
	undo.push(transport.Close)
	return stream, transport, nil
}

// transportConfig is the network transport's configuration over stream.
//
// MaxRPCsInFlight 1 turns hashicorp/raft's pipelined replication off: a
// leader sends a follower one AppendEntries at a time. Pipelining (v1.8,
// at any MaxRPCsInFlight of 2 or more) can deadlock the leader's
// replication to a follower that refuses an append: pipelineDecode
// returns on the refusal and stops reading responses, while the send
// loop, which checks for that only between sends, may send once more,
// and that send waits forever for the transport's response decoder,
// itself waiting for pipelineDecode. Heartbeats still flow, so no
// election repairs it: the follower stays behind for good (Jepsen
// keystate/disk-full, seed 4227: a follower whose disk filled stayed
// 400 entries behind). Without it an append carries up to
// MaxAppendEntries (64) of the entries the follower lacks, so under load
// one round trip at a time still moves whole batches.
func transportConfig(stream hraft.StreamLayer, logger hclog.Logger) *hraft.NetworkTransportConfig {
	return &hraft.NetworkTransportConfig{
		Stream:          stream,
		MaxPool:         3,
		Timeout:         10 * time.Second,
		Logger:          logger,
		MaxRPCsInFlight: 1,
	}
}

// raftConfig is hashicorp/raft's configuration for cfg.
func raftConfig(cfg Config) *hraft.Config {
	rc := hraft.DefaultConfig()
	rc.LocalID = hraft.ServerID(cfg.NodeID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.MaxAppendEntries = 64
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	rc.NoLegacyTelemetry = true
	rc.Logger = cfg.Logger
	return rc
}

// bootstrap forms a one-voter cluster of this node, unless there is state
// already.
func bootstrap(rc *hraft.Config, logs hraft.LogStore, store hraft.StableStore, snaps hraft.SnapshotStore, transport hraft.Transport) error {
	has, err := hraft.HasExistingState(logs, store, snaps)
	if err != nil {
		return fmt.Errorf("raft: %w", err)
	}
	if has {
		return nil
	}
	conf := hraft.Configuration{Servers: []hraft.Server{{
		Suffrage: hraft.Voter, ID: rc.LocalID, Address: transport.LocalAddr(),
	}}}
	if err := hraft.BootstrapCluster(rc, logs, store, snaps, transport, conf); err != nil {
		return fmt.Errorf("raft: bootstrap: %w", err)
	}
	return nil
}

// ID returns this node's raft server id.
func (n *Node) ID() string { return n.id }

// Addr returns the transport address peers dial.
func (n *Node) Addr() string { return n.addr }

// Apply proposes cmd and waits until it has been applied on this node,
// returning the state machine's response and the entry's log index.
func (n *Node) Apply(ctx context.Context, cmd []byte) (resp any, index uint64, err error) {
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	start := time.Now()
	f := n.raft.Apply(cmd, timeout)
	err = f.Error()
	if n.observer != nil && !errors.Is(err, hraft.ErrNotLeader) {
		n.observer.RaftApplied(time.Since(start), err)
	}
	if err != nil {
		err = mapErr(err)
		if serr := n.watched.Failing(); serr != nil && !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrShutdown) {
			// The leader could not write its log (it steps down): the
			// entry may have reached followers. Retryable.
			return nil, 0, fmt.Errorf("%w: %v", ErrUnknownOutcome, serr)
		}
		return nil, 0, err
	}
	return f.Response(), f.Index(), nil
}

// StorageFailing returns why the last write to the raft log or vote store
// failed (a full disk, a failed fsync), or nil once one succeeds again.
// While it fails the node accepts no new entries: as leader it steps
// down, as follower it refuses the leader's appends.
func (n *Node) StorageFailing() error { return n.watched.Failing() }

func mapErr(err error) error {
	switch {
	case errors.Is(err, hraft.ErrNotLeader):
		return ErrNotLeader
	case errors.Is(err, hraft.ErrLeadershipLost), errors.Is(err, hraft.ErrLeadershipTransferInProgress):
		return ErrUnknownOutcome
	case errors.Is(err, hraft.ErrRaftShutdown), errors.Is(err, hraft.ErrTransportShutdown):
		return ErrShutdown
	case errors.Is(err, hraft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
	}
	return err
}

// IsLeader reports whether this node currently believes it is the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == hraft.Leader }

// Leader returns the current leader's id and address, if known.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// WaitLeader blocks until some leader is known or ctx ends.
func (n *Node) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if id, _ := n.Leader(); id != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// ReadIndex returns an index that a linearizable read must wait for: the
// leader's commit index, captured before a quorum confirms leadership (the
// order matters; see reference/stack.md 1.7). Only the leader answers;
// others return ErrNotLeader. Concurrent calls share confirmations, each
// answered by one that started after it (readindex.go).
//
// The state machine never sees raft's own no-op and barrier entries, so a
// commit index that points at one (as it does right after an election)
// would never be reached by the FSM's applied index. ReadIndex returns
// instead the last entry at or below the commit index that the FSM does
// see: the state there is the state at the commit index.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	if n.raft.State() != hraft.Leader {
		return 0, ErrNotLeader
	}
	if err := n.termCommitted(ctx); err != nil {
		return 0, err
	}
	return n.reads.do(ctx)
}

// confirmRead is one confirmation for ReadIndex: the commit index, then a
// quorum's confirmation that this node still leads (confirmLeadership). A
// caller checked that the term it leads in has an entry of its own
// committed; if the term moved on since, the commit index may again lag
// (see termCommitted), and the caller is told to retry.
func (n *Node) confirmRead() (uint64, error) {
	term := n.raft.CurrentTerm()
	if n.readyTerm.Load() < term || n.raft.State() != hraft.Leader {
		// A node that stepped down sends no probes: they would make
		// followers take it for their leader for a while.
		return 0, ErrNotLeader
	}
	idx, err := confirmLeadership(n.raft, n.probe, term)
	if err != nil {
		return 0, mapErr(err)
	}
	return n.visibleIndex(idx), nil
}

// confirmLeadership returns r's commit index once a quorum has confirmed,
// after the index was noted, that r still leads: every write acknowledged
// before the call is at or below the index.
//
// The confirmation is a round of term probes sent after the index was
// noted (see termProbe), not hashicorp/raft's VerifyLeader. VerifyLeader
// counts as a vote any successful AppendEntries answer that arrives after
// it was called, including the answer to a heartbeat sent before it, so a
// leader that was paused (or whose answers were delayed) past an
// election, and did not notice yet, confirms itself with its followers'
// answers from before the election and serves reads from before the new
// leader's writes (Jepsen grants/pause, seed 2200;
// TestConfirmIgnoresAnswersSentBefore). A probe sent after the note is
// answered in its term only by a follower still in that term, which one
// that voted in a newer election is not. term is the term the caller
// checked this node leads in.
func confirmLeadership(r *hraft.Raft, p *termProbe, term uint64) (uint64, error) {
	idx := r.CommitIndex()
	if err := p.quorum(r, term, idx); err != nil {
		return 0, err
	}
	// The answers must be to the term the index was noted in: a node
	// delayed between the two for an election's length could step down
	// and lead again, and its probes would then be of a later term,
	// after another leader's writes. Terms only grow, so an unchanged
	// term means none passed.
	if r.CurrentTerm() != term {
		return 0, hraft.ErrLeadershipLost
	}
	return idx, nil
}

// termCommitted returns once this leader has committed an entry of its
// current term. Until then its commit index may lag entries that an
// earlier leader committed and acknowledged (Raft thesis 6.4): a new
// leader learns its true commit index only by committing in its own term.
// The first read of a term commits a no-op command (Config.Noop, or a
// barrier without one); later ones find the term recorded.
func (n *Node) termCommitted(ctx context.Context) error {
	term := n.raft.CurrentTerm()
	if n.readyTerm.Load() >= term {
		return nil
	}
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	var f hraft.Future
	if n.noop != nil { // a command the state machine sees (see Config.Noop)
		f = n.raft.Apply(n.noop, timeout)
	} else {
		f = n.raft.Barrier(timeout)
	}
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return mapErr(err)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	if n.raft.CurrentTerm() == term {
		for { // only ever moves forward
			cur := n.readyTerm.Load()
			if cur >= term || n.readyTerm.CompareAndSwap(cur, term) {
				break
			}
		}
	}
	return nil
}

// visibleIndex returns the last index at or below idx whose entry reaches
// the FSM (a command or a configuration change). An entry already
// compacted into a snapshot counts as visible: the FSM's state includes
// it. That entry may be a no-op or barrier the FSM never reports as
// applied, and a reader waiting for it is released only by the next
// command. With Config.Noop that cannot happen: a leader answers read
// indexes only after its term's no-op command committed (termCommitted),
// after which the walk stops at that command or a later entry, which the
// log still holds (compaction keeps TrailingLogs entries); and Restore
// commits one after the restored snapshot. Without it (tests of this
// package, with barriers), a follower could wait on an idle cluster until
// the next write: the rare stalls after a leader kill that the in-process
// tests used to show.
func (n *Node) visibleIndex(idx uint64) uint64 {
	for i := idx; i > 0; i-- {
		var l hraft.Log
		if err := n.store.GetLog(i, &l); err != nil {
			return i
		}
		if l.Type != hraft.LogNoop && l.Type != hraft.LogBarrier {
			return i
		}
	}
	return 0
}

// FirstIndex returns the first index in the log store; entries before it
// were compacted into a snapshot.
func (n *Node) FirstIndex() (uint64, error) { return n.store.FirstIndex() }

// AddNonvoter adds a member that receives the log but does not vote.
func (n *Node) AddNonvoter(id, addr string) error {
	return mapErr(n.raft.AddNonvoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, 10*time.Second).Error())
}

// AddVoter adds a voting member, or promotes a non-voter.
func (n *Node) AddVoter(id, addr string) error {
	return mapErr(n.raft.AddVoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, 10*time.Second).Error())
}

// RemoveServer removes a member.
func (n *Node) RemoveServer(id string) error {
	return mapErr(n.raft.RemoveServer(hraft.ServerID(id), 0, 10*time.Second).Error())
}

// Member is one entry of the raft configuration.
type Member struct {
	ID, Addr string
	Voter    bool
}

// Members returns the current raft configuration.
func (n *Node) Members() ([]Member, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, mapErr(err)
	}
	var out []Member
	for _, s := range f.Configuration().Servers {
		out = append(out, Member{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == hraft.Voter})
	}
	return out, nil
}

// State returns "Leader", "Follower", "Candidate" or "Shutdown".
func (n *Node) State() string { return n.raft.State().String() }

// LastContact returns when this node last heard from the leader.
func (n *Node) LastContact() time.Time { return n.raft.LastContact() }

// Term returns this node's current raft term.
func (n *Node) Term() uint64 { return n.raft.CurrentTerm() }

// CommitIndex returns the latest index this node knows to be committed.
func (n *Node) CommitIndex() uint64 { return n.raft.CommitIndex() }

// Snapshot forces a snapshot now.
func (n *Node) Snapshot() error { return n.raft.Snapshot().Error() }

// Close shuts raft down and releases the store and transport.
func (n *Node) Close() error {
	n.watched.closing.Store(true)
	err := n.raft.Shutdown().Error()
	if cerr := n.transport.Close(); err == nil {
		err = cerr
	}
	if cerr := n.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// Restore makes a snapshot the state of the cluster, on the leader,
// through raft (hashicorp/raft's Restore): the leader restores its state
// machine from it and skips its log past it, so every follower installs
// it as a snapshot. write writes the snapshot for the applied index it
// is given (the index it will be installed at, or just below it if writes
// race). It is irreversible: the state before is gone.
func (n *Node) Restore(write func(applied uint64, w io.Writer) error, timeout time.Duration) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	last := n.raft.LastIndex()
	var buf bytes.Buffer
	if err := write(last+1, &buf); err != nil {
		return err
	}
	if err := n.raft.Restore(&hraft.SnapshotMeta{Version: hraft.SnapshotVersionMax, Index: last, Size: int64(buf.Len())}, &buf, timeout); err != nil {
		return mapErr(err)
	}
	// The state machine's applied index is last+1, the snapshot's index
	// may be higher (a write raced the restore), and read indexes would
	// name it until the next command: commit one (see visibleIndex).
	// The restore has happened either way: if this fails (the lead moved
	// on), readers wait only until the next command.
	if n.noop != nil {
		_ = n.raft.Apply(n.noop, timeout).Error()
	}
	return nil
}
