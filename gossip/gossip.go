// Package gossip discovers the members of a Trent cluster and reports
// their health, with hashicorp/memberlist.
//
// Every message is encrypted and authenticated with the cluster's gossip
// key (AES-256-GCM) and carries the cluster id as its label, so nodes of
// two clusters never merge: a packet under another key or label is
// dropped. Holding the key makes a process a fully trusted gossip member
// (memberlist has no per-node identity), so gossip is only ever a hint:
// it tells the leader where a member claims to be and whether it looks
// alive. Raft membership changes need a node certificate that the leader
// verified (see package cluster). When the cluster removes a member it
// replaces the key ([Gossip.UseKey], then [Gossip.RetireOtherKeys]), so
// the removed node, which keeps the old key, drops out.
//
// A member's metadata is its node id, raft address and API address; its
// gossip name is its node id. The gossip addresses of the members last
// seen alive are kept in a file so that a restarted node finds the
// cluster again before it has caught up with the replicated state.
package gossip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Health is a member's state as gossip sees it.
type Health string

// Member health.
const (
	Alive   Health = "alive"
	Suspect Health = "suspect" // missed probes; not yet declared dead
	Dead    Health = "dead"    // failed
	Left    Health = "left"    // left gracefully (shut down)
)

// Meta is what a member advertises about itself. It is at most
// memberlist.MetaMaxSize (512) bytes encoded.
type Meta struct {
	V        int    `json:"v"`
	ID       string `json:"id"`
	RaftAddr string `json:"raft"`
	APIAddr  string `json:"api"`
	// Leaving is set by a member about to leave gracefully. (Memberlist
	// does not tell a leave from a failure in its events.)
	Leaving bool `json:"leaving,omitempty"`
}

const metaVersion = 1

// Member is one node gossip knows of.
type Member struct {
	// Name is the gossip name, the member's node id.
	Name string
	// Addr is the member's gossip address, host:port.
	Addr string
	// Meta is what the member advertises; zero if it did not parse or does
	// not name the member (Meta.ID == Name is checked).
	Meta   Meta
	Health Health
	// Since is when this node saw the member reach its current health.
	Since time.Time
}

// Config configures gossip.
type Config struct {
	// Name is this node's id.
	Name string
	// BindAddr is host:port to listen on (TCP and UDP); port 0 picks one.
	BindAddr string
	// Key is the 32-byte cluster gossip key. Start copies it.
	Key []byte
	// Label is the cluster id.
	Label string
	// Meta is this node's metadata.
	Meta Meta
	// PeersFile, if set, keeps the gossip addresses of members last seen
	// alive across restarts (see Peers).
	PeersFile string
	// ProbeInterval sets the failure detector's pace; zero means the LAN
	// defaults (1s; a failed member is declared dead after about 5-10s).
	// Tests shorten it.
	ProbeInterval time.Duration
	// OnChange, if set, is called after a member joins, leaves, fails or
	// changes its metadata. It must not block.
	OnChange func()
	Now      func() time.Time
	Logger   *slog.Logger
}

// Gossip is this node's gossip membership. It is safe for concurrent use.
type Gossip struct {
	cfg     Config
	ml      *memberlist.Memberlist
	keyring *memberlist.Keyring
	mu      sync.Mutex
	meta    []byte
	members map[string]*Member
	closed  bool
}

// ErrBadKey is returned for a gossip key that is not 32 bytes.
var ErrBadKey = errors.New("gossip: the key must be 32 bytes")

