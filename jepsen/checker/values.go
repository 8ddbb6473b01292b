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
