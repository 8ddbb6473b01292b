// Package report writes a test's results: results.json, a Markdown table
// of workload x nemesis -> verdict, and an SVG plot of latency and
// throughput over time with the fault intervals shaded.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/trentkms/trent/jepsen/checker"
	"github.com/trentkms/trent/jepsen/history"
)

// Cell is the outcome of one workload under one nemesis.
type Cell struct {
	Workload  string           `json:"workload"`
	Nemesis   string           `json:"nemesis"`
	Seed      uint64           `json:"seed"`
	Verdict   checker.Verdict  `json:"verdict"`
	Anomalies map[string]int   `json:"anomalies"`
	Results   []checker.Result `json:"results"`
	Ops       int              `json:"ops"`
	OkOps     int              `json:"ok_ops"`
	Seconds   float64          `json:"seconds"`
	Dir       string           `json:"dir"`
	Error     string           `json:"error,omitempty"`
}

// WriteJSON writes v as indented JSON to path.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Table writes the Markdown table workload x nemesis -> verdict.
func Table(w io.Writer, cells []Cell) {
	var workloads, nemeses []string
	seen := map[string]bool{}
	byCell := map[[2]string]Cell{}
	for _, c := range cells {
		if !seen["w"+c.Workload] {
			seen["w"+c.Workload] = true
			workloads = append(workloads, c.Workload)
		}
		if !seen["n"+c.Nemesis] {
			seen["n"+c.Nemesis] = true
			nemeses = append(nemeses, c.Nemesis)
		}
		byCell[[2]string{c.Workload, c.Nemesis}] = c
	}
	fmt.Fprintf(w, "| workload \\ nemesis | %s |\n", strings.Join(nemeses, " | "))
	fmt.Fprintf(w, "|---|%s\n", strings.Repeat("---|", len(nemeses)))
	for _, wl := range workloads {
		row := []string{wl}
		for _, n := range nemeses {
			c, ok := byCell[[2]string{wl, n}]
			if !ok {
				row = append(row, "")
				continue
			}
			row = append(row, verdictCell(c))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
}

func verdictCell(c Cell) string {
	if c.Error != "" {
		return "error"
	}
	s := fmt.Sprintf("%s (%d ok ops)", c.Verdict, c.OkOps)
	if len(c.Anomalies) > 0 {
		var ks []string
		for k, n := range c.Anomalies {
			ks = append(ks, fmt.Sprintf("%s=%d", k, n))
		}
		sort.Strings(ks)
		s += ": " + strings.Join(ks, ", ")
	}
	return s
}

// Plot writes an SVG with two panels sharing the time axis: operation
// latency (each completed operation a dot: ok, fail or info) and ok
// operations per second, with the nemesis intervals shaded.
func Plot(w io.Writer, title string, ops []history.Op, events []history.Event) error {
	const (
		width, height = 1000.0, 560.0
		left, right   = 70.0, 20.0
		top1, h1      = 40.0, 260.0
		top2, h2      = 350.0, 160.0
	)
	var end int64
	var maxLat time.Duration
	for _, op := range ops {
		end = max(end, op.Return)
		maxLat = max(maxLat, time.Duration(op.Return-op.Call))
	}
	for _, ev := range events {
		end = max(end, ev.End)
	}
	if end == 0 {
		end = int64(time.Second)
	}
	if maxLat < 10*time.Millisecond {
		maxLat = 10 * time.Millisecond
	}
	plotW := width - left - right
	x := func(t int64) float64 { return left + plotW*float64(t)/float64(end) }
	yLat := func(d time.Duration) float64 {
		return top1 + h1 - h1*float64(d)/float64(maxLat)
	}
	// Throughput: ok operations per 1s bucket.
	buckets := make([]int, int(end/int64(time.Second))+1)
	for _, op := range ops {
		if op.Type == history.Ok {
			buckets[op.Return/int64(time.Second)]++
		}
	}
	maxRate := 1
	for _, b := range buckets {
		maxRate = max(maxRate, b)
	}
	yRate := func(n int) float64 { return top2 + h2 - h2*float64(n)/float64(maxRate) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" font-family="sans-serif" font-size="11">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%g" y="20" font-size="14">%s</text>`+"\n", left, esc(title))
	for _, ev := range events {
		x0, x1 := x(ev.Start), x(ev.End)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%g" width="%.1f" height="%g" fill="#f4c7c3" opacity="0.6"><title>%s %s</title></rect>`+"\n",
			x0, top1, max(x1-x0, 1), top2+h2-top1, esc(ev.Name), esc(strings.Join(ev.Targets, ",")))
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" fill="#a33" font-size="9">%s %s</text>`+"\n", x0+2, top1+10, esc(ev.Name), esc(strings.Join(ev.Targets, ",")))
	}
	// Axes and grid.
	for _, p := range [][4]float64{{left, top1, left, top1 + h1}, {left, top1 + h1, width - right, top1 + h1},
		{left, top2, left, top2 + h2}, {left, top2 + h2, width - right, top2 + h2}} {
		fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="black"/>`+"\n", p[0], p[1], p[2], p[3])
	}
	secs := float64(end) / float64(time.Second)
	step := max(1, int(secs/10))
	for s := 0; float64(s) <= secs; s += step {
		xx := x(int64(s) * int64(time.Second))
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle">%ds</text>`+"\n", xx, top2+h2+14, s)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#ddd"/>`+"\n", xx, top1+h1, xx, top1)
	}
	for i := 0; i <= 4; i++ {
		d := maxLat * time.Duration(i) / 4
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end">%s</text>`+"\n", left-4, yLat(d)+4, d.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end">%d/s</text>`+"\n", left-4, yRate(maxRate)+4, maxRate)
	fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end">0</text>`+"\n", left-4, yRate(0)+4)
	fmt.Fprintf(&b, `<text x="%g" y="%g">latency</text><text x="%g" y="%g">ok ops/s</text>`+"\n", left+4, top1-4, left+4, top2-4)
	colors := map[string]string{history.Ok: "#1f77b4", history.Fail: "#ff7f0e", history.Info: "#d62728"}
	// At most maxDots dots: every k-th operation beyond that.
	const maxDots = 20000
	k := len(ops)/maxDots + 1
	for i, op := range ops {
		if i%k != 0 {
			continue
		}
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="1.5" fill="%s"/>`+"\n", x(op.Return), yLat(time.Duration(op.Return-op.Call)), colors[op.Type])
	}
	var pts []string
	for i, n := range buckets {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(int64(i)*int64(time.Second)), yRate(n)))
	}
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#2ca02c" stroke-width="1.5" points="%s"/>`+"\n", strings.Join(pts, " "))
	lx := width - right - 200
	for i, t := range []string{history.Ok, history.Fail, history.Info} {
		fmt.Fprintf(&b, `<circle cx="%g" cy="%g" r="4" fill="%s"/><text x="%g" y="%g">%s</text>`+"\n", lx+float64(i)*60, 16.0, colors[t], lx+float64(i)*60+7, 20.0, t)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func esc(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}
