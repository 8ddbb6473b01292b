package checker

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/trentkms/trent/jepsen/history"
)

// keyState is the model's state of one key: whether it is disabled and the
// sorted names of its grants. It is a comparable value.
type keyState struct {
	Disabled bool
	Desc     string
	Grants   string // JoinNames of the grant names
}

func (s keyState) has(name string) bool {
	for _, n := range splitNames(s.Grants) {
		if n == name {
			return true
		}
	}
	return false
}

func (s keyState) with(name string) keyState {
	if s.has(name) {
		return s
	}
	s.Grants = JoinNames(append(splitNames(s.Grants), name))
	return s
}

func (s keyState) without(name string) keyState {
	var keep []string
	for _, n := range splitNames(s.Grants) {
		if n != name {
			keep = append(keep, n)
		}
	}
	s.Grants = JoinNames(keep)
	return s
}

// dedupe removes repeated names from a JoinNames list.
func dedupe(list string) string {
	var out []string
	for _, n := range splitNames(list) {
		if len(out) == 0 || out[len(out)-1] != n {
			out = append(out, n)
		}
	}
	return strings.Join(out, ",")
}

// step is the model of one key. output is nil for an operation whose
// outcome is unknown (info): its effect may apply, its result is unchecked.
func step(s keyState, op *history.Op, output *string) (bool, keyState) {
	switch op.F {
	case FCreateGrant:
		return true, s.with(op.Value)
	case FRevokeGrant:
		if output != nil {
			if *output == ResultNotFound {
				return !s.has(op.Value), s
			}
			if !s.has(op.Value) {
				return false, s
			}
		}
		return true, s.without(op.Value)
	case FUseToken:
		return (*output == ResultTrue) == s.has(op.Value), s
	case FListGrants, FFinalListGrants:
		return dedupe(*output) == s.Grants, s
	case fHasGrant:
		return (*output == ResultTrue) == s.has(op.Value), s
	case FEnable:
		s.Disabled = false
		return true, s
	case FDisable:
		s.Disabled = true
		return true, s
	case FSetDesc:
		s.Desc = op.Value
		return true, s
	case FDescribe, FFinalDescribe:
		disabled, desc, hasDesc := parseDescribe(*output)
		return disabled == s.Disabled && (!hasDesc || desc == s.Desc), s
	}
	return true, s
}

// inLinearizable says whether op takes part in the linearizability check:
// state-changing operations that may have happened (ok or info) and reads
// that are linearizable (a grant token, Trent-Consistency: linearizable,
// or the final phase) and returned a result.
func inLinearizable(op *history.Op) bool {
	switch op.F {
	case FCreateGrant, FRevokeGrant, FEnable, FDisable, FSetDesc:
		return op.Type == history.Ok || op.Type == history.Info
	case FUseToken, FListGrants, FDescribe, FFinalListGrants, FFinalDescribe:
		return op.Type == history.Ok && (op.Mode == history.ModeToken || op.Mode == history.ModeLinearizable || op.Mode == history.ModeFinal)
	}
	return false
}

// Model is the porcupine model of the KMS keys: partitioned by key, each
// key a keyState. Inputs are *history.Op, outputs *string (nil: unknown).
func Model() porcupine.Model {
	return porcupine.Model{
		Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
			byKey := map[string][]porcupine.Operation{}
			var keys []string
			for _, o := range h {
				k := o.Input.(*history.Op).Key
				if _, ok := byKey[k]; !ok {
					keys = append(keys, k)
				}
				byKey[k] = append(byKey[k], o)
			}
			sort.Strings(keys)
			out := make([][]porcupine.Operation, 0, len(keys))
			for _, k := range keys {
				out = append(out, byKey[k])
			}
			return out
		},
		Init: func() any { return keyState{Desc: InitialDescription} },
		Step: func(state, input, output any) (bool, any) {
			ok, next := step(state.(keyState), input.(*history.Op), output.(*string))
			return ok, next
		},
		DescribeOperation: func(input, output any) string {
			op := input.(*history.Op)
			res := "?"
			if o := output.(*string); o != nil {
				res = *o
			}
			return fmt.Sprintf("%s %s %s -> %s @%s", op.F, shortKey(op.Key), op.Value, res, op.Node)
		},
		DescribeState: func(state any) string {
			s := state.(keyState)
			return fmt.Sprintf("disabled=%v desc=%s grants=[%s]", s.Disabled, s.Desc, s.Grants)
		},
	}
}