// Start starts gossip on cfg.BindAddr. It does not contact anyone; call
// Join.
func Start(cfg Config) (*Gossip, error) {
	if len(cfg.Key) != 32 {
		return nil, ErrBadKey
	}
	if cfg.Name == "" || cfg.Label == "" {
		return nil, errors.New("gossip: Name and Label are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	host, portStr, err := net.SplitHostPort(cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("gossip: bind address %q: %w", cfg.BindAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("gossip: bind address %q: bad port", cfg.BindAddr)
	}
	cfg.Meta.V, cfg.Meta.ID = metaVersion, cfg.Name
	meta, err := json.Marshal(cfg.Meta)
	if err != nil {
		return nil, err
	}
	if len(meta) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("gossip: metadata is %d bytes, more than %d", len(meta), memberlist.MetaMaxSize)
	}
	g := &Gossip{cfg: cfg, meta: meta, members: map[string]*Member{}}

	mc := memberlist.DefaultLANConfig()
	if cfg.ProbeInterval > 0 {
		mc = memberlist.DefaultLocalConfig()
		mc.ProbeInterval = cfg.ProbeInterval
		mc.ProbeTimeout = cfg.ProbeInterval / 2
		mc.GossipInterval = cfg.ProbeInterval / 4
		mc.SuspicionMult = 2
		mc.TCPTimeout = 2 * cfg.ProbeInterval
	}
	mc.Name = cfg.Name
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertisePort = port
	// The keyring keeps the slice it is given; callers clear theirs.
	mc.SecretKey = slices.Clone(cfg.Key)
	g.cfg.Key = nil
	mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	mc.Label = cfg.Label
	// A member that died (kill -9) and comes back on another address may
	// take its name back after this long; one that left may at once.
	mc.DeadNodeReclaimTime = 2 * mc.ProbeInterval
	mc.Delegate = (*delegate)(g)
	mc.Events = (*events)(g)
	mc.Logger = log.New(&logWriter{l: cfg.Logger}, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip: %w", err)
	}
	g.ml = ml
	g.keyring = mc.Keyring // made by Create from SecretKey
	return g, nil
}

// UseKey makes key the key this node sends under, and keeps accepting
// messages under the keys it had, until RetireOtherKeys. The cluster
// changes its key when it removes a member (see package cluster): the
// removed node, which holds the old key, is cut off once every member has
// retired it.
func (g *Gossip) UseKey(key []byte) error {
	if len(key) != 32 {
		return ErrBadKey
	}
	k := slices.Clone(key) // the keyring keeps the slice
	if err := g.keyring.AddKey(k); err != nil {
		return fmt.Errorf("gossip: %w", err)
	}
	if err := g.keyring.UseKey(k); err != nil {
		return fmt.Errorf("gossip: %w", err)
	}
	return nil
}

// RetireOtherKeys stops accepting messages under any key but the one
// this node sends under.
func (g *Gossip) RetireOtherKeys() {
	primary := g.keyring.GetPrimaryKey()
	for _, k := range g.keyring.GetKeys() {
		if !bytes.Equal(k, primary) {
			_ = g.keyring.RemoveKey(k) // only the primary cannot be removed
		}
	}
}

// Addr returns the address other members reach this node at.
func (g *Gossip) Addr() string { return g.ml.LocalNode().Address() }

// Join contacts seeds (gossip addresses) and merges state with every one
// that answers. It returns how many answered; an error only if none did.
func (g *Gossip) Join(seeds []string) (int, error) {
	seeds = slices.DeleteFunc(slices.Clone(seeds), func(s string) bool { return s == "" || s == g.Addr() })
	if len(seeds) == 0 {
		return 0, nil
	}
	return g.ml.Join(seeds)
}

