package checker

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/trentkms/trent/jepsen/history"
)

// Staleness checks reads against the applied indexes in their response
// headers. A bounded read invoked at t must have been served at an applied
// index at least that of every write acknowledged before t - maxStaleness,
// and must report a staleness bound of at most maxStaleness. A
// linearizable or token read invoked at t must reflect every write
// acknowledged before t, and say it was served linearizably. Writes
// report the index they applied at.
func Staleness(ops []history.Op, maxStaleness time.Duration) Result {
	r := newResult("staleness")
	type ack struct {
		at  int64
		idx uint64
	}
	var acks []ack
	for _, op := range ops {
		if isWrite(op.F) && op.Type == history.Ok && op.Applied > 0 {
			acks = append(acks, ack{op.Return, op.Applied})
		}
	}
	sort.Slice(acks, func(i, j int) bool { return acks[i].at < acks[j].at })
	// prefix[i] is the highest index acknowledged by acks[0..i].
	prefix := make([]uint64, len(acks))
	for i, a := range acks {
		prefix[i] = a.idx
		if i > 0 {
			prefix[i] = max(prefix[i], prefix[i-1])
		}
	}
	// maxBefore is the highest index of a write acknowledged before t.
	maxBefore := func(t int64) uint64 {
		i := sort.Search(len(acks), func(i int) bool { return acks[i].at >= t })
		if i == 0 {
			return 0
		}
		return prefix[i-1]
	}
	var bounded, linear, missing int
	for _, op := range ops {
		if op.Type != history.Ok || isWrite(op.F) {
			continue
		}
		var ref int64
		switch op.Mode {
		case history.ModeBounded:
			bounded++
			ref = op.Call - int64(maxStaleness)
			if op.Staleness != "" {
				d, err := time.ParseDuration(op.Staleness)
				if err != nil {
					r.anomaly("bad-staleness-header", "op %d: Trent-Staleness-Bound %q", op.ID, op.Staleness)
				} else if d > maxStaleness {
					r.anomaly("bound-exceeded", "op %d %s on %s reported staleness %v > %v", op.ID, op.F, op.ServedBy, d, maxStaleness)
				}
			}
		case history.ModeLinearizable, history.ModeToken:
			linear++
			ref = op.Call
			if op.Mode == history.ModeLinearizable && op.Consistency != "" && op.Consistency != "linearizable" {
				r.anomaly("mode-downgraded", "op %d %s on %s asked for a linearizable read and was served %q",
					op.ID, op.F, op.ServedBy, op.Consistency)
			}
		default:
			continue
		}
		if op.Applied == 0 {
			missing++
			continue
		}
		if want := maxBefore(ref); op.Applied < want {
			kind := "stale-read"
			if op.Mode != history.ModeBounded {
				kind = "stale-linearizable-read"
			}
			r.anomaly(kind, "op %d %s %s on %s (%s) served at index %d, but index %d was acknowledged before %v",
				op.ID, op.F, op.Key, op.ServedBy, op.Mode, op.Applied, want, time.Duration(ref))
		}
	}
	r.note("%d bounded and %d linearizable reads against %d acknowledged writes", bounded, linear, len(acks))
	if missing > 0 {
		r.note("%d reads had no Trent-Applied-Index header", missing)
		if missing == bounded+linear {
			r.unknown("no read reported its applied index")
		}
	}
	if bounded+linear == 0 {
		r.unknown("no successful reads")
	}
	return *r
}

// finals returns the final-phase operations of f, by key and node.
func finals(ops []history.Op, f string) []history.Op {
	var out []history.Op
	for _, op := range ops {
		if op.F == f {
			out = append(out, op)
		}
	}
	return out
}

// Durability checks that every acknowledged Encrypt decrypted in the final
// phase to its plaintext, every acknowledged CreateKey is described there,
// and every acknowledged CreateGrant whose grant was never revoked is
// listed there. A lost Encrypt whose key may have rotated after it
// (a RotateKeyOnDemand ok or indeterminate, called after the Encrypt
// returned) is a rotation that lost a ciphertext.
func Durability(ops []history.Op) Result {
	r := newResult("durability")
	decrypted := map[string]bool{}
	for _, op := range finals(ops, FFinalDecrypt) {
		if op.Type == history.Ok && op.Result == op.Value {
			decrypted[op.Value] = true
		}
	}
	described := map[string]bool{}
	for _, op := range finals(ops, FFinalDescribe) {
		if op.Type == history.Ok {
			described[op.Key] = true
		}
	}
	listed := map[string]map[string]bool{} // key -> names
	listedKey := map[string]bool{}
	for _, op := range finals(ops, FFinalListGrants) {
		if op.Type != history.Ok {
			continue
		}
		listedKey[op.Key] = true
		if listed[op.Key] == nil {
			listed[op.Key] = map[string]bool{}
		}
		for _, n := range splitNames(op.Result) {
			listed[op.Key][n] = true
		}
	}
	revoked := map[string]bool{} // key/name with a revoke that may have happened
	for _, op := range ops {
		if op.F == FRevokeGrant && (op.Type == history.Info || op.Type == history.Ok && op.Result != ResultNotFound) {
			revoked[op.Key+"/"+op.Value] = true
		}
	}
	rotatedAt := map[string][]int64{} // key -> call times of rotations that may have happened
	rotations := 0
	for _, op := range ops {
		if op.F == FRotate && (op.Type == history.Ok || op.Type == history.Info) {
			rotatedAt[op.Key] = append(rotatedAt[op.Key], op.Call)
			if op.Type == history.Ok {
				rotations++
			}
		}
	}
	rotatedAfter := func(key string, t int64) bool {
		for _, c := range rotatedAt[key] {
			if c > t {
				return true
			}
		}
		return false
	}
	var enc, keys, grants int
	for _, op := range ops {
		if op.Type != history.Ok {
			continue
		}
		switch op.F {
		case FEncrypt:
			enc++
			if !decrypted[op.Value] && rotatedAfter(op.Key, op.Return) {
				r.anomaly("rotation-lost-ciphertext", "op %d: the ciphertext of acknowledged Encrypt %q did not decrypt at the end after its key rotated", op.ID, op.Value)
			} else if !decrypted[op.Value] {
				r.anomaly("lost-encrypt", "op %d: the ciphertext of acknowledged Encrypt %q did not decrypt at the end", op.ID, op.Value)
			}
		case FCreateKey:
			keys++
			if !described[op.Result] {
				r.anomaly("lost-key", "op %d: acknowledged CreateKey %s is not described at the end", op.ID, op.Result)
			}
		case FCreateGrant:
			grants++
			if revoked[op.Key+"/"+op.Value] {
				continue
			}
			if !listedKey[op.Key] {
				r.unknown("key %s was never listed at the end", op.Key)
				continue
			}
			if !listed[op.Key][op.Value] {
				r.anomaly("lost-grant", "op %d: acknowledged CreateGrant %q on %s is not listed at the end", op.ID, op.Value, op.Key)
			}
		}
	}
	r.note("%d acknowledged Encrypts, %d CreateKeys, %d CreateGrants, %d rotations", enc, keys, grants, rotations)
	if enc+keys+grants == 0 {
		r.unknown("nothing was acknowledged")
	}
	return *r
}