func shortKey(k string) string {
	if len(k) > 8 {
		return k[:8]
	}
	return k
}

// infinity is the return time of an operation whose outcome is unknown: it
// may take effect at any time after its call.
const infinity = math.MaxInt64

// fHasGrant is a linearizable grant listing projected on one name: does
// the listing contain it (ResultTrue or ResultFalse).
const fHasGrant = "list-grants/has"

// PorcupineOps converts the linearizable part of ops to porcupine
// operations, handling indeterminate operations the Jepsen way.
//
// Grants are independent of each other and of the key's state, so each
// grant is its own partition (key/name): its creates, revokes and token
// uses, and every linearizable listing of its key projected on it (is the
// name listed?). Checking a listing name by name lets each projection
// linearize at its own point, a relaxation that can miss an anomaly that
// needs two names to show but never reports a false one; it keeps every
// partition small, where a whole key's grant set with indeterminate
// writes makes the search explode. Key state and description stay one
// partition per key. Token uses of a grant name whose create was ever
// indeterminate are left out (see ambiguous below).
func PorcupineOps(ops []history.Op) []porcupine.Operation {
	names := map[string][]string{} // key -> grant names in the history
	seen := map[string]bool{}
	// A name with an indeterminate create may name two grants in turn:
	// the attempt that timed out can apply after its retry's grant was
	// revoked, and make a new grant with the same name. A token names one
	// grant, so token uses of such a name are left out; the name-level
	// model stays right for creates, revokes and listings.
	ambiguous := map[string]bool{}
	for i := range ops {
		op := &ops[i]
		if op.F != FCreateGrant {
			continue
		}
		if !seen[op.Key+"/"+op.Value] {
			seen[op.Key+"/"+op.Value] = true
			names[op.Key] = append(names[op.Key], op.Value)
		}
		if op.Type == history.Info {
			ambiguous[op.Key+"/"+op.Value] = true
		}
	}
	var out []porcupine.Operation
	add := func(op *history.Op, output *string) {
		po := porcupine.Operation{ClientId: op.Process, Input: op, Call: op.Call, Return: op.Return, Output: output}
		if op.Type == history.Info {
			po.Return = infinity
		}
		out = append(out, po)
	}
	for i := range ops {
		op := &ops[i]
		if !inLinearizable(op) || op.F == FUseToken && ambiguous[op.Key+"/"+op.Value] {
			continue
		}
		switch op.F {
		case FListGrants, FFinalListGrants:
			listed := map[string]bool{}
			for _, n := range splitNames(op.Result) {
				listed[n] = true
			}
			for _, n := range names[op.Key] {
				p := *op
				p.F, p.Key, p.Value, p.Result = fHasGrant, op.Key+"/"+n, n, ResultFalse
				if listed[n] {
					p.Result = ResultTrue
				}
				res := p.Result
				add(&p, &res)
			}
			continue
		case FCreateGrant, FRevokeGrant, FUseToken:
			p := *op
			p.Key = op.Key + "/" + op.Value
			op = &p
		}
		if op.Type == history.Info {
			add(op, nil)
			continue
		}
		res := op.Result
		add(op, &res)
	}
	return out
}

// vizBudget caps the operations drawn in porcupine.html: a whole run's
// history makes a page of hundreds of megabytes no browser opens.
const vizBudget = 3000

