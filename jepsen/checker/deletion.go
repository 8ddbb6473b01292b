package checker

import (
	"time"

	"github.com/trentkms/trent/jepsen/history"
)

// EarlyDeletion checks that no doomed key was deleted before its waiting
// period could have ended: a key seen gone (a DescribeKey answered
// NotFoundException) must have been seen so no earlier than window after
// the invocation of the first ScheduleKeyDeletion of it that may have
// taken effect. The window starts when a schedule applies, which is
// after its invocation, so this can miss an early deletion (after a
// cancel and a new schedule) but never flags a punctual one. It is
// measured on the harness's clock: a node whose time of day jumps ahead
// must not delete early. As in Lifecycle, a NotFound counts only from a
// read that had to see the key's creation (a bounded read on a lagging
// follower may not know a new key yet).
func EarlyDeletion(ops []history.Op, window, maxStaleness time.Duration) Result {
	r := newResult("early-deletion")
	first := map[string]int64{}   // key -> first schedule that may have applied
	created := map[string]int64{} // doomed key -> its CreateKey's return
	for _, op := range ops {
		if op.F == FScheduleDeletion && op.Type != history.Fail {
			if t, ok := first[op.Key]; !ok || op.Call < t {
				first[op.Key] = op.Call
			}
		}
		if op.F == FCreateDoomed && op.Type == history.Ok {
			created[op.Result] = op.Return
		}
	}
	checked := 0
	for _, op := range ops {
		if op.Type != history.Ok || op.Result != ResultGone || (op.F != FDescribeDoomed && op.F != FFinalDescribeDoomed) {
			continue
		}
		seesAfter := op.Call
		if op.Mode == history.ModeBounded {
			seesAfter -= int64(maxStaleness)
		}
		c, made := created[op.Key]
		t, ok := first[op.Key]
		if !made || seesAfter <= c || !ok {
			continue // may not know the key yet; or gone unscheduled: Lifecycle's business
		}
		checked++
		if d := time.Duration(op.Return - t); d < window {
			r.anomaly("deleted-early", "op %d: %s seen gone on %s %v after its first ScheduleKeyDeletion was invoked, before its %v waiting period could end",
				op.ID, op.Key, op.ServedBy, d.Round(time.Millisecond), window)
		}
	}
	r.note("%d reads of a deleted key checked against a %v waiting period", checked, window)
	return *r
}
