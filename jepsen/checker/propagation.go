package checker

import (
	"time"

	"github.com/trentkms/trent/jepsen/history"
)

// Propagation checks a run with a simulated propagation delay (node
// --simulated-propagation; docs/eventual-consistency.md). Every bounded
// read reports, in Trent-Simulated-Propagation, the delay h its view
// honoured: the view reflected no change applied on the serving node less
// than h before the read was admitted, and a change is applied there only
// after its write was invoked. So a bounded read completed at r that
// reflects a write invoked at w must have r - h >= w: a DescribeKey that
// returns a description (each is unique) and a ListGrants that lists a
// grant are held to the write that made them. And the mode must not
// silently do nothing: with delay > 0 every successful bounded read that
// reports how it was served must report a delay (a refusal, such as a
// denied use, reports nothing), and some must report the whole delay. (Revocations are
// not held to the delay: a grant missing from a view may be missing
// because its creation had not reached it yet.)
func Propagation(ops []history.Op, delay time.Duration) Result {
	r := newResult("propagation")
	if delay <= 0 {
		for _, op := range ops {
			if op.Propagation != "" {
				r.anomaly("unexpected-delay", "op %d %s on %s reported a simulated propagation of %s with the mode off",
					op.ID, op.F, op.ServedBy, op.Propagation)
				break
			}
		}
		r.note("mode off")
		return *r
	}
	descs := map[string]int64{} // description -> earliest call of a write of it
	for _, op := range ops {
		if op.F == FSetDesc && op.Type != history.Fail {
			if c, ok := descs[op.Value]; !ok || op.Call < c {
				descs[op.Value] = op.Call
			}
		}
	}
	life := grantLifecycles(ops)
	var bounded, whole, checked int
	for _, op := range ops {
		if op.Mode != history.ModeBounded || op.Type != history.Ok || isWrite(op.F) {
			continue
		}
		if op.Consistency == "" {
			continue // no response headers: a refusal (a denied use)
		}
		bounded++
		if op.Propagation == "" {
			r.anomaly("not-delayed", "op %d %s on %s was a bounded read served without the simulated propagation", op.ID, op.F, op.ServedBy)
			continue
		}
		h, err := time.ParseDuration(op.Propagation)
		if err != nil || h < 0 { // 0s: the bound made the view catch up with the newest entry
			r.anomaly("bad-propagation-header", "op %d: Trent-Simulated-Propagation %q", op.ID, op.Propagation)
			continue
		}
		if h >= delay {
			whole++
		}
		seen := op.Return - int64(h) // the view reflects no write invoked after this
		early := func(what string, call int64) {
			r.anomaly("too-early", "op %d %s of %s on %s completed at %v reflects %s, invoked at %v: less than the %s it honoured",
				op.ID, op.F, op.Key, op.ServedBy, time.Duration(op.Return), what, time.Duration(call), h)
		}
		switch op.F {
		case FDescribe:
			if _, desc, ok := parseDescribe(op.Result); ok {
				if call, ok := descs[desc]; ok {
					checked++
					if call > seen {
						early("description "+desc, call)
					}
				}
			}
		case FListGrants:
			for _, n := range splitNames(op.Result) {
				if l := life[op.Key][n]; l != nil {
					checked++
					if l.firstCall > seen {
						early("grant "+n, l.firstCall)
					}
				}
			}
		}
	}
	r.note("%d bounded reads, %d honouring the whole %s; %d changes they reflected checked against it", bounded, whole, delay, checked)
	switch {
	case bounded == 0:
		r.unknown("no successful bounded reads")
	case whole == 0:
		r.anomaly("delay-never-honoured", "no bounded read honoured the whole %s delay", delay)
	}
	return *r
}
