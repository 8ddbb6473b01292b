package checker

import (
	"testing"
	"time"

	"github.com/trentkms/trent/jepsen/history"
)

// delayed marks a read as served from a delayed view honouring h.
func delayed(o history.Op, h string) history.Op {
	o.Propagation = h
	return o
}

// served gives a read the response headers of a bounded read.
func served(o history.Op) history.Op {
	o.Consistency = "bounded"
	return o
}

func TestPropagation(t *testing.T) {
	ok, w, b, lin := history.Ok, history.ModeWrite, history.ModeBounded, history.ModeLinearizable
	desc := func(d string) string { return DescribeResult(true, d) }
	tests := []struct {
		name  string
		delay time.Duration
		ops   []history.Op
		want  Verdict
	}{
		{"mode off, no header", 0, []history.Op{
			op(1, FDescribe, "k1", "", desc("d1"), ok, b, 0, 10, 3),
		}, Valid},
		{"mode off, a header", 0, []history.Op{
			delayed(served(op(1, FDescribe, "k1", "", desc("d1"), ok, b, 0, 10, 3)), "2s"),
		}, Invalid},
		{"a description seen after the delay", 2 * time.Second, []history.Op{
			op(0, FSetDesc, "k1", "d1", "", ok, w, 0, 10, 5),
			delayed(served(op(1, FDescribe, "k1", "", desc(InitialDescription), ok, b, 20, 30, 4)), "2s"),
			delayed(served(op(1, FDescribe, "k1", "", desc("d1"), ok, b, 2000, 2010, 5)), "2s"),
		}, Valid},
		{"a description seen before the delay", 2 * time.Second, []history.Op{
			op(0, FSetDesc, "k1", "d1", "", ok, w, 0, 10, 5),
			delayed(served(op(1, FDescribe, "k1", "", desc("d1"), ok, b, 1500, 1510, 5)), "2s"),
		}, Invalid},
		{"the bound cut the delay short, and the read says so", 2 * time.Second, []history.Op{
			op(0, FSetDesc, "k1", "d1", "", ok, w, 0, 10, 5),
			delayed(served(op(1, FDescribe, "k1", "", desc(InitialDescription), ok, b, 20, 30, 4)), "2s"),
			delayed(served(op(1, FDescribe, "k1", "", desc("d1"), ok, b, 1500, 1510, 5)), "1.2s"),
		}, Valid},
		{"a grant listed before the delay", 2 * time.Second, []history.Op{
			op(0, FCreateGrant, "k1", "g1", "id1", ok, w, 100, 110, 5),
			delayed(served(op(1, FListGrants, "k1", "", "g1", ok, b, 500, 510, 5)), "2s"),
		}, Invalid},
		{"a grant listed after the delay, linearizable reads at once", 2 * time.Second, []history.Op{
			op(0, FCreateGrant, "k1", "g1", "id1", ok, w, 100, 110, 5),
			op(2, FListGrants, "k1", "", "g1", ok, lin, 120, 130, 5),
			delayed(served(op(1, FListGrants, "k1", "", "", ok, b, 500, 510, 4)), "2s"),
			delayed(served(op(1, FListGrants, "k1", "", "g1", ok, b, 2100, 2110, 5)), "2s"),
		}, Valid},
		// The canary (--unsafe-skip-freshness) and a node that ignores the
		// mode serve bounded reads without the header.
		{"a bounded read without the delay", 2 * time.Second, []history.Op{
			served(op(1, FDescribe, "k1", "", desc(InitialDescription), ok, b, 20, 30, 4)),
		}, Invalid},
		{"the bound made the view catch up entirely", 2 * time.Second, []history.Op{
			op(0, FSetDesc, "k1", "d1", "", ok, w, 0, 10, 5),
			delayed(served(op(1, FDescribe, "k1", "", desc(InitialDescription), ok, b, 5, 8, 4)), "2s"),
			delayed(served(op(1, FDescribe, "k1", "", desc("d1"), ok, b, 20, 30, 5)), "0s"),
		}, Valid},
		{"a refusal reports nothing", 2 * time.Second, []history.Op{
			delayed(served(op(1, FDescribe, "k1", "", desc(InitialDescription), ok, b, 20, 30, 4)), "2s"),
			op(1, FUseNoToken, "k1", "", ResultFalse, ok, b, 40, 50, 0),
		}, Valid},
		{"the delay never honoured in full", 2 * time.Second, []history.Op{
			delayed(served(op(1, FDescribe, "k1", "", desc(InitialDescription), ok, b, 20, 30, 4)), "1s"),
		}, Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Propagation(tt.ops, tt.delay)
			if r.Verdict != tt.want {
				t.Fatalf("verdict %s, want %s: %v %v", r.Verdict, tt.want, r.Witnesses, r.Notes)
			}
		})
	}
}