// Linearizable checks the linearizable operations with porcupine. If
// vizPath is not empty it writes porcupine's HTML visualization there: of
// the partitions without a linearization if there are any, else of the
// first partitions up to vizBudget operations.
func Linearizable(ops []history.Op, timeout time.Duration, vizPath string) Result {
	r := newResult("linearizable")
	pops := PorcupineOps(ops)
	r.note("%d operations checked", len(pops))
	if len(pops) == 0 {
		r.unknown("no linearizable operations in the history")
		return *r
	}
	model := Model()
	parts := model.Partition(pops)
	var illegal [][]porcupine.Operation
	switch porcupine.CheckOperationsTimeout(model, pops, timeout) {
	case porcupine.Illegal:
		var witnesses []string
		witnesses, illegal = explain(model, parts, timeout)
		for _, w := range witnesses {
			r.anomaly("nonlinearizable", "%s", w)
		}
		if r.Verdict != Invalid {
			r.anomaly("nonlinearizable", "no linearization exists; see porcupine.html")
		}
	case porcupine.Unknown:
		r.unknown("porcupine timed out after %v", timeout)
	}
	if vizPath == "" {
		return *r
	}
	show := illegal
	if len(show) == 0 {
		show = parts
	}
	var drawn []porcupine.Operation
	n := 0
	for _, p := range show {
		if len(drawn) > 0 && len(drawn)+len(p) > vizBudget {
			break
		}
		drawn = append(drawn, p...)
		n++
	}
	_, info := porcupine.CheckOperationsVerbose(model, drawn, timeout)
	r.note("porcupine.html shows %d of %d partitions (%d operations)", n, len(parts), len(drawn))
	if err := os.MkdirAll(filepath.Dir(vizPath), 0o755); err == nil {
		if err := porcupine.VisualizePath(model, info, vizPath); err != nil {
			r.note("visualization: %v", err)
		}
	}
	return *r
}

// explain finds the partitions (keys, or key/grant) without a
// linearization and says, for each, which kind of read cannot be
// linearized with the writes: grant-token uses, linearizable listings or
// linearizable describes. It returns the witnesses and the partitions.
func explain(model porcupine.Model, parts [][]porcupine.Operation, timeout time.Duration) ([]string, [][]porcupine.Operation) {
	var out []string
	var illegal [][]porcupine.Operation
	for _, part := range parts {
		if porcupine.CheckOperationsTimeout(model, part, timeout) != porcupine.Illegal {
			continue
		}
		illegal = append(illegal, part)
		key := part[0].Input.(*history.Op).Key // key, or key/grant name
		var culprits []string
		var writes []porcupine.Operation
		for _, o := range part {
			if isWrite(o.Input.(*history.Op).F) {
				writes = append(writes, o)
			}
		}
		if porcupine.CheckOperationsTimeout(model, writes, timeout) == porcupine.Illegal {
			// Writes that answer (a revoke's NotFound) contradict each other.
			out = append(out, fmt.Sprintf("key %s: no linearization of the writes alone (a RevokeGrant answered NotFound for a grant it should have seen?)", key))
			continue
		}
		for _, f := range []string{FUseToken, fHasGrant, FDescribe} {
			var sub []porcupine.Operation
			reads := 0
			for _, o := range part {
				op := o.Input.(*history.Op)
				if op.F == f {
					reads++
				}
				if isWrite(op.F) || op.F == f {
					sub = append(sub, o)
				}
			}
			if reads > 0 && porcupine.CheckOperationsTimeout(model, sub, timeout) == porcupine.Illegal {
				if f == fHasGrant {
					f = "linearizable list-grants"
				}
				culprits = append(culprits, f)
			}
		}
		if len(culprits) == 0 {
			culprits = []string{"a mix of reads"}
		}
		out = append(out, fmt.Sprintf("key %s: no linearization of the writes with %s", key, strings.Join(culprits, ", ")))
	}
	return out, illegal
}
