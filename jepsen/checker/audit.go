package checker

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/trentkms/trent/jepsen/history"
)

// Trail is one node's audit log as the harness found it after the run.
type Trail struct {
	Node string
	// Verify is the outcome of `trent audit verify` on the node's log:
	// nil when the chain verified.
	Verify error
	// RequestIDs are the requestIDs of the node's records.
	RequestIDs map[string]bool
	// Skip, if set, says why the node's records are not matched against
	// the history (a wiped node's log went with its data dir).
	Skip string
}

// ReadTrail reads the requestIDs of the audit files in dir
// (audit-*.jsonl). It decodes only that member: the chain is the
// verifier's business.
func ReadTrail(dir string) (map[string]bool, error) {
	files, err := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var rec struct {
				RequestID string `json:"requestID"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.RequestID != "" {
				ids[rec.RequestID] = true
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// Audit checks the nodes' audit trails against the history: every node's
// chain verifies (`broken-chain`), and every acknowledged operation has
// its record, by request id, in the log of the node it was sent to
// (`unaudited`): the trail fails closed, so a call answered without its
// record is a lost record. Operations without a request id (a node that
// does not send Trent-Request-Id) cannot be matched; with none at all the
// verdict is unknown.
func Audit(ops []history.Op, trails []Trail) Result {
	r := newResult("audit")
	byNode := map[string]Trail{}
	for _, t := range trails {
		byNode[t.Node] = t
		if t.Verify != nil {
			r.anomaly("broken-chain", "%s: %v", t.Node, t.Verify)
		}
		if t.Skip != "" {
			r.note("%s: records not matched: %s", t.Node, t.Skip)
		}
	}
	matched, missing := 0, map[string]int{}
	for _, op := range ops {
		if op.Type != history.Ok || op.RequestID == "" {
			continue
		}
		t, ok := byNode[op.Node]
		if !ok || t.Skip != "" || t.RequestIDs == nil {
			continue
		}
		if !t.RequestIDs[op.RequestID] {
			missing[op.Node]++
			r.anomaly("unaudited", "%s on %s (request %s, op %d, returned at %.3fs) was acknowledged but has no audit record",
				op.F, op.Node, op.RequestID, op.ID, float64(op.Return)/1e9)
			continue
		}
		matched++
	}
	if matched == 0 && len(missing) == 0 {
		r.unknown("no acknowledged operation carries a request id to match")
	}
	var nodes []string
	for _, t := range trails {
		nodes = append(nodes, t.Node)
	}
	sort.Strings(nodes)
	r.note("%d acknowledged operations found in the audit logs of %s", matched, strings.Join(nodes, ", "))
	return *r
}
