package checker

import (
	"math"
	"time"

	"github.com/trentkms/trent/jepsen/history"
)

// register is one component of a key's state as the value checker sees
// it: the writes that set it and the bounded reads that saw it.
type register struct {
	name    string
	initial string
	// write returns the value op sets, if it writes this register.
	write func(op *history.Op) (string, bool)
	// read returns the value a bounded read saw, if it reads it.
	read func(op *history.Op) (string, bool)
}

var registers = []register{
	{
		name: "key state", initial: ResultEnabled,
		write: func(op *history.Op) (string, bool) {
			switch op.F {
			case FEnable:
				return ResultEnabled, true
			case FDisable:
				return ResultDisabled, true
			}
			return "", false
		},
		read: func(op *history.Op) (string, bool) {
			if op.F != FDescribe {
				return "", false
			}
			if disabled, _, _ := parseDescribe(op.Result); disabled {
				return ResultDisabled, true
			}
			return ResultEnabled, true
		},
	},
	{
		name: "description", initial: InitialDescription,
		write: func(op *history.Op) (string, bool) { return op.Value, op.F == FSetDesc },
		read: func(op *history.Op) (string, bool) {
			if op.F != FDescribe {
				return "", false
			}
			_, desc, ok := parseDescribe(op.Result)
			return desc, ok
		},
	},
}

// StaleValues checks bounded DescribeKey reads by their values alone, not
// trusting any response header. For each register of a key (its state and
// its description), a read invoked at c and completed at r must return the
// value of some write (or the initial value) that could have been the
// latest at some instant in [c - maxStaleness, r]. A write w can be the
// latest at s only if s is at or after w's call and before the completion
// of every write of another value invoked after w completed. Unique
// descriptions make this sharp: an old description is stale as soon as a
// later write is maxStaleness old.
func StaleValues(ops []history.Op, maxStaleness time.Duration) Result {
	r := newResult("stale-values")
	type write struct {
		call, ret int64 // ret is +inf for an indeterminate write
		value     string
	}
	checked := 0
	for _, reg := range registers {
		writes := map[string][]write{}
		for i := range ops {
			op := &ops[i]
			v, ok := reg.write(op)
			if !ok || op.Type == history.Fail {
				continue
			}
			w := write{call: op.Call, ret: op.Return, value: v}
			if op.Type == history.Info {
				w.ret = math.MaxInt64
			}
			writes[op.Key] = append(writes[op.Key], w)
		}
		for i := range ops {
			op := &ops[i]
			if op.Mode != history.ModeBounded || op.Type != history.Ok {
				continue
			}
			v, ok := reg.read(op)
			if !ok {
				continue
			}
			checked++
			ws := writes[op.Key]
			possible := func(call, ret int64) bool {
				lo := max(op.Call-int64(maxStaleness), call)
				hi := op.Return
				for _, o := range ws {
					if o.value != v && o.call > ret {
						hi = min(hi, o.ret)
					}
				}
				return lo <= hi
			}
			fine := v == reg.initial && possible(math.MinInt64, math.MinInt64)
			for _, w := range ws {
				if fine {
					break
				}
				if w.value == v && w.call <= op.Return {
					fine = possible(w.call, w.ret)
				}
			}
			if !fine {
				r.anomaly("stale-value", "op %d: bounded describe of %s on %s at %v saw %s %q, older than %v",
					op.ID, op.Key, op.Node, time.Duration(op.Call), reg.name, v, maxStaleness)
			}
		}
	}
	r.note("%d register reads checked by value", checked)
	return *r
}

// lifecycle is what the history says about one named grant.
type lifecycle struct {
	firstCall  int64 // earliest call of a create attempt
	lastReturn int64 // latest completion of a create attempt; +inf if one is indeterminate
	acked      int64 // earliest ok create completion; +inf if none
	revokeCall int64 // earliest call of a revoke that may have happened; +inf if none
	// The earliest revoke that found the grant, acknowledged: its call and
	// completion; +inf if none.
	revokedCall, revoked int64
}

// gone says whether the grant surely no longer existed at t: a revoke that
// found it completed before t, after every create attempt had completed.
// (An indeterminate create may still apply after the revoke and make the
// grant again: a retry with the same Name after a timeout is exactly that.)
func (l *lifecycle) gone(t int64) bool {
	return l.revoked < t && l.lastReturn < l.revokedCall
}

