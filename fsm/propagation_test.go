package fsm

import (
	"bytes"
	"io"
	"testing"
)

// The cluster-wide propagation setting is decided in log order: a later
// proposal wins, one taken earlier than the setting in force changes
// nothing, Clear removes it, and it survives a snapshot.
func TestSetPropagation(t *testing.T) {
	t.Parallel()
	set := func(ms, at int64) Command {
		return &SetPropagation{Propagation: Propagation{DelayMillis: ms, SetAt: at}}
	}
	tests := []struct {
		name    string
		cmds    []Command
		wantErr bool
		want    int64 // delay in force; -1 for none
	}{
		{"before init", []Command{set(2000, 1)}, true, -1},
		{"set", []Command{&InitCluster{Info: ClusterInfo{ID: "c"}}, set(2000, 1)}, false, 2000},
		{"later wins", []Command{&InitCluster{Info: ClusterInfo{ID: "c"}}, set(2000, 1), set(500, 2)}, false, 500},
		{"older loses", []Command{&InitCluster{Info: ClusterInfo{ID: "c"}}, set(2000, 2), set(500, 1)}, false, 2000},
		{"zero turns it off", []Command{&InitCluster{Info: ClusterInfo{ID: "c"}}, set(2000, 1), set(0, 2)}, false, 0},
		{"clear", []Command{&InitCluster{Info: ClusterInfo{ID: "c"}}, set(2000, 1),
			&SetPropagation{Clear: true, Propagation: Propagation{SetAt: 2}}}, false, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := New()
			rs := applyAll(t, f, tt.cmds...)
			if got := rs[len(rs)-1].Err != nil; got != tt.wantErr {
				t.Fatalf("last result %v, wantErr %v", rs[len(rs)-1].Err, tt.wantErr)
			}
			p, ok := f.Propagation()
			if got := map[bool]int64{true: p.DelayMillis, false: -1}[ok]; got != tt.want {
				t.Fatalf("delay %d, want %d", got, tt.want)
			}
		})
	}
	f := New()
	applyAll(t, f, &InitCluster{Info: ClusterInfo{ID: "c"}},
		&SetPropagation{Propagation: Propagation{DelayMillis: 2000, JitterMillis: 300, Accounts: []string{"111122223333"}, SetAt: 1}})
	g := New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, f)))); err != nil {
		t.Fatal(err)
	}
	if p, ok := g.Propagation(); !ok || p.DelayMillis != 2000 || p.JitterMillis != 300 || len(p.Accounts) != 1 {
		t.Fatalf("restored %+v %v", p, ok)
	}
	if err := (&SetPropagation{Propagation: Propagation{DelayMillis: -1}}).validate(); err == nil {
		t.Fatal("negative delay validated")
	}
}
