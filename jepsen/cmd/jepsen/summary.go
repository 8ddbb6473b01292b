package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/trentkms/trent/jepsen/report"
)

// tally is one cell's verdicts over many runs.
type tally struct {
	valid, invalid, unknown, failed int
	bad                             []string // "seed N: verdict (anomalies)"
}

// summarize reads the results.json of every run folder under dir (the
// many-seeds script's) and prints, per cell, how many runs were valid,
// invalid, unknown or did not run, with the seeds of the bad ones. It
// returns 0 when every run of every cell was valid.
func summarize(dir string, stdout, stderr io.Writer) int {
	paths, err := filepath.Glob(filepath.Join(dir, "*", "results.json"))
	if err != nil || len(paths) == 0 {
		fmt.Fprintf(stderr, "jepsen: no run folders with results.json under %s\n", dir)
		return 2
	}
	cells := map[string]*tally{}
	runs := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintf(stderr, "jepsen: %v\n", err)
			return 2
		}
		var rs []report.Cell
		if err := json.Unmarshal(b, &rs); err != nil {
			fmt.Fprintf(stderr, "jepsen: %s: %v\n", p, err)
			return 2
		}
		runs++
		for _, c := range rs {
			name := c.Workload + "/" + c.Nemesis
			t := cells[name]
			if t == nil {
				t = &tally{}
				cells[name] = t
			}
			switch {
			case c.Error != "":
				t.failed++
				t.bad = append(t.bad, fmt.Sprintf("seed %d: did not run", c.Seed))
			case c.Verdict == "valid":
				t.valid++
			case c.Verdict == "invalid":
				t.invalid++
				t.bad = append(t.bad, fmt.Sprintf("seed %d: invalid %s", c.Seed, anomalies(c.Anomalies)))
			default:
				t.unknown++
				t.bad = append(t.bad, fmt.Sprintf("seed %d: %s", c.Seed, c.Verdict))
			}
		}
	}
	names := make([]string, 0, len(cells))
	for n := range cells {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(stdout, "%d runs under %s\n\n| cell | valid | invalid | unknown | did not run | not valid |\n|---|---|---|---|---|---|\n", runs, dir)
	status := 0
	for _, n := range names {
		t := cells[n]
		fmt.Fprintf(stdout, "| %s | %d | %d | %d | %d | %s |\n", n, t.valid, t.invalid, t.unknown, t.failed, strings.Join(t.bad, "; "))
		if len(t.bad) > 0 {
			status = 1
		}
	}
	return status
}

func anomalies(m map[string]int) string {
	ks := make([]string, 0, len(m))
	for k, n := range m {
		ks = append(ks, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(ks)
	return "(" + strings.Join(ks, ", ") + ")"
}