// grantLifecycles indexes the grants of ops by key and name.
func grantLifecycles(ops []history.Op) map[string]map[string]*lifecycle {
	out := map[string]map[string]*lifecycle{}
	get := func(key, name string) *lifecycle {
		if out[key] == nil {
			out[key] = map[string]*lifecycle{}
		}
		l := out[key][name]
		if l == nil {
			l = &lifecycle{firstCall: math.MaxInt64, lastReturn: math.MinInt64, acked: math.MaxInt64,
				revokeCall: math.MaxInt64, revokedCall: math.MaxInt64, revoked: math.MaxInt64}
			out[key][name] = l
		}
		return l
	}
	for _, op := range ops {
		switch {
		case op.F == FCreateGrant && op.Type != history.Fail:
			l := get(op.Key, op.Value)
			l.firstCall = min(l.firstCall, op.Call)
			if op.Type == history.Ok {
				l.acked = min(l.acked, op.Return)
				l.lastReturn = max(l.lastReturn, op.Return)
			} else {
				l.lastReturn = math.MaxInt64
			}
		case op.F == FRevokeGrant && (op.Type == history.Info || op.Type == history.Ok && op.Result != ResultNotFound):
			l := get(op.Key, op.Value)
			l.revokeCall = min(l.revokeCall, op.Call)
			if op.Type == history.Ok && op.Return < l.revoked {
				l.revokedCall, l.revoked = op.Call, op.Return
			}
		}
	}
	return out
}

// StaleGrants checks bounded grant reads by their values. A bounded
// ListGrants invoked at c and completed at r must list every grant whose
// create was acknowledged before c - maxStaleness and whose revoke was not
// invoked before r, and no grant whose revoke was acknowledged before
// c - maxStaleness. A bounded use without a token must succeed if such a
// surely-present grant exists, and must fail if every grant of the key
// that may exist was surely revoked.
func StaleGrants(ops []history.Op, maxStaleness time.Duration) Result {
	r := newResult("stale-grants")
	life := grantLifecycles(ops)
	checked := 0
	for _, op := range ops {
		if op.Mode != history.ModeBounded || op.Type != history.Ok || (op.F != FListGrants && op.F != FUseNoToken) {
			continue
		}
		checked++
		since := op.Call - int64(maxStaleness)
		// present: created before the window and not revoked before the read ended.
		present := func(l *lifecycle) bool { return l.acked < since && l.revokeCall > op.Return }
		gone := func(l *lifecycle) bool { return l.gone(since) }
		switch op.F {
		case FListGrants:
			listed := map[string]bool{}
			for _, n := range splitNames(op.Result) {
				listed[n] = true
				if l := life[op.Key][n]; l != nil && gone(l) {
					r.anomaly("revoked-grant-listed", "op %d: bounded ListGrants of %s on %s at %v lists %s, revoked more than %v before",
						op.ID, op.Key, op.Node, time.Duration(op.Call), n, maxStaleness)
				}
			}
			for n, l := range life[op.Key] {
				if present(l) && !listed[n] {
					r.anomaly("grant-missing", "op %d: bounded ListGrants of %s on %s at %v misses %s, created more than %v before",
						op.ID, op.Key, op.Node, time.Duration(op.Call), n, maxStaleness)
				}
			}
		case FUseNoToken:
			anyPresent, allGone := false, true
			for _, l := range life[op.Key] {
				if present(l) {
					anyPresent = true
				}
				if l.firstCall <= op.Return && !gone(l) {
					allGone = false
				}
			}
			if op.Result == ResultFalse && anyPresent {
				r.anomaly("grant-missing", "op %d: bounded use of %s on %s at %v was denied, but a grant existed for more than %v",
					op.ID, op.Key, op.Node, time.Duration(op.Call), maxStaleness)
			}
			if op.Result == ResultTrue && allGone {
				r.anomaly("revoked-grant-used", "op %d: bounded use of %s on %s at %v succeeded, but every grant was revoked more than %v before",
					op.ID, op.Key, op.Node, time.Duration(op.Call), maxStaleness)
			}
		}
	}
	r.note("%d bounded grant reads checked by value", checked)
	return *r
}
