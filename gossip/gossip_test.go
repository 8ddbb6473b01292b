package gossip

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func start(t *testing.T, name string, k []byte, label, peersFile string) *Gossip {
	t.Helper()
	return startProbing(t, name, k, label, peersFile, 100*time.Millisecond)
}

// startProbing is start with another probe interval: a slower failure
// detector lets a loaded machine answer probes in time.
func startProbing(t *testing.T, name string, k []byte, label, peersFile string, probe time.Duration) *Gossip {
	t.Helper()
	g, err := Start(Config{Name: name, BindAddr: "127.0.0.1:0", Key: k, Label: label, PeersFile: peersFile,
		Meta: Meta{RaftAddr: "127.0.0.1:1", APIAddr: "127.0.0.1:2"}, ProbeInterval: probe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func health(g *Gossip) map[string]Health {
	out := map[string]Health{}
	for _, m := range g.Members() {
		out[m.Name] = m.Health
	}
	return out
}

func TestMembersSeeEachOtherAndFailures(t *testing.T) {
	dir := t.TempDir()
	// Left and dead are told apart only if c answers probes until its
	// leave arrives: under load (CI runs every package at once with the
	// race detector) a 100ms detector declared it dead first.
	const probe = 500 * time.Millisecond
	a := startProbing(t, "a", key(1), "c1", "", probe)
	b := startProbing(t, "b", key(1), "c1", filepath.Join(dir, "b-peers.json"), probe)
	c := startProbing(t, "c", key(1), "c1", "", probe)
	for _, g := range []*Gossip{b, c} {
		if _, err := g.Join([]string{a.Addr()}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "three alive members everywhere", func() bool {
		for _, g := range []*Gossip{a, b, c} {
			h := health(g)
			if len(h) != 3 || h["a"] != Alive || h["b"] != Alive || h["c"] != Alive {
				return false
			}
		}
		return true
	})
	for _, m := range a.Members() {
		if m.Meta.ID != m.Name || m.Meta.APIAddr != "127.0.0.1:2" {
			t.Fatalf("meta of %s: %+v", m.Name, m.Meta)
		}
	}
	if p := b.Peers(); len(p) != 2 {
		t.Fatalf("saved peers %v", p)
	}
	// A graceful close is seen as left.
	c.Close()
	waitFor(t, "c left", func() bool { return health(a)["c"] == Left })
	// A member that stops answering becomes dead (shut down without leaving).
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	if err := b.ml.Shutdown(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b dead", func() bool { return health(a)["b"] == Dead })
}

func TestOtherClustersNeverMerge(t *testing.T) {
	a := start(t, "a", key(1), "c1", "")
	tests := []struct {
		name  string
		key   []byte
		label string
	}{
		{"other key", key(2), "c1"},
		{"other label", key(1), "c2"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := start(t, fmt.Sprintf("o%d", i), tt.key, tt.label, "")
			if _, err := o.Join([]string{a.Addr()}); err == nil {
				t.Fatal("joined a cluster with another key or label")
			}
			if len(a.Members()) != 1 || len(o.Members()) != 1 {
				t.Fatalf("merged: %v / %v", a.Members(), o.Members())
			}
		})
	}
}

func TestRestartedMemberComesBackOnANewAddress(t *testing.T) {
	const probe = 500 * time.Millisecond // see TestMembersSeeEachOtherAndFailures
	a := startProbing(t, "a", key(1), "c1", "", probe)
	b := startProbing(t, "b", key(1), "c1", "", probe)
	if _, err := b.Join([]string{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b alive", func() bool { return health(a)["b"] == Alive })
	old := b.Addr()
	b.Close()
	waitFor(t, "b left", func() bool { return health(a)["b"] == Left })
	b2 := startProbing(t, "b", key(1), "c1", "", probe)
	if _, err := b2.Join([]string{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b alive at its new address", func() bool {
		for _, m := range a.Members() {
			if m.Name == "b" && m.Health == Alive && m.Addr == b2.Addr() && m.Addr != old {
				return true
			}
		}
		return false
	})
}

func TestStartRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"short key": {Name: "a", Label: "c", BindAddr: "127.0.0.1:0", Key: key(1)[:16]},
		"no label":  {Name: "a", BindAddr: "127.0.0.1:0", Key: key(1)},
		"bad addr":  {Name: "a", Label: "c", BindAddr: "nowhere", Key: key(1)},
		"big meta":  {Name: "a", Label: "c", BindAddr: "127.0.0.1:0", Key: key(1), Meta: Meta{APIAddr: string(make([]byte, 600))}},
	} {
		t.Run(name, func(t *testing.T) {
			if g, err := Start(cfg); err == nil {
				g.Close()
				t.Fatal("accepted")
			}
		})
	}
}

func TestStartCopiesTheKey(t *testing.T) {
	k := key(7)
	a := start(t, "a", k, "c1", "")
	clear(k) // a caller wiping its copy must not change a's key
	b := start(t, "b", key(7), "c1", "")
	if _, err := b.Join([]string{a.Addr()}); err != nil {
		t.Fatalf("a's key changed under it: %v", err)
	}
}

func TestParseMeta(t *testing.T) {
	t.Parallel()
	good, _ := json.Marshal(Meta{V: 1, ID: "n1", RaftAddr: "127.0.0.1:1", APIAddr: "127.0.0.1:2"})
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"good", string(good), true},
		{"another node", `{"v":1,"id":"n2"}`, false},
		{"another version", `{"v":2,"id":"n1"}`, false},
		{"not json", `{"v":1,`, false},
		{"empty", ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, ok := parseMeta("n1", []byte(tt.in))
			if ok != tt.ok || !ok && m != (Meta{}) {
				t.Fatalf("got %+v, %v", m, ok)
			}
		})
	}
}

func FuzzParseMeta(f *testing.F) {
	f.Add("n1", []byte(`{"v":1,"id":"n1","raft":"127.0.0.1:1","api":"127.0.0.1:2"}`))
	f.Add("n1", []byte(`{"v":1,"id":"n1","leaving":true}`))
	f.Fuzz(func(t *testing.T, name string, b []byte) {
		m, ok := parseMeta(name, b)
		if !ok {
			return
		}
		if m.ID != name || m.V != metaVersion {
			t.Fatalf("accepted %+v for %q", m, name)
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if len(again) > memberlist.MetaMaxSize {
			return // re-encoding may escape more than the input did
		}
		if m2, ok := parseMeta(name, again); !ok || m2 != m {
			t.Fatalf("does not round-trip: %+v", m)
		}
	})
}

// A node that keeps the old key is cut off once the others use a new key
// and retire the old one.
func TestANewKeyCutsOffTheHoldersOfTheOldOne(t *testing.T) {
	a := start(t, "a", key(1), "c1", "")
	b := start(t, "b", key(1), "c1", "")
	old := start(t, "old", key(1), "c1", "")
	for _, g := range []*Gossip{b, old} {
		if _, err := g.Join([]string{a.Addr()}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "three alive members", func() bool {
		h := health(a)
		return len(h) == 3 && h["b"] == Alive && h["old"] == Alive
	})
	if err := a.UseKey(key(2)); err != nil {
		t.Fatal(err)
	}
	if err := a.UseKey(key(9)[:31]); err != ErrBadKey {
		t.Fatalf("a 31-byte key: %v", err)
	}
	if err := b.UseKey(key(2)); err != nil {
		t.Fatal(err)
	}
	a.RetireOtherKeys()
	b.RetireOtherKeys()
	waitFor(t, "a and b see the old-key holder fail, and each other alive", func() bool {
		ha, hb := health(a), health(b)
		return ha["old"] == Dead && hb["old"] == Dead && ha["b"] == Alive && hb["a"] == Alive
	})
	if _, err := old.Join([]string{a.Addr()}); err == nil {
		t.Fatal("a node with the old key joined again")
	}
}

// A member's own leave message makes it left even when its last metadata
// update (Leaving) never arrived, as under load it may not.
func TestHealthOfALeaveFollowsWhoSentIt(t *testing.T) {
	meta, _ := json.Marshal(Meta{V: metaVersion, ID: "b"})
	for _, tc := range []struct {
		name  string
		state memberlist.NodeStateType
		want  Health
	}{
		{"the member said it leaves", memberlist.StateLeft, Left},
		{"others declared it dead", memberlist.StateDead, Dead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &Gossip{cfg: Config{Name: "a", Now: time.Now}, members: map[string]*Member{}}
			n := &memberlist.Node{Name: "b", Meta: meta}
			g.observe(n, false)
			n.State = tc.state
			g.observe(n, true)
			if got := g.members["b"].Health; got != tc.want {
				t.Fatalf("health %q, want %q", got, tc.want)
			}
		})
	}
}
