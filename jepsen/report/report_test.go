package report

import (
	"bytes"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trentkms/trent/jepsen/checker"
	"github.com/trentkms/trent/jepsen/history"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestTable(t *testing.T) {
	cells := []Cell{
		{Workload: "grants", Nemesis: "partition", Verdict: checker.Valid, OkOps: 120},
		{Workload: "grants", Nemesis: "kill,pause", Verdict: checker.Invalid, OkOps: 80,
			Anomalies: map[string]int{"staleness/stale-read": 3, "linearizable/nonlinearizable": 1}},
		{Workload: "keystate", Nemesis: "partition", Verdict: checker.Unknown, OkOps: 5},
		{Workload: "keystate", Nemesis: "kill,pause", Error: "setup failed"},
	}
	var b bytes.Buffer
	Table(&b, cells)
	golden := filepath.Join("testdata", "table.md")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Fatalf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestPlot(t *testing.T) {
	s := int64(time.Second)
	ops := []history.Op{
		{Type: history.Ok, Call: 0, Return: s / 10},
		{Type: history.Fail, Call: s, Return: 2 * s},
		{Type: history.Info, Call: 2 * s, Return: 5 * s},
	}
	events := []history.Event{{Name: "partition-leader", Targets: []string{"n1"}, Start: s, End: 3 * s}}
	var b bytes.Buffer
	if err := Plot(&b, "grants <&> test", ops, events); err != nil {
		t.Fatal(err)
	}
	// Well-formed XML, one dot per operation, one shaded band per fault.
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	counts := map[string]int{}
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not well-formed: %v", err)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
		}
	}
	if counts["circle"] != len(ops)+3 { // plus the legend's three
		t.Errorf("%d circles, want %d", counts["circle"], len(ops)+3)
	}
	if !strings.Contains(b.String(), `fill="#f4c7c3"`) || !strings.Contains(b.String(), "partition-leader n1") {
		t.Errorf("no shaded fault interval:\n%s", b.String())
	}
}
