package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/trentkms/trent/jepsen/checker"
	"github.com/trentkms/trent/jepsen/nemesis"
	"github.com/trentkms/trent/jepsen/report"
)

func TestVerdict(t *testing.T) {
	valid := report.Cell{Workload: "grants", Nemesis: "kill", Verdict: checker.Valid}
	stale := report.Cell{Workload: "keystate", Nemesis: "partition", Verdict: checker.Invalid,
		Anomalies: map[string]int{"staleness/stale-read": 3}}
	slow := report.Cell{Workload: "keystate", Nemesis: "pause", Verdict: checker.Invalid,
		Anomalies: map[string]int{"throughput/too-slow": 1}}
	broken := report.Cell{Workload: "grants", Nemesis: "partition", Error: "setup failed"}
	diskCaught := report.Cell{Workload: "keystate", Nemesis: "disk", Verdict: checker.Invalid,
		Anomalies: map[string]int{"audit/unaudited": 4}}
	diskMissed := report.Cell{Workload: "keystate", Nemesis: "disk", Verdict: checker.Valid}
	tests := []struct {
		name   string
		canary bool
		cells  []report.Cell
		ok     bool
	}{
		{"all valid", false, []report.Cell{valid, valid}, true},
		{"one invalid", false, []report.Cell{valid, stale}, false},
		{"unknown is not valid", false, []report.Cell{{Verdict: checker.Unknown}}, false},
		{"a cell that did not run", false, []report.Cell{valid, broken}, false},
		{"canary caught", true, []report.Cell{valid, stale}, true},
		{"canary not caught", true, []report.Cell{valid, valid}, false},
		{"canary caught only by a non-consistency checker", true, []report.Cell{valid, slow}, false},
		{"canary with a cell that did not run", true, []report.Cell{stale, broken}, false},
		{"disk canary caught by the audit checker", true, []report.Cell{stale, diskCaught}, true},
		{"disk canary missed though another cell caught its canary", true, []report.Cell{stale, diskMissed}, false},
		{"disk canary alone", true, []report.Cell{diskCaught}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := verdict(tt.canary, tt.cells); (err == nil) != tt.ok {
				t.Fatalf("verdict = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// coversFault says whether some cell's nemesis includes fault.
func coversFault(t *testing.T, cells []cellSpec, fault string) bool {
	t.Helper()
	for _, c := range cells {
		faults, err := nemesis.Parse(c.nemesis)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(faults, fault) {
			return true
		}
	}
	return false
}

func TestPlan(t *testing.T) {
	base := options{workload: "grants", nemesis: "partition,kill", nodes: 3}
	tests := []struct {
		name  string
		o     func(o options) options
		cells int
		err   bool
	}{
		{"one cell", func(o options) options { return o }, 1, false},
		{"smoke is small", func(o options) options { o.matrix = "smoke"; return o }, 7, false},
		{"full on 3 nodes", func(o options) options { o.matrix = "full"; return o }, 45, false},
		{"full on 5 nodes adds the majorities", func(o options) options { o.matrix = "full"; o.nodes = 5; return o }, 48, false},
		{"bad workload", func(o options) options { o.workload = "bogus"; return o }, 0, true},
		{"bad nemesis", func(o options) options { o.nemesis = "bogus"; return o }, 0, true},
		{"bad matrix", func(o options) options { o.matrix = "huge"; return o }, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cells, err := plan(tt.o(base))
			if (err != nil) != tt.err || len(cells) != tt.cells {
				t.Fatalf("plan = %d cells, %v; want %d (error %v)", len(cells), err, tt.cells, tt.err)
			}
			if tt.name == "smoke is small" && len(cells) > 7 {
				t.Fatalf("smoke has %d cells", len(cells))
			}
			if tt.name == "smoke is small" || strings.HasPrefix(tt.name, "full") {
				if !coversFault(t, cells, nemesis.Wipe) {
					t.Fatalf("%s: no cell can wipe a node", tt.name)
				}
				if !coversFault(t, cells, nemesis.DiskFull) || !coversFault(t, cells, nemesis.FsyncFail) {
					t.Fatalf("%s: no cell fills a disk or fails an fsync", tt.name)
				}
				if !coversFault(t, cells, nemesis.SlowFollower) {
					t.Fatalf("%s: no cell has a slow follower", tt.name)
				}
			}
			if strings.HasPrefix(tt.name, "full") {
				if !coversFault(t, cells, nemesis.ClockBackCut) {
					t.Fatalf("%s: no cell moves clocks", tt.name)
				}
				for _, c := range cells {
					if c.nemesis == nemesis.CrashPoints && c.timeLimit < crashPointsTime {
						t.Fatalf("%s/%s has %v, too little to take every crash point", c.workload, c.nemesis, c.timeLimit)
					}
				}
				if !coversFault(t, cells, nemesis.CrashPoints) {
					t.Fatalf("%s: no crash-points cell", tt.name)
				}
			}
		})
	}
}
