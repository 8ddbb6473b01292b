// Package checker decides whether a recorded history is correct: it holds
// the linearizability checker (porcupine, partitioned by key), the bounded
// staleness, durability, idempotency, convergence and throughput checkers,
// and a scan of node logs. Each returns a Result; Compose folds them.
package checker

import (
	"fmt"
	"sort"
	"strings"
)

// Verdict is a checker's conclusion.
type Verdict string

// Verdicts, from best to worst.
const (
	Valid   Verdict = "valid"
	Unknown Verdict = "unknown"
	Invalid Verdict = "invalid"
)

func rank(v Verdict) int {
	switch v {
	case Valid:
		return 0
	case Unknown:
		return 1
	}
	return 2
}

// Worse returns the worse of a and b (invalid > unknown > valid).
func Worse(a, b Verdict) Verdict {
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// Result is one checker's conclusion with its evidence.
type Result struct {
	Name      string         `json:"name"`
	Verdict   Verdict        `json:"verdict"`
	Anomalies map[string]int `json:"anomalies,omitempty"`
	// Witnesses describe a few anomalies, for a human.
	Witnesses []string `json:"witnesses,omitempty"`
	// Notes say what was checked (counts) or why the verdict is unknown.
	Notes []string `json:"notes,omitempty"`
}

const maxWitnesses = 10

func newResult(name string) *Result {
	return &Result{Name: name, Verdict: Valid, Anomalies: map[string]int{}}
}

// anomaly records one anomaly of kind and makes the result invalid.
func (r *Result) anomaly(kind, format string, args ...any) {
	r.Anomalies[kind]++
	r.Verdict = Invalid
	if len(r.Witnesses) < maxWitnesses {
		r.Witnesses = append(r.Witnesses, kind+": "+fmt.Sprintf(format, args...))
	}
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// unknown makes a valid result unknown, with the reason.
func (r *Result) unknown(format string, args ...any) {
	r.Verdict = Worse(r.Verdict, Unknown)
	r.note(format, args...)
}

// Compose folds results: the worst verdict and the summed anomalies.
func Compose(results []Result) (Verdict, map[string]int) {
	v := Valid
	all := map[string]int{}
	for _, r := range results {
		v = Worse(v, r.Verdict)
		for k, n := range r.Anomalies {
			all[r.Name+"/"+k] += n
		}
	}
	return v, all
}

// splitNames decodes a comma-separated, possibly empty list of names.
func splitNames(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// JoinNames encodes names as the sorted, comma-separated list that list
// results and the model state use. Duplicates are kept.
func JoinNames(names []string) string {
	s := append([]string(nil), names...)
	sort.Strings(s)
	return strings.Join(s, ",")
}
