package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trentkms/trent/jepsen/report"
)

func TestSummarize(t *testing.T) {
	dir := t.TempDir()
	runs := [][]report.Cell{
		{{Workload: "grants", Nemesis: "slow", Seed: 1, Verdict: "valid"}, {Workload: "keystate", Nemesis: "clock", Seed: 2, Verdict: "valid"}},
		{{Workload: "grants", Nemesis: "slow", Seed: 11, Verdict: "invalid", Anomalies: map[string]int{"staleness/stale-read": 2}},
			{Workload: "keystate", Nemesis: "clock", Seed: 12, Error: "setup failed"}},
	}
	for i, r := range runs {
		d := filepath.Join(dir, string(rune('a'+i)))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := report.WriteJSON(filepath.Join(d, "results.json"), r); err != nil {
			t.Fatal(err)
		}
	}
	var out, errs bytes.Buffer
	if code := summarize(dir, &out, &errs); code != 1 {
		t.Fatalf("exit %d, want 1 (a run was not valid): %s", code, errs.String())
	}
	for _, want := range []string{
		"2 runs under",
		"| grants/slow | 1 | 1 | 0 | 0 | seed 11: invalid (staleness/stale-read=2) |",
		"| keystate/clock | 1 | 0 | 0 | 1 | seed 12: did not run |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if code := summarize(t.TempDir(), &out, &errs); code != 2 {
		t.Fatalf("empty dir: exit %d, want 2", code)
	}
}
