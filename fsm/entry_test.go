package fsm

import (
	"bytes"
	"testing"
)

// A membership entry carries no command: the batch answers nil for it,
// the state stays as it was, and the applied index reaches it (a read
// index may point at it).
func TestMembershipEntryOnlyAdvancesTheIndex(t *testing.T) {
	f := New()
	b, err := Encode(create("k1"))
	if err != nil {
		t.Fatal(err)
	}
	out := f.ApplyBatch([]Entry{{Index: 1, Data: b}, {Index: 2, Membership: true}})
	if r, ok := out[0].(*Result); len(out) != 2 || !ok || r.Err != nil || r.Index != 1 || out[1] != nil {
		t.Fatalf("ApplyBatch answered %v", out)
	}
	if f.AppliedIndex() != 2 || f.KeyCount() != 1 {
		t.Fatalf("applied %d with %d keys, want 2 with 1", f.AppliedIndex(), f.KeyCount())
	}
	before := stripApplied(snapshotBytes(t, f))
	// Its data, if any, is not read as a command.
	if out := f.ApplyBatch([]Entry{{Index: 3, Membership: true, Data: b}}); out[0] != nil {
		t.Fatalf("a membership entry answered %v", out[0])
	}
	if f.AppliedIndex() != 3 || !bytes.Equal(stripApplied(snapshotBytes(t, f)), before) {
		t.Fatalf("a membership entry changed the state (applied %d)", f.AppliedIndex())
	}
}