// Members returns every member this node knows of, itself included, in
// name order.
func (g *Gossip) Members() []Member {
	suspect := map[string]bool{}
	for _, n := range g.ml.Members() {
		if n.State == memberlist.StateSuspect {
			suspect[n.Name] = true
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Member, 0, len(g.members))
	for _, m := range g.members {
		c := *m
		if c.Health == Alive && suspect[c.Name] {
			c.Health = Suspect
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Member) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// Peers returns the gossip addresses saved in cfg.PeersFile: the members
// last seen alive, to rejoin after a restart.
func (g *Gossip) Peers() []string {
	if g.cfg.PeersFile == "" {
		return nil
	}
	b, err := os.ReadFile(g.cfg.PeersFile)
	if err != nil {
		return nil
	}
	var peers []string
	if json.Unmarshal(b, &peers) != nil {
		return nil
	}
	return peers
}

// Close leaves gracefully (members see this node as left, not failed) and
// stops gossip. It is idempotent.
func (g *Gossip) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	m := g.cfg.Meta
	m.Leaving = true
	g.meta, _ = json.Marshal(m)
	g.mu.Unlock()
	// Each waits for one gossip round to carry the message, and returns
	// at once when no other member is alive; a loaded machine may need
	// more than one second for that round. Both are best effort: members
	// that miss them see this node fail instead, and the node stops all
	// the same, so a timeout is logged, not returned.
	if err := errors.Join(g.ml.UpdateNode(3*time.Second), g.ml.Leave(3*time.Second)); err != nil {
		g.cfg.Logger.Warn("gossip: members may see this node fail rather than leave", "err", err)
	}
	return g.ml.Shutdown()
}

// observe records a member's new state. Memberlist calls the event
// delegate from several goroutines but never concurrently.
func (g *Gossip) observe(n *memberlist.Node, leave bool) {
	h := Alive
	m := Member{Name: n.Name, Addr: n.Address(), Health: h, Since: g.cfg.Now()}
	m.Meta, _ = parseMeta(n.Name, n.Meta)
	g.mu.Lock()
	old, ok := g.members[n.Name]
	if leave {
		// Memberlist marks a member left when the member itself said so;
		// the Leaving metadata covers a leave that only reached us
		// through a third member's view of it.
		h = Dead
		if n.State == memberlist.StateLeft || ok && old.Meta.Leaving || m.Meta.Leaving {
			h = Left
		}
		m.Health = h
	}
	if ok && old.Health == h {
		m.Since = old.Since // a metadata update does not reset the clock
	}
	g.members[n.Name] = &m
	var alive []string
	for _, o := range g.members {
		if o.Health == Alive && o.Name != g.cfg.Name {
			alive = append(alive, o.Addr)
		}
	}
	g.mu.Unlock()
	g.savePeers(alive)
	if g.cfg.OnChange != nil {
		g.cfg.OnChange()
	}
}

// parseMeta decodes a member's metadata; ok is false (and Meta zero) for
// metadata of another version or that names another node.
func parseMeta(name string, b []byte) (Meta, bool) {
	var m Meta
	if len(b) > memberlist.MetaMaxSize || json.Unmarshal(b, &m) != nil || m.V != metaVersion || m.ID != name {
		return Meta{}, false
	}
	return m, true
}

// savePeers writes the alive members' addresses, atomically; a failure
// only costs the next restart its shortcut, so it is logged.
func (g *Gossip) savePeers(addrs []string) {
	if g.cfg.PeersFile == "" || len(addrs) == 0 {
		return
	}
	slices.Sort(addrs)
	b, _ := json.Marshal(addrs)
	tmp := g.cfg.PeersFile + ".tmp"
	err := os.MkdirAll(filepath.Dir(g.cfg.PeersFile), 0o700)
	if err == nil {
		err = os.WriteFile(tmp, b, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, g.cfg.PeersFile)
	}
	if err != nil {
		g.cfg.Logger.Warn("gossip: cannot save peers", "err", err)
	}
}

type events Gossip

func (e *events) NotifyJoin(n *memberlist.Node)   { (*Gossip)(e).observe(n, false) }
func (e *events) NotifyUpdate(n *memberlist.Node) { (*Gossip)(e).observe(n, false) }
func (e *events) NotifyLeave(n *memberlist.Node)  { (*Gossip)(e).observe(n, true) }

// delegate supplies this node's metadata; Trent sends no user messages.
type delegate Gossip

func (d *delegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.meta) > limit {
		return nil
	}
	return d.meta
}
func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

// logWriter turns memberlist's "[LEVEL] memberlist: ..." lines into slog
// records at the matching level.
type logWriter struct{ l *slog.Logger }

func (w *logWriter) Write(p []byte) (int, error) {
	msg := string(bytes.TrimSpace(p))
	lvl := slog.LevelDebug
	switch {
	case bytes.Contains(p, []byte("[ERR]")):
		lvl = slog.LevelError
	case bytes.Contains(p, []byte("[WARN]")):
		lvl = slog.LevelWarn
	}
	w.l.Log(context.Background(), lvl, msg)
	return len(p), nil
}