// Idempotency checks that no grant name appears twice on a key in the
// final listings: CreateGrant with a Name, retried, makes one grant.
func Idempotency(ops []history.Op) Result {
	r := newResult("idempotency")
	n := 0
	for _, op := range finals(ops, FFinalListGrants) {
		if op.Type != history.Ok {
			continue
		}
		n++
		seen := map[string]bool{}
		for _, name := range splitNames(op.Result) {
			if seen[name] {
				r.anomaly("duplicate-grant", "grant name %q appears more than once on key %s (listed by %s)", name, op.Key, op.Node)
			}
			seen[name] = true
		}
	}
	r.note("%d final grant listings", n)
	return *r
}

// Convergence checks that every node answered each final-phase read (same
// operation, same key) with the same result.
func Convergence(ops []history.Op) Result {
	r := newResult("convergence")
	type slot struct{ f, key string }
	results := map[slot]map[string]string{} // -> node -> result
	for _, op := range ops {
		if op.Mode != history.ModeFinal || op.F == FFinalDecrypt || op.F == FFinalDecryptDoomed {
			continue
		}
		if op.Type != history.Ok {
			r.unknown("final %s %s on %s failed: %s", op.F, op.Key, op.Node, op.Err)
			continue
		}
		s := slot{op.F, op.Key}
		if results[s] == nil {
			results[s] = map[string]string{}
		}
		results[s][op.Node] = op.Result
	}
	for s, byNode := range results {
		var first, firstNode string
		for node, res := range byNode {
			if firstNode == "" {
				first, firstNode = res, node
				continue
			}
			if res != first {
				r.anomaly("divergent", "%s %s: %s says %q, %s says %q", s.f, s.key, firstNode, first, node, res)
				break
			}
		}
	}
	r.note("%d final reads compared across nodes", len(results))
	return *r
}

// logPatterns mark a node log line as a crash or a data race.
var logPatterns = []struct{ kind, pat string }{
	{"panic", "panic:"},
	{"data-race", "WARNING: DATA RACE"},
	{"fatal", "fatal error:"},
}

// Logs scans node logs for panics, data races and fatal runtime errors.
func Logs(paths []string) Result {
	r := newResult("logs")
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			r.unknown("%v", err)
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		line := 0
		for sc.Scan() {
			line++
			for _, lp := range logPatterns {
				if bytes.Contains(sc.Bytes(), []byte(lp.pat)) {
					r.anomaly(lp.kind, "%s:%d: %s", p, line, sc.Text())
				}
			}
		}
		f.Close()
	}
	r.note("%d logs scanned", len(paths))
	return *r
}

// Throughput fails a run in which too little happened: fewer than minRate
// successful operations a second on average over d.
func Throughput(ops []history.Op, d time.Duration, minRate float64) Result {
	r := newResult("throughput")
	ok := 0
	for _, op := range ops {
		if op.Type == history.Ok && op.Mode != history.ModeFinal {
			ok++
		}
	}
	rate := float64(ok) / d.Seconds()
	r.note("%d ok operations in %v: %.1f/s (minimum %.1f/s)", ok, d.Round(time.Second), rate, minRate)
	if d <= 0 || rate < minRate {
		r.anomaly("too-slow", "%.1f ok ops/s < %.1f", rate, minRate)
	}
	return *r
}

// Summary is a one-line description of a result.
func (r Result) Summary() string {
	if len(r.Anomalies) == 0 {
		return fmt.Sprintf("%s: %s", r.Name, r.Verdict)
	}
	keys := make([]string, 0, len(r.Anomalies))
	for k := range r.Anomalies {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := fmt.Sprintf("%s: %s", r.Name, r.Verdict)
	for _, k := range keys {
		s += fmt.Sprintf(" %s=%d", k, r.Anomalies[k])
	}
	return s
}
