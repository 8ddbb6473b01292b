package checker

import (
	"testing"
	"time"

	"github.com/trentkms/trent/jepsen/history"
)

func TestEarlyDeletion(t *testing.T) {
	ms := int64(time.Millisecond)
	sched := func(call int64, typ string) history.Op {
		return history.Op{ID: 1, F: FScheduleDeletion, Key: "k", Type: typ, Call: call * ms, Return: call*ms + ms, Mode: history.ModeWrite}
	}
	created := history.Op{ID: 0, F: FCreateDoomed, Result: "k", Type: history.Ok, Call: 0, Return: ms, Mode: history.ModeWrite}
	gone := func(ret int64) history.Op {
		return history.Op{ID: 2, F: FDescribeDoomed, Key: "k", Type: history.Ok, Result: ResultGone, Call: ret*ms - ms, Return: ret * ms, Mode: history.ModeLinearizable}
	}
	tests := []struct {
		name string
		ops  []history.Op
		want Verdict
	}{
		{"after the window", []history.Op{created, sched(100, history.Ok), gone(460)}, Valid},
		{"an unknown schedule may have started it", []history.Op{created, sched(100, history.Info), gone(460)}, Valid},
		{"a failed schedule did not", []history.Op{created, sched(100, history.Fail), sched(200, history.Ok), gone(460)}, Invalid},
		{"before the window", []history.Op{created, sched(100, history.Ok), gone(300)}, Invalid},
		{"a read that need not know the key yet", []history.Op{created, sched(100, history.Ok), {ID: 3, F: FDescribeDoomed, Key: "k", Type: history.Ok,
			Result: ResultGone, Call: 200 * ms, Return: 300 * ms, Mode: history.ModeBounded}}, Valid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EarlyDeletion(tt.ops, 350*time.Millisecond, time.Second); got.Verdict != tt.want {
				t.Fatalf("verdict %s, want %s: %+v", got.Verdict, tt.want, got)
			}
		})
	}
}
