package nemesis

import (
	"context"
	"slices"
	"strings"
)

// A startFunc begins a fault of a kind registered in extra and returns
// the nodes it targets; it pushes onto n.undo what ends the fault.
// leader is the current leader, unless lerr says there is none known.
type startFunc func(ctx context.Context, n *Nemesis, leader int, lerr error) ([]int, error)

// extra holds the fault kinds defined outside nemesis.go (slow.go,
// clock.go), each with its own file.
var extra = map[string]startFunc{}

// register adds fault kinds under their names and groups.
func register(faults map[string]startFunc, named map[string][]string) {
	for f, start := range faults {
		extra[f] = start
		groups[f] = []string{f}
	}
	for g, fs := range named {
		groups[g] = fs
	}
}

// followerOf picks a random node other than leader (any node if there is
// no leader).
func (n *Nemesis) followerOf(leader int, lerr error) int {
	var fs []int
	for i := 0; i < n.c.Size(); i++ {
		if lerr != nil || i != leader {
			fs = append(fs, i)
		}
	}
	return fs[n.rng.IntN(len(fs))]
}

// hasPrefix says whether some fault starts with one of the prefixes.
func hasPrefix(faults []string, prefixes ...string) bool {
	return slices.ContainsFunc(faults, func(f string) bool {
		return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(f, p) })
	})
}

// all lists every node.
func (n *Nemesis) all() []int {
	all := make([]int, n.c.Size())
	for i := range all {
		all[i] = i
	}
	return all
}
