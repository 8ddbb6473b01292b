package fsmtest_test

import (
	"testing"

	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/fsm/fsmtest"
)

func TestLogAppliesInOrder(t *testing.T) {
	f := fsm.New()
	a, b := fsmtest.NewLog(f), fsmtest.NewLog(f)
	// A malformed command is refused by the FSM but still takes its index:
	// the test needs no command encoding.
	for i, l := range []*fsmtest.Log{a, a, b, a} {
		res, idx, err := l.Apply(t.Context(), []byte("not a command"))
		if err != nil || idx != uint64(i+1) || res == nil {
			t.Fatalf("apply %d: %v, index %d, %v; want index %d", i, res, idx, err, i+1)
		}
	}
	if f.AppliedIndex() != 4 {
		t.Fatalf("FSM applied %d, want 4", f.AppliedIndex())
	}
	if idx, err := b.ReadIndex(t.Context()); idx != 4 || err != nil {
		t.Fatalf("ReadIndex %d, %v; want 4", idx, err)
	}
}
