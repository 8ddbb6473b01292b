package runner

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trentkms/trent/jepsen/checker"
	"github.com/trentkms/trent/jepsen/history"
	"github.com/trentkms/trent/jepsen/nodes"
	"github.com/trentkms/trent/jepsen/report"
)

// A soak sample: each node's process, memory, file descriptors and the
// size of its log and audit trail, and the ok operations so far.
type sample struct {
	At    time.Duration  `json:"at"`
	OkOps int            `json:"ok_ops"`
	Nodes []nodeResource `json:"nodes"`
}

type nodeResource struct {
	ID         string `json:"id"`
	PID        int    `json:"pid"`
	RSSKiB     int64  `json:"rss_kib"`
	FDs        int    `json:"fds"`
	LogBytes   int64  `json:"log_bytes"`
	AuditBytes int64  `json:"audit_bytes"`
}

// soak samples the nodes every interval while the load runs.
type soak struct {
	mu      sync.Mutex
	samples []sample
	done    chan struct{}
}

// startSoak samples cl every interval until ctx ends.
func startSoak(ctx context.Context, every time.Duration, cl *nodes.Cluster, rec *history.Recorder) *soak {
	s := &soak{done: make(chan struct{})}
	take := func() {
		smp := sample{At: time.Duration(rec.Now())}
		for _, op := range rec.Ops() {
			if op.Type == history.Ok {
				smp.OkOps++
			}
		}
		for _, n := range cl.Nodes {
			smp.Nodes = append(smp.Nodes, resources(n))
		}
		s.mu.Lock()
		s.samples = append(s.samples, smp)
		s.mu.Unlock()
	}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		take()
		for {
			select {
			case <-ctx.Done():
				take()
				return
			case <-t.C:
				take()
			}
		}
	}()
	return s
}

// resources reads node n's process and files.
func resources(n *nodes.Node) nodeResource {
	r := nodeResource{ID: n.ID, PID: n.PID(), LogBytes: size(n.LogPath), AuditBytes: size(filepath.Join(n.DataDir, "audit"))}
	if r.PID <= 0 {
		return r
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.PID)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				r.RSSKiB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			}
		}
	}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", r.PID)); err == nil {
		r.FDs = len(fds)
	}
	return r
}

// size is the size of a file, or of every file under a directory.
func size(path string) int64 {
	var total int64
	_ = filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	return total
}

// Growth limits of a soak, from the first sample after the warm-up (a
// quarter of the run) to the last, for a process that lived through both.
const (
	maxFDGrowth  = 20  // file descriptors
	maxRSSGrowth = 1.0 // a doubling
)

// finish waits for the last sample, writes soak.json and soak.md in dir
// and returns the resources checker: throughput over time, memory and
// descriptor growth per node (too much is invalid), log and audit growth
// per hour.
func (s *soak) finish(dir string) (checker.Result, error) {
	<-s.done
	s.mu.Lock()
	samples := s.samples
	s.mu.Unlock()
	r := checker.Result{Name: "resources", Verdict: checker.Valid, Anomalies: map[string]int{}}
	if err := report.WriteJSON(filepath.Join(dir, "soak.json"), samples); err != nil {
		return r, err
	}
	if len(samples) < 3 {
		r.Verdict = checker.Unknown
		r.Notes = append(r.Notes, fmt.Sprintf("only %d samples", len(samples)))
		return r, nil
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# Soak\n\n| at | ok ops/s since the last sample |")
	for _, n := range samples[0].Nodes {
		fmt.Fprintf(&md, " %s RSS MiB / fds |", n.ID)
	}
	fmt.Fprintf(&md, "\n|---|---|%s\n", strings.Repeat("---|", len(samples[0].Nodes)))
	for i, smp := range samples {
		rate := 0.0
		if i > 0 {
			rate = float64(smp.OkOps-samples[i-1].OkOps) / (smp.At - samples[i-1].At).Seconds()
		}
		fmt.Fprintf(&md, "| %v | %.0f |", smp.At.Round(time.Second), rate)
		for _, n := range smp.Nodes {
			fmt.Fprintf(&md, " %.0f / %d |", float64(n.RSSKiB)/1024, n.FDs)
		}
		md.WriteString("\n")
	}
	warm, last := samples[len(samples)/4], samples[len(samples)-1]
	hours := (last.At - samples[0].At).Hours()
	md.WriteString("\n")
	for i, n := range last.Nodes {
		w, first := warm.Nodes[i], samples[0].Nodes[i]
		logRate := float64(n.LogBytes-first.LogBytes) / hours / (1 << 20)
		auditRate := float64(n.AuditBytes-first.AuditBytes) / hours / (1 << 20)
		line := fmt.Sprintf("%s: log %.1f MiB/h, audit %.1f MiB/h", n.ID, logRate, auditRate)
		if w.PID != n.PID || n.PID <= 0 {
			line += "; restarted since the warm-up, growth not measured"
		} else {
			line += fmt.Sprintf("; RSS %.0f -> %.0f MiB, fds %d -> %d from %v to %v", float64(w.RSSKiB)/1024, float64(n.RSSKiB)/1024,
				w.FDs, n.FDs, warm.At.Round(time.Second), last.At.Round(time.Second))
			if n.FDs-w.FDs > maxFDGrowth {
				r.Verdict = checker.Invalid
				r.Anomalies["fd-growth"]++
				r.Witnesses = append(r.Witnesses, fmt.Sprintf("%s: %d more file descriptors", n.ID, n.FDs-w.FDs))
			}
			if w.RSSKiB > 0 && float64(n.RSSKiB-w.RSSKiB) > maxRSSGrowth*float64(w.RSSKiB) {
				r.Verdict = checker.Invalid
				r.Anomalies["rss-growth"]++
				r.Witnesses = append(r.Witnesses, fmt.Sprintf("%s: RSS %d -> %d KiB", n.ID, w.RSSKiB, n.RSSKiB))
			}
		}
		r.Notes = append(r.Notes, line)
		md.WriteString("- " + line + "\n")
	}
	return r, os.WriteFile(filepath.Join(dir, "soak.md"), []byte(md.String()), 0o644)
}
