package deptest

import (
	"fmt"
	"slices"
	"strings"
)

// A pkg is one package in the import graph. Paths inside the module are
// written "trent/kms"; others keep their import path ("net/http").
type pkg struct {
	name    string   // the package clause
	imports []string // non-test imports
	tests   []string // imports of its _test.go files, both kinds
}

// A graph is the import graph of the module's packages and everything
// they depend on, keyed by path.
type graph map[string]*pkg

// An edge is one import, "from" imports "to".
type edge struct{ from, to string }

func (e edge) String() string { return e.from + " -> " + e.to }

// A rule is one promise about the graph.
type rule struct {
	// why names the promise, as docs/architecture.md words it.
	why string
	// from are the packages bound by the rule (patterns), less except.
	from, except []string
	// deny are packages the bound packages must not reach through any
	// chain of imports.
	deny []string
	// only, if not nil, are the module packages the bound packages may
	// import directly; any other "trent/..." import breaks the rule.
	only []string
	// tests extends the rule to the bound packages' tests: their first
	// hop may be a test import.
	tests bool
}

// match reports whether path matches pattern: the same path, or, for a
// pattern ending in "/...", the path before it or any path under it.
func match(pattern, path string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return pattern == path
}

func matchAny(patterns []string, path string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return match(p, path) })
}

// check returns one line per broken rule and per stale allowlist entry,
// sorted. Edges in known are left out of the graph.
func check(g graph, rules []rule, known map[edge]string) []string {
	skip := func(e edge) bool {
		_, ok := known[e]
		return ok
	}
	var out []string
	for _, r := range rules {
		for _, path := range sortedKeys(g) {
			if !strings.HasPrefix(path, "trent/") || !matchAny(r.from, path) || matchAny(r.except, path) {
				continue
			}
			p := g[path]
			first := p.imports
			if r.tests {
				first = append(slices.Clone(p.imports), p.tests...)
			}
			if r.only != nil {
				for _, imp := range first {
					if strings.HasPrefix(imp, "trent/") && !matchAny(r.only, imp) && !skip(edge{path, imp}) {
						out = append(out, fmt.Sprintf("%s: %s imports %s", r.why, path, imp))
					}
				}
			}
			if len(r.deny) > 0 {
				for _, chain := range reach(g, path, first, r.deny, skip) {
					out = append(out, fmt.Sprintf("%s: %s", r.why, strings.Join(chain, " -> ")))
				}
			}
		}
	}
	for e, why := range known {
		if p := g[e.from]; p == nil || !slices.Contains(p.imports, e.to) && !slices.Contains(p.tests, e.to) {
			out = append(out, fmt.Sprintf("knownViolations: %s (%s) is no longer an import: delete the entry", e, why))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// reach walks the graph breadth-first from start, whose imports are first,
// and returns the shortest chain to each package matching deny, not
// following edges for which skip is true.
func reach(g graph, start string, first, deny []string, skip func(edge) bool) [][]string {
	parent := map[string]string{start: ""}
	queue := []string{start}
	var chains [][]string
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		next := first
		if cur != start {
			next = nil
			if p := g[cur]; p != nil {
				next = p.imports
			}
		}
		for _, imp := range next {
			if _, seen := parent[imp]; seen || skip(edge{cur, imp}) {
				continue
			}
			parent[imp] = cur
			if matchAny(deny, imp) {
				var chain []string
				for p := imp; p != ""; p = parent[p] {
					chain = append(chain, p)
				}
				slices.Reverse(chain)
				chains = append(chains, chain)
				continue // the first forbidden package on a chain is enough
			}
			queue = append(queue, imp)
		}
	}
	return chains
}

// badNames are package names that say nothing about what a package
// provides.
var badNames = []string{"util", "utils", "common", "models", "helpers", "misc"}

// checkNames returns one line per module package whose name or directory
// is in badNames.
func checkNames(g graph) []string {
	var out []string
	for _, path := range sortedKeys(g) {
		if !strings.HasPrefix(path, "trent/") {
			continue
		}
		dir := path[strings.LastIndex(path, "/")+1:]
		if slices.Contains(badNames, dir) || slices.Contains(badNames, g[path].name) {
			out = append(out, fmt.Sprintf("package %s is named for no idea it provides (%s)", path, g[path].name))
		}
	}
	return out
}

func sortedKeys(g graph) []string {
	keys := make([]string, 0, len(g))
	for k := range g {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
