package cli

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"

	"connectrpc.com/connect"
)

// The throughput of a node and of the null server depends on what else
// runs on the machine; the CPU time a call costs (client and server
// together, as they share the cores) much less. The bench reads a node's
// CPU time from its admin-only /metrics (process_cpu_seconds_total) and
// its own from getrusage; without the admin credential it reports none.

// nodeCPU returns the CPU seconds a node has used, or false.
func nodeCPU(ctx context.Context, hc connect.HTTPClient, baseURL string) (float64, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/metrics", nil)
	if err != nil {
		return 0, false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// cpuMeter measures the CPU time of a run: this process's and, if known,
// the node's.
type cpuMeter struct {
	self0, node0 float64
	node         func() (float64, bool)
	nodeOK       bool
}

func startCPU(node func() (float64, bool)) *cpuMeter {
	m := &cpuMeter{self0: selfCPU(), node: node}
	if node != nil {
		m.node0, m.nodeOK = node()
	}
	return m
}

// perOp returns the CPU microseconds per call of a run of ops calls, or
// 0 if it cannot tell (the node's CPU was asked for but is unknown).
func (m *cpuMeter) perOp(ops uint64) float64 {
	used := selfCPU() - m.self0
	if m.node != nil {
		n, ok := m.node()
		if !ok || !m.nodeOK {
			return 0
		}
		used += n - m.node0
	}
	if ops == 0 || used <= 0 {
		return 0
	}
	return used * 1e6 / float64(ops)
}
