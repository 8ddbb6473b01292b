package checker

import (
	"testing"

	"github.com/trentkms/trent/jepsen/history"
)

func TestWriteAvailability(t *testing.T) {
	w := func(id, call int64, node, typ, err string) history.Op {
		return history.Op{ID: id, F: FEncrypt, Mode: history.ModeWrite, Node: node, Type: typ, Err: err, Call: call, Return: call + 5}
	}
	windows := []Window{{Name: "slow-follower", Start: 100, End: 200, Far: []string{"n3"}}}
	tests := []struct {
		name string
		ops  []history.Op
		want Verdict
	}{
		{"slow but ok", []history.Op{w(1, 110, "n1", history.Ok, ""), w(2, 120, "n2", history.Ok, "")}, Valid},
		{"a refusal is an answer", []history.Op{w(1, 110, "n1", history.Fail, "NotFoundException"), w(2, 120, "n2", history.Ok, "")}, Valid},
		{"a far node may time out", []history.Op{w(1, 110, "n3", history.Info, "timeout"), w(2, 120, "n2", history.Ok, "")}, Valid},
		{"outside the window", []history.Op{w(1, 90, "n1", history.Info, "timeout"), w(2, 120, "n2", history.Ok, "")}, Valid},
		{"unknown outcome", []history.Op{w(1, 110, "n1", history.Info, "timeout"), w(2, 120, "n2", history.Ok, "")}, Invalid},
		{"retryable refusal", []history.Op{w(1, 110, "n1", history.Fail, "DependencyTimeoutException"), w(2, 120, "n2", history.Ok, "")}, Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WriteAvailability(tt.ops, windows, 0.1); got.Verdict != tt.want {
				t.Fatalf("verdict %s, want %s: %+v", got.Verdict, tt.want, got)
			}
		})
	}
}
