package checker

import (
	"time"

	"github.com/trentkms/trent/jepsen/history"
	"github.com/trentkms/trent/wire"
)

// undecryptable are the answers to a Decrypt that say the ciphertext can
// no longer be decrypted, as opposed to a node that could not serve now.
var undecryptable = map[string]bool{
	wire.InvalidCiphertext: true, wire.IncorrectKey: true, wire.NotFound: true, wire.KMSInvalidState: true, wire.Disabled: true,
}

// Lifecycle checks the lifecycle workload's two promises.
//
// A deleted key stays deleted: once a read has seen a doomed key gone
// (DescribeKey answered NotFoundException), no operation that must see
// that read's state may see the key again: not a describe, a decrypt of
// one of its ciphertexts, an Encrypt under it, nor a ScheduleKeyDeletion
// or CancelKeyDeletion of it. An operation must see the state of time t
// when it is linearizable, a write or a final read invoked after t, or a
// bounded read invoked more than maxStaleness after t. A NotFound counts
// as a deletion only when the key's creation was already visible to that
// read by the same rule (a lagging follower may not know a new key yet).
//
// Rotation keeps every ciphertext: a Decrypt of an acknowledged
// ciphertext under a kept key (which the workload rotates but never
// disables or deletes) never answers that it cannot be decrypted.
// Durability checks the same ciphertexts at the end.
func Lifecycle(ops []history.Op, maxStaleness time.Duration) Result {
	r := newResult("lifecycle")
	// seesAfter is the earliest instant whose state op must reflect.
	seesAfter := func(op *history.Op) int64 {
		if op.Mode == history.ModeBounded {
			return op.Call - int64(maxStaleness)
		}
		return op.Call
	}
	created := map[string]int64{} // doomed key -> its CreateKey's return
	for i := range ops {
		op := &ops[i]
		if op.F == FCreateDoomed && op.Type == history.Ok {
			created[op.Result] = op.Return
		}
	}
	gone := map[string]int64{} // doomed key -> earliest return of a read that saw it gone
	goneBy := map[string]int64{}
	for i := range ops {
		op := &ops[i]
		if op.Type != history.Ok || op.Result != ResultGone || (op.F != FDescribeDoomed && op.F != FFinalDescribeDoomed) {
			continue
		}
		c, ok := created[op.Key]
		if !ok || seesAfter(op) <= c {
			continue
		}
		if t, seen := gone[op.Key]; !seen || op.Return < t {
			gone[op.Key], goneBy[op.Key] = op.Return, op.ID
		}
	}
	var present, kept, rotations int
	for i := range ops {
		op := &ops[i]
		switch op.F {
		case FRotate:
			if op.Type == history.Ok {
				rotations++
			}
			continue
		case FDecryptKept:
			kept++
			if op.Type == history.Fail && undecryptable[op.Err] {
				r.anomaly("undecryptable-after-rotation", "op %d: Decrypt of acknowledged ciphertext %q under kept key %s on %s answered %s",
					op.ID, op.Value, op.Key, op.Node, op.Err)
			}
			continue
		}
		if !seesKey(op) {
			continue
		}
		present++
		t, deleted := gone[op.Key]
		if !deleted || seesAfter(op) <= t {
			continue
		}
		kind := "deleted-key-reappeared"
		if op.F == FDecryptDoomed || op.F == FFinalDecryptDoomed {
			kind = "deleted-key-decrypted"
		}
		r.anomaly(kind, "op %d %s of %s on %s (%s) saw the key, but op %d saw it gone by %v",
			op.ID, op.F, op.Key, op.Node, op.Mode, goneBy[op.Key], time.Duration(t))
	}
	r.note("%d doomed keys seen deleted; %d operations saw a doomed key; %d decrypts under rotated keys; %d on-demand rotations",
		len(gone), present, kept, rotations)
	if len(created) > 0 && len(gone) == 0 {
		r.unknown("no doomed key was seen deleted")
	}
	return *r
}

// seesKey says whether op succeeded in a way that shows its doomed key
// exists.
func seesKey(op *history.Op) bool {
	if op.Type != history.Ok {
		return false
	}
	switch op.F {
	case FDescribeDoomed, FFinalDescribeDoomed:
		return op.Result != ResultGone
	case FDecryptDoomed, FFinalDecryptDoomed, FEncryptDoomed, FScheduleDeletion, FCancelDeletion:
		return true
	}
	return false
}
