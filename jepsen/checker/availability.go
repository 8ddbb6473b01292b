package checker

import (
	"fmt"
	"slices"
	"time"

	"github.com/trentkms/trent/jepsen/history"
)

// Window is a fault interval during which a quorum stayed reachable
// (slow or lossy links): writes must slow down there, not fail. Far are
// nodes whose own links were made slower than a client waits (a write
// sent there may time out); writes sent to them are not counted.
type Window struct {
	Name       string
	Start, End int64
	Far        []string
}

// unavailable are the answers that say "not now": a node that could not
// reach a leader or a quorum in time.
var unavailable = map[string]bool{
	"DependencyTimeoutException": true, "KMSInternalException": true,
	"unavailable": true, "deadline_exceeded": true, "timeout": true,
}

// WriteAvailability checks that writes invoked inside the windows failed
// for unavailability (an unknown outcome, a timeout, a retryable refusal)
// at most maxRate of the time. A definite refusal (NotFound, Disabled
// ...) is an answer, not a failure. It notes the write latencies inside
// and outside the windows: slower, not failing.
func WriteAvailability(ops []history.Op, windows []Window, maxRate float64) Result {
	r := newResult("write-availability")
	if len(windows) == 0 {
		r.note("no slow-link intervals")
		return *r
	}
	var in, out []time.Duration
	writes, failed := 0, 0
	var first string
	for _, op := range ops {
		if op.Mode != history.ModeWrite {
			continue
		}
		w := windowOf(windows, op)
		if w == nil {
			if op.Type == history.Ok {
				out = append(out, time.Duration(op.Return-op.Call))
			}
			continue
		}
		if slices.Contains(w.Far, op.Node) {
			continue
		}
		writes++
		if op.Type == history.Info || op.Type == history.Fail && unavailable[op.Err] {
			failed++
			if first == "" {
				first = fmt.Sprintf("op %d %s to %s: %s %s, during %s", op.ID, op.F, op.Node, op.Type, op.Err, w.Name)
			}
			continue
		}
		if op.Type == history.Ok {
			in = append(in, time.Duration(op.Return-op.Call))
		}
	}
	r.note("writes invoked in %d slow-link intervals (to nodes a client can wait for): %d, of which %d unavailable", len(windows), writes, failed)
	r.note("ok write latency p50/p99: %v/%v in the intervals, %v/%v outside", pct(in, 50), pct(in, 99), pct(out, 50), pct(out, 99))
	if writes > 0 && float64(failed) > maxRate*float64(writes) {
		r.anomaly("writes-failed-with-quorum", "%d of %d writes (%.1f%%, at most %.1f%% allowed) failed while a quorum was reachable; first: %s",
			failed, writes, 100*float64(failed)/float64(writes), 100*maxRate, first)
	}
	return *r
}

// windowOf is the window op was invoked in, or nil.
func windowOf(windows []Window, op history.Op) *Window {
	for i := range windows {
		if op.Call >= windows[i].Start && op.Call < windows[i].End {
			return &windows[i]
		}
	}
	return nil
}

// pct is the p-th percentile of ds (0 if empty), rounded for reading.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)].Round(time.Millisecond)
}
