package checker

import (
	"testing"
	"time"

	"github.com/trentkms/trent/jepsen/history"
	"github.com/trentkms/trent/wire"
)

func TestLifecycle(t *testing.T) {
	ok, fail := history.Ok, history.Fail
	w, b, lin, fin := history.ModeWrite, history.ModeBounded, history.ModeLinearizable, history.ModeFinal
	bound := 100 * time.Millisecond // 100ms
	create := op(0, FCreateDoomed, "", "", "d1", ok, w, 0, 10, 3)
	goneAt := op(1, FDescribeDoomed, "d1", "", ResultGone, ok, lin, 500, 510, 9)
	failed := func(o history.Op, err string) history.Op { o.Err = err; return o }
	tests := []struct {
		name string
		ops  []history.Op
		want Verdict
		kind string
	}{
		{"deleted and gone ever after", []history.Op{create,
			op(0, FEncryptDoomed, "d1", "t1", "ct", ok, b, 20, 30, 4),
			op(0, FScheduleDeletion, "d1", "", "", ok, w, 40, 50, 5),
			goneAt,
			op(2, FDescribeDoomed, "d1", "", ResultGone, ok, b, 700, 710, 9),
			op(2, FFinalDescribeDoomed, "d1", "", ResultGone, ok, fin, 900, 910, 9),
		}, Valid, ""},
		{"a bounded read within the bound may still see it", []history.Op{create, goneAt,
			op(2, FDescribeDoomed, "d1", "", "PendingDeletion", ok, b, 590, 600, 8),
			op(2, FDecryptDoomed, "d1", "t1", "t1", ok, b, 600, 605, 8),
		}, Valid, ""},
		{"a linearizable describe after it was gone sees it", []history.Op{create, goneAt,
			op(2, FDescribeDoomed, "d1", "", "Disabled", ok, lin, 520, 530, 10),
		}, Invalid, "deleted-key-reappeared"},
		{"a bounded read past the bound sees it", []history.Op{create, goneAt,
			op(2, FDescribeDoomed, "d1", "", "PendingDeletion", ok, b, 700, 710, 8),
		}, Invalid, "deleted-key-reappeared"},
		{"a final read brings it back", []history.Op{create, goneAt,
			op(2, FFinalDescribeDoomed, "d1", "", "PendingDeletion", ok, fin, 900, 910, 10),
		}, Invalid, "deleted-key-reappeared"},
		{"a deleted key decrypts again", []history.Op{create, goneAt,
			op(2, FFinalDecryptDoomed, "d1", "t1", "t1", ok, fin, 900, 910, 10),
		}, Invalid, "deleted-key-decrypted"},
		{"cancel after deletion succeeds", []history.Op{create, goneAt,
			op(2, FCancelDeletion, "d1", "", "", ok, w, 520, 530, 10),
		}, Invalid, "deleted-key-reappeared"},
		{"a follower that does not know the key yet is no deletion", []history.Op{create,
			op(1, FDescribeDoomed, "d1", "", ResultGone, ok, b, 50, 60, 2),
			op(2, FDescribeDoomed, "d1", "", "Enabled", ok, lin, 70, 80, 4),
		}, Unknown, ""},
		{"rotation never loses a ciphertext", []history.Op{
			op(0, FRotate, "k1", "", "", ok, w, 0, 10, 3),
			failed(op(1, FDecryptKept, "k1", "t1", "", fail, b, 20, 30, 0), "timeout"),
			op(1, FDecryptKept, "k1", "t1", "t1", ok, b, 40, 50, 3),
		}, Valid, ""},
		{"a rotation made a ciphertext undecryptable", []history.Op{
			op(0, FRotate, "k1", "", "", ok, w, 0, 10, 3),
			failed(op(1, FDecryptKept, "k1", "t1", "", fail, b, 20, 30, 3), wire.InvalidCiphertext),
		}, Invalid, "undecryptable-after-rotation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range tt.ops {
				tt.ops[i].ID = int64(i)
			}
			r := Lifecycle(tt.ops, bound)
			if r.Verdict != tt.want || tt.kind != "" && r.Anomalies[tt.kind] == 0 {
				t.Fatalf("verdict %s %v, want %s %s; %v", r.Verdict, r.Anomalies, tt.want, tt.kind, r.Witnesses)
			}
		})
	}
}
