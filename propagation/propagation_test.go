package propagation

import (
	"testing"
	"time"

	"github.com/trentkms/trent/fsm"
)

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// node is a local state machine with its Lag.
type node struct {
	t    *testing.T
	live *fsm.FSM
	lag  *Lag
	clk  *clock
}

func newNode(t *testing.T, delay, jitter time.Duration) *node {
	n := &node{t: t, live: fsm.New(), clk: &clock{now: time.Unix(1_700_000_000, 0)}}
	n.lag = New(Config{Live: n.live, Delay: delay, Jitter: jitter, Now: n.clk.Now,
		Draw: func(d time.Duration) time.Duration { return d / 2 }})
	n.apply(&fsm.InitCluster{Info: fsm.ClusterInfo{ID: "c"}})
	return n
}

// apply applies cmd locally, as raft would, and feeds the Lag.
func (n *node) apply(cmd fsm.Command) {
	n.t.Helper()
	b, err := fsm.Encode(cmd)
	if err != nil {
		n.t.Fatal(err)
	}
	e := []fsm.Entry{{Index: n.live.AppliedIndex() + 1, Data: b}}
	if r := n.live.ApplyBatch(e)[0].(*fsm.Result); r.Err != nil {
		n.t.Fatal(r.Err)
	}
	n.lag.Feed(e)
}

func createKey(id string) fsm.Command {
	return &fsm.CreateKey{Key: fsm.Key{ID: id, ARN: "arn:aws:kms:us-east-1:111122223333:key/" + id, Account: "111122223333",
		State: fsm.Enabled, KeySpec: "SYMMETRIC_DEFAULT", KeyUsage: "ENCRYPT_DECRYPT", Origin: "AWS_KMS",
		Versions: []fsm.KeyVersion{{ID: "00112233445566778899aabbccddeeff", EKT: []byte{1}}}}}
}

func (n *node) shadowHas(id string) bool {
	_, ok := n.lag.Shadow().Key(id)
	return ok
}

// The shadow applies an entry once it has been applied locally for the
// delay, or at once up to the index View is asked for.
func TestShadowLagsByTheDelay(t *testing.T) {
	n := newNode(t, 2*time.Second, 0)
	if s := n.lag.Setting(); s.Delay != 2*time.Second || s.Source != "flag" {
		t.Fatalf("setting %+v", s)
	}
	n.apply(createKey("k1"))
	tests := []struct {
		advance time.Duration
		need    uint64
		want    bool
	}{
		{0, 0, false},
		{1999 * time.Millisecond, 0, false},
		{time.Millisecond, 0, true},
	}
	for _, tt := range tests {
		n.clk.now = n.clk.now.Add(tt.advance)
		n.lag.View(tt.need)
		if got := n.shadowHas("k1"); got != tt.want {
			t.Fatalf("after %s more: shadow has k1 = %v, want %v", tt.advance, got, tt.want)
		}
	}
	if _, honoured := n.lag.View(0); honoured != 2*time.Second {
		t.Fatalf("honoured %s, want the whole delay", honoured)
	}
	n.apply(createKey("k2"))
	n.clk.now = n.clk.now.Add(500 * time.Millisecond)
	if idx, honoured := n.lag.View(n.live.AppliedIndex()); idx != n.live.AppliedIndex() || !n.shadowHas("k2") || honoured != 500*time.Millisecond {
		t.Fatalf("View(need) reached %d honouring %s, want %d honouring 500ms (k2's age)", idx, honoured, n.live.AppliedIndex())
	}
	if n.lag.Delay("any") != 2*time.Second {
		t.Fatal("delay not reported")
	}
}

// The cluster-wide setting overrides the node's flag, draws the node's
// jitter, aims at accounts, and turning it off drops the view; turning it
// on starts the view from a copy of the local state.
func TestClusterSettingOverridesTheFlag(t *testing.T) {
	n := newNode(t, 0, 0)
	n.apply(createKey("k1"))
	if n.lag.Delay("") != 0 || n.shadowHas("k1") {
		t.Fatal("mode on with no setting")
	}
	n.apply(&fsm.SetPropagation{Propagation: fsm.Propagation{DelayMillis: 1000, JitterMillis: 400, Accounts: []string{"111122223333"}, SetAt: 1}})
	s := n.lag.Setting()
	if s.Delay != 1200*time.Millisecond || s.Source != "cluster" || len(s.Accounts) != 1 {
		t.Fatalf("setting %+v, want 1.2s from the cluster", s)
	}
	if !n.shadowHas("k1") {
		t.Fatal("the view did not start from a copy of the local state")
	}
	if n.lag.Delay("111122223333") != 1200*time.Millisecond || n.lag.Delay("444455556666") != 0 {
		t.Fatal("not aimed at the account")
	}
	n.apply(createKey("k2"))
	n.lag.View(0)
	if n.shadowHas("k2") {
		t.Fatal("k2 in the view at once")
	}
	n.apply(&fsm.SetPropagation{Propagation: fsm.Propagation{SetAt: 2}})
	if n.lag.Delay("111122223333") != 0 || n.shadowHas("k1") {
		t.Fatal("mode still on, or the view kept")
	}
	n.lag.Reset()
	if n.shadowHas("k1") {
		t.Fatal("reset with the mode off copied the state")
	}
}
