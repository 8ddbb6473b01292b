package deptest

import (
	"slices"
	"testing"
)

// fake is a small graph: a pure package that reaches a transport through a
// helper, a client that imports an internal, a test that imports the root,
// and a package with a bad name.
func fake() graph {
	return graph{
		"trent/pure":   {name: "pure", imports: []string{"fmt", "trent/helper"}},
		"trent/helper": {name: "helper", imports: []string{"net/http"}},
		"trent/client": {name: "client", imports: []string{"trent/gen/v1", "trent/pure"}},
		"trent/gen/v1": {name: "v1", imports: []string{"fmt"}},
		"trent/root":   {name: "root", imports: []string{"trent/pure"}},
		"trent/other":  {name: "other", imports: []string{"fmt"}, tests: []string{"trent/root"}},
		"trent/util":   {name: "util"},
		"fmt":          {name: "fmt"},
		"net/http":     {name: "http", imports: []string{"fmt"}},
	}
}

var fakeRules = []rule{
	{why: "pure", from: []string{"trent/pure"}, deny: []string{"net/http/..."}},
	{why: "client", from: []string{"trent/client"}, only: []string{"trent/gen/..."}, deny: []string{"net/http"}},
	{why: "root", from: []string{"trent/..."}, except: []string{"trent/root"}, deny: []string{"trent/root"}, tests: true},
}

func TestCheckFindsEveryBrokenRule(t *testing.T) {
	got := check(fake(), fakeRules, nil)
	want := []string{
		"client: trent/client -> trent/pure -> trent/helper -> net/http",
		"client: trent/client imports trent/pure",
		"pure: trent/pure -> trent/helper -> net/http",
		"root: trent/other -> trent/root",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("check:\n%q\nwant\n%q", got, want)
	}
}

func TestCheckSkipsKnownViolations(t *testing.T) {
	known := map[edge]string{
		{"trent/helper", "net/http"}:   "being removed",
		{"trent/client", "trent/pure"}: "being removed",
		{"trent/other", "trent/root"}:  "a test's import",
		{"trent/pure", "trent/gone"}:   "removed already",
	}
	got := check(fake(), fakeRules, known)
	want := []string{
		"knownViolations: trent/pure -> trent/gone (removed already) is no longer an import: delete the entry",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("check:\n%q\nwant\n%q", got, want)
	}
}

func TestCheckPassesAGoodGraph(t *testing.T) {
	g := fake()
	g["trent/helper"].imports = []string{"fmt"}
	g["trent/client"].imports = []string{"trent/gen/v1"}
	g["trent/other"].tests = nil
	if got := check(g, fakeRules, nil); len(got) != 0 {
		t.Fatalf("check of a good graph: %q", got)
	}
}

func TestCheckNames(t *testing.T) {
	got := checkNames(fake())
	want := []string{"package trent/util is named for no idea it provides (util)"}
	if !slices.Equal(got, want) {
		t.Fatalf("checkNames: %q, want %q", got, want)
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"net/http", "net/http", true},
		{"net/http", "net/http/httptest", false},
		{"net/http/...", "net/http", true},
		{"net/http/...", "net/http/httptest", true},
		{"github.com/hashicorp/raft/...", "github.com/hashicorp/raft-boltdb/v2", false},
		{"trent/...", "trent/kms", true},
		{"trent/...", "trentx/kms", false},
	} {
		if got := match(c.pattern, c.path); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
}
