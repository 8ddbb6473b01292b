// Package history records the operations of a Jepsen-style test: one
// record per operation with its invocation and completion times, its
// outcome (ok, fail or info) and the consistency metadata the serving node
// reported in its response headers. Histories are written as JSON lines.
package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"
)

// Outcome types, as in Jepsen.
const (
	// Ok: the operation definitely happened, with the recorded result.
	Ok = "ok"
	// Fail: the operation definitely did not happen (or, for a read,
	// returned nothing usable).
	Fail = "fail"
	// Info: the outcome is unknown; a write may or may not have taken
	// effect, at any time after its invocation.
	Info = "info"
)

// Read modes.
const (
	ModeWrite        = "write"        // a write, served by the leader
	ModeLinearizable = "linearizable" // Trent-Consistency: linearizable
	ModeBounded      = "bounded"      // the default bounded-staleness read
	ModeToken        = "token"        // carries a grant token: linearizable
	ModeFinal        = "final"        // a read of the final, healed phase
)

// Op is one completed operation.
type Op struct {
	ID      int64  `json:"id"`
	Process int    `json:"process"`
	F       string `json:"f"`
	Key     string `json:"key,omitempty"`
	// Value is the operation's input (a grant name, a plaintext tag ...).
	Value string `json:"value,omitempty"`
	// Result is the operation's output in the workload's encoding.
	Result string `json:"result,omitempty"`
	Type   string `json:"type"`
	Err    string `json:"err,omitempty"`
	Mode   string `json:"mode"`
	// Call and Return are nanoseconds since the test started.
	Call   int64 `json:"call"`
	Return int64 `json:"return"`
	// Node is the node the request was sent to.
	Node string `json:"node"`
	// Response headers.
	ServedBy    string `json:"served_by,omitempty"`
	Applied     uint64 `json:"applied,omitempty"`
	Consistency string `json:"consistency,omitempty"`
	Staleness   string `json:"staleness,omitempty"`
	// RequestID is the call's Trent-Request-Id: its audit record's
	// requestID on the node it was sent to.
	RequestID string `json:"request_id,omitempty"`
	// Propagation is the simulated propagation delay the read's view
	// honoured (Trent-Simulated-Propagation), if it saw a delayed view.
	Propagation string `json:"propagation,omitempty"`
}

// Event is a fault interval of the nemesis.
type Event struct {
	Name    string   `json:"name"`
	Targets []string `json:"targets,omitempty"`
	Start   int64    `json:"start"`
	End     int64    `json:"end"`
}

// Recorder collects operations concurrently.
type Recorder struct {
	start time.Time
	mu    sync.Mutex
	ops   []Op
	next  int64
	now   func() time.Time
}

// NewRecorder starts a history at the current time of now (time.Now if nil).
func NewRecorder(now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{start: now(), now: now}
}

// Now returns the nanoseconds elapsed since the history started.
func (r *Recorder) Now() int64 { return int64(r.now().Sub(r.start)) }

// Add appends a completed operation and assigns its id.
func (r *Recorder) Add(op Op) Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.ID = r.next
	r.next++
	r.ops = append(r.ops, op)
	return op
}

// Ops returns the operations recorded so far, ordered by invocation.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	out := append([]Op(nil), r.ops...)
	r.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Call < out[j].Call })
	return out
}

// WriteJSONL writes ops, one JSON object a line.
func WriteJSONL(w io.Writer, ops []Op) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i := range ops {
		if err := enc.Encode(&ops[i]); err != nil {
			return fmt.Errorf("encode op %d: %w", ops[i].ID, err)
		}
	}
	return bw.Flush()
}

// WriteFile writes ops to path as JSON lines.
func WriteFile(path string, ops []Op) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteJSONL(f, ops); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadJSONL reads a history written by WriteJSONL.
func ReadJSONL(r io.Reader) ([]Op, error) {
	var ops []Op
	dec := json.NewDecoder(r)
	for dec.More() {
		var op Op
		if err := dec.Decode(&op); err != nil {
			return nil, fmt.Errorf("history line %d: %w", len(ops)+1, err)
		}
		ops = append(ops, op)
	}
	return ops, nil
}
