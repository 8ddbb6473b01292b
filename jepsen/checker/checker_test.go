package checker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/trentkms/trent/jepsen/history"
)

const ms = int64(time.Millisecond)

// op builds a history operation from milliseconds.
func op(proc int, f, key, value, result, typ, mode string, call, ret int64, applied uint64) history.Op {
	return history.Op{Process: proc, F: f, Key: key, Value: value, Result: result, Type: typ, Mode: mode,
		Call: call * ms, Return: ret * ms, Applied: applied, Node: "n1", ServedBy: "n1"}
}

func TestLinearizable(t *testing.T) {
	ok, info, fail := history.Ok, history.Info, history.Fail
	w, tok, lin := history.ModeWrite, history.ModeToken, history.ModeLinearizable
	tests := []struct {
		name string
		ops  []history.Op
		want Verdict
	}{
		{"create then token use sees it", []history.Op{
			op(0, FCreateGrant, "k1", "g1", "id1", ok, w, 0, 10, 5),
			op(1, FUseToken, "k1", "g1", ResultTrue, ok, tok, 20, 30, 6),
			op(1, FListGrants, "k1", "", "g1", ok, lin, 31, 40, 6),
		}, Valid},
		{"token use after acknowledged revoke succeeds", []history.Op{
			op(0, FCreateGrant, "k1", "g1", "id1", ok, w, 0, 10, 5),
			op(0, FRevokeGrant, "k1", "g1", ResultFound, ok, w, 11, 20, 6),
			op(1, FUseToken, "k1", "g1", ResultTrue, ok, tok, 21, 30, 6),
		}, Invalid},
		{"concurrent revoke may be seen either way", []history.Op{
			op(0, FCreateGrant, "k1", "g1", "id1", ok, w, 0, 10, 5),
			op(0, FRevokeGrant, "k1", "g1", ResultFound, ok, w, 11, 40, 6),
			op(1, FUseToken, "k1", "g1", ResultTrue, ok, tok, 21, 30, 6),
			op(2, FUseToken, "k1", "g1", ResultFalse, ok, tok, 22, 31, 6),
		}, Valid},
		{"info create may take effect late", []history.Op{
			op(0, FCreateGrant, "k1", "g1", "", info, w, 0, 10, 0),
			op(1, FListGrants, "k1", "", "", ok, lin, 20, 30, 6),
			op(1, FListGrants, "k1", "", "g1", ok, lin, 40, 50, 7),
		}, Valid},
		{"info create seen then unseen is not linearizable", []history.Op{
			op(0, FCreateGrant, "k1", "g1", "", info, w, 0, 10, 0),
			op(1, FListGrants, "k1", "", "g1", ok, lin, 20, 30, 6),
			op(1, FListGrants, "k1", "", "", ok, lin, 40, 50, 7),
		}, Invalid},
		{"a timed-out create applies after its retry's grant was revoked", []history.Op{
			op(0, FCreateGrant, "k1", "g1", "", info, w, 0, 100, 0),
			op(0, FCreateGrant, "k1", "g1", "id1", ok, w, 100, 110, 5),
			op(0, FRevokeGrant, "k1", "g1", ResultFound, ok, w, 111, 120, 6),
			op(1, FListGrants, "k1", "", "", ok, lin, 121, 130, 6),
			op(1, FListGrants, "k1", "", "g1", ok, lin, 200, 210, 8),
			op(1, FUseToken, "k1", "g1", ResultFalse, ok, tok, 220, 230, 8), // id1's token: revoked
		}, Valid},
		{"failed create never happened", []history.Op{
			op(0, FCreateGrant, "k1", "g1", "", fail, w, 0, 10, 0),
			op(1, FListGrants, "k1", "", "", ok, lin, 20, 30, 6),
		}, Valid},
		{"lost create: list after ack misses it", []history.Op{
			op(0, FCreateGrant, "k1", "g1", "id1", ok, w, 0, 10, 5),
			op(1, FListGrants, "k1", "", "", ok, lin, 20, 30, 6),
		}, Invalid},
		{"bounded reads are not checked", []history.Op{
			op(0, FDisable, "k1", "", "", ok, w, 0, 10, 5),
			op(1, FDescribe, "k1", "", ResultEnabled, ok, history.ModeBounded, 20, 30, 4),
		}, Valid},
		{"stale linearizable describe", []history.Op{
			op(0, FDisable, "k1", "", "", ok, w, 0, 10, 5),
			op(1, FDescribe, "k1", "", ResultEnabled, ok, lin, 20, 30, 4),
		}, Invalid},
		{"stale linearizable description", []history.Op{
			op(0, FSetDesc, "k1", "d1", "", ok, w, 0, 10, 5),
			op(1, FDescribe, "k1", "", DescribeResult(true, InitialDescription), ok, lin, 20, 30, 4),
		}, Invalid},
		{"description then state", []history.Op{
			op(0, FSetDesc, "k1", "d1", "", ok, w, 0, 10, 5),
			op(0, FDisable, "k1", "", "", info, w, 11, 20, 0),
			op(1, FDescribe, "k1", "", DescribeResult(true, "d1"), ok, lin, 21, 30, 6),
			op(1, FDescribe, "k1", "", DescribeResult(false, "d1"), ok, lin, 31, 40, 6),
		}, Valid},
		{"keys are independent", []history.Op{
			op(0, FDisable, "k1", "", "", ok, w, 0, 10, 5),
			op(1, FDescribe, "k2", "", ResultEnabled, ok, lin, 20, 30, 6),
			op(1, FDescribe, "k1", "", ResultDisabled, ok, lin, 31, 40, 6),
		}, Valid},
		{"revoke misses an acknowledged grant", []history.Op{
			op(0, FCreateGrant, "k1", "g1", "id1", ok, w, 0, 10, 5),
			op(1, FRevokeGrant, "k1", "g1", ResultNotFound, ok, w, 11, 20, 0),
		}, Invalid},
		{"revoke of a missing grant", []history.Op{
			op(0, FRevokeGrant, "k1", "g9", ResultNotFound, ok, w, 0, 10, 0),
			op(0, FRevokeGrant, "k1", "g9", ResultFound, ok, w, 11, 20, 0),
		}, Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			viz := filepath.Join(t.TempDir(), "p.html")
			r := Linearizable(tt.ops, 10*time.Second, viz)
			if r.Verdict != tt.want {
				t.Fatalf("verdict %s, want %s: %+v", r.Verdict, tt.want, r)
			}
			if st, err := os.Stat(viz); err != nil || st.Size() == 0 {
				t.Fatalf("no visualization: %v", err)
			}
		})
	}
}

func TestStaleness(t *testing.T) {
	ok := history.Ok
	w, b, lin := history.ModeWrite, history.ModeBounded, history.ModeLinearizable
	bounded := func(call int64, applied uint64, staleness string) history.Op {
		o := op(1, FDescribe, "k1", "", ResultEnabled, ok, b, call, call+5, applied)
		o.Staleness = staleness
		return o
	}
	tests := []struct {
		name string
		ops  []history.Op
		want Verdict
		kind string
	}{
		{"fresh enough", []history.Op{
			op(0, FDisable, "k1", "", "", ok, w, 0, 10, 7),
			bounded(500, 6, "20ms"), // within 1s of the ack: may be stale
			bounded(1200, 7, "20ms"),
		}, Valid, ""},
		{"stale beyond the bound", []history.Op{
			op(0, FDisable, "k1", "", "", ok, w, 0, 10, 7),
			bounded(1200, 6, "20ms"),
		}, Invalid, "stale-read"},
		{"reported bound above max", []history.Op{
			op(0, FDisable, "k1", "", "", ok, w, 0, 10, 7),
			bounded(1200, 7, "1.5s"),
		}, Invalid, "bound-exceeded"},
		{"stale linearizable read", []history.Op{
			op(0, FDisable, "k1", "", "", ok, w, 0, 10, 7),
			op(1, FDescribe, "k1", "", ResultEnabled, ok, lin, 20, 30, 6),
		}, Invalid, "stale-linearizable-read"},
		{"linearizable read served bounded", []history.Op{
			op(0, FDisable, "k1", "", "", ok, w, 0, 10, 7),
			func() history.Op {
				o := op(1, FDescribe, "k1", "", ResultDisabled, ok, lin, 20, 30, 7)
				o.Consistency = "bounded"
				return o
			}(),
		}, Invalid, "mode-downgraded"},
		{"no headers", []history.Op{
			op(0, FDisable, "k1", "", "", ok, w, 0, 10, 0),
			bounded(1200, 0, ""),
		}, Unknown, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Staleness(tt.ops, time.Second)
			if r.Verdict != tt.want || tt.kind != "" && r.Anomalies[tt.kind] == 0 {
				t.Fatalf("got %s %v, want %s %s", r.Verdict, r.Anomalies, tt.want, tt.kind)
			}
		})
	}
}

func TestDurability(t *testing.T) {
	ok, info := history.Ok, history.Info
	w, f := history.ModeWrite, history.ModeFinal
	base := []history.Op{
		op(0, FEncrypt, "k1", "p1", "Y3Q=", ok, w, 0, 10, 3),
		op(0, FCreateKey, "", "", "k2", ok, w, 0, 10, 4),
		op(0, FCreateGrant, "k1", "g1", "id1", ok, w, 0, 10, 5),
		op(0, FCreateGrant, "k1", "g2", "id2", ok, w, 0, 10, 6),
		op(0, FRevokeGrant, "k1", "g2", "", info, w, 11, 20, 0),
		op(0, FEncrypt, "k1", "p2", "", info, w, 11, 20, 0), // unknown: need not survive
	}
	tests := []struct {
		name  string
		final []history.Op
		want  Verdict
		kind  string
	}{
		{"all survive", []history.Op{
			op(9, FFinalDecrypt, "k1", "p1", "p1", ok, f, 100, 110, 9),
			op(9, FFinalDescribe, "k2", "", ResultEnabled, ok, f, 100, 110, 9),
			op(9, FFinalListGrants, "k1", "", "g1", ok, f, 100, 110, 9),
		}, Valid, ""},
		{"lost write: ciphertext does not decrypt", []history.Op{
			op(9, FFinalDecrypt, "k1", "p1", "", history.Fail, f, 100, 110, 9),
			op(9, FFinalDescribe, "k2", "", ResultEnabled, ok, f, 100, 110, 9),
			op(9, FFinalListGrants, "k1", "", "g1", ok, f, 100, 110, 9),
		}, Invalid, "lost-encrypt"},
		{"a rotation after the Encrypt lost its ciphertext", []history.Op{
			op(0, FRotate, "k1", "", "", ok, w, 11, 20, 7),
			op(9, FFinalDecrypt, "k1", "p1", "", history.Fail, f, 100, 110, 9),
			op(9, FFinalDescribe, "k2", "", ResultEnabled, ok, f, 100, 110, 9),
			op(9, FFinalListGrants, "k1", "", "g1", ok, f, 100, 110, 9),
		}, Invalid, "rotation-lost-ciphertext"},
		{"rotations before the end, all decrypt", []history.Op{
			op(0, FRotate, "k1", "", "", ok, w, 11, 20, 7),
			op(0, FRotate, "k1", "", "", info, w, 21, 30, 0),
			op(9, FFinalDecrypt, "k1", "p1", "p1", ok, f, 100, 110, 9),
			op(9, FFinalDescribe, "k2", "", ResultEnabled, ok, f, 100, 110, 9),
			op(9, FFinalListGrants, "k1", "", "g1", ok, f, 100, 110, 9),
		}, Valid, ""},
		{"lost key", []history.Op{
			op(9, FFinalDecrypt, "k1", "p1", "p1", ok, f, 100, 110, 9),
			op(9, FFinalListGrants, "k1", "", "g1", ok, f, 100, 110, 9),
		}, Invalid, "lost-key"},
		{"a revoke that found nothing does not excuse a lost grant", []history.Op{
			op(0, FRevokeGrant, "k1", "g1", ResultNotFound, ok, w, 11, 20, 0),
			op(9, FFinalDecrypt, "k1", "p1", "p1", ok, f, 100, 110, 9),
			op(9, FFinalDescribe, "k2", "", ResultEnabled, ok, f, 100, 110, 9),
			op(9, FFinalListGrants, "k1", "", "", ok, f, 100, 110, 9),
		}, Invalid, "lost-grant"},
		{"lost grant", []history.Op{
			op(9, FFinalDecrypt, "k1", "p1", "p1", ok, f, 100, 110, 9),
			op(9, FFinalDescribe, "k2", "", ResultEnabled, ok, f, 100, 110, 9),
			op(9, FFinalListGrants, "k1", "", "", ok, f, 100, 110, 9),
		}, Invalid, "lost-grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Durability(append(append([]history.Op(nil), base...), tt.final...))
			if r.Verdict != tt.want || tt.kind != "" && r.Anomalies[tt.kind] == 0 {
				t.Fatalf("got %s %v, want %s %s", r.Verdict, r.Anomalies, tt.want, tt.kind)
			}
		})
	}
}

func TestIdempotencyAndConvergence(t *testing.T) {
	f := history.ModeFinal
	list := func(node, result string) history.Op {
		o := op(9, FFinalListGrants, "k1", "", result, history.Ok, f, 100, 110, 9)
		o.Node = node
		return o
	}
	tests := []struct {
		name              string
		ops               []history.Op
		idem, convergence Verdict
	}{
		{"one grant per name, same everywhere", []history.Op{list("n1", "a,b"), list("n2", "a,b")}, Valid, Valid},
		{"duplicate grant", []history.Op{list("n1", "a,a,b"), list("n2", "a,a,b")}, Invalid, Valid},
		{"nodes disagree", []history.Op{list("n1", "a,b"), list("n2", "a")}, Valid, Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := Idempotency(tt.ops); r.Verdict != tt.idem {
				t.Errorf("idempotency %s, want %s", r.Verdict, tt.idem)
			}
			if r := Convergence(tt.ops); r.Verdict != tt.convergence {
				t.Errorf("convergence %s, want %s", r.Verdict, tt.convergence)
			}
		})
	}
}

func TestLogs(t *testing.T) {
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean.log")
	race := filepath.Join(dir, "race.log")
	if err := os.WriteFile(clean, []byte("level=INFO msg=started\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(race, []byte("ok\n==================\nWARNING: DATA RACE\nWrite at 0x00\npanic: boom\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := Logs([]string{clean}); r.Verdict != Valid {
		t.Fatalf("clean log: %+v", r)
	}
	r := Logs([]string{clean, race})
	if r.Verdict != Invalid || r.Anomalies["data-race"] != 1 || r.Anomalies["panic"] != 1 {
		t.Fatalf("race log: %+v", r)
	}
}

func TestThroughput(t *testing.T) {
	ops := []history.Op{op(0, FEncrypt, "k", "p", "c", history.Ok, history.ModeWrite, 0, 1, 1)}
	if r := Throughput(ops, time.Second, 1); r.Verdict != Valid {
		t.Fatalf("1 op/s: %+v", r)
	}
	if r := Throughput(ops, 10*time.Second, 1); r.Verdict != Invalid {
		t.Fatalf("0.1 op/s: %+v", r)
	}
	if r := Throughput(nil, 10*time.Second, 1); r.Verdict != Invalid {
		t.Fatalf("empty run: %+v", r)
	}
}

func TestCompose(t *testing.T) {
	v, a := Compose([]Result{{Name: "a", Verdict: Valid}, {Name: "b", Verdict: Unknown}, {Name: "c", Verdict: Invalid, Anomalies: map[string]int{"x": 2}}})
	if v != Invalid || a["c/x"] != 2 {
		t.Fatalf("got %s %v", v, a)
	}
}

func TestStaleValues(t *testing.T) {
	ok, info := history.Ok, history.Info
	w, b := history.ModeWrite, history.ModeBounded
	describe := func(call int64, result string) history.Op {
		return op(1, FDescribe, "k1", "", result, ok, b, call, call+5, 0)
	}
	tests := []struct {
		name string
		ops  []history.Op
		want Verdict
	}{
		{"old state within the bound", []history.Op{
			op(0, FDisable, "k1", "", "", ok, w, 0, 10, 7),
			describe(800, ResultEnabled),
		}, Valid},
		{"old state beyond the bound", []history.Op{
			op(0, FDisable, "k1", "", "", ok, w, 0, 10, 7),
			describe(1200, ResultEnabled),
		}, Invalid},
		{"new state", []history.Op{
			op(0, FDisable, "k1", "", "", ok, w, 0, 10, 7),
			describe(1200, ResultDisabled),
		}, Valid},
		{"state of a concurrent write", []history.Op{
			op(0, FDisable, "k1", "", "", ok, w, 0, 10, 7),
			op(0, FEnable, "k1", "", "", ok, w, 1195, 1300, 8),
			describe(1200, ResultEnabled),
		}, Valid},
		{"an indeterminate write may show late", []history.Op{
			op(0, FDisable, "k1", "", "", info, w, 0, 10, 0),
			describe(5000, ResultDisabled),
			describe(6000, ResultEnabled),
		}, Valid},
		{"a value never written", []history.Op{
			op(0, FDisable, "k1", "", "", ok, w, 0, 10, 7),
			op(0, FEnable, "k1", "", "", ok, w, 20, 30, 8),
			op(0, FDisable, "k1", "", "", ok, w, 40, 50, 9),
			describe(3000, ResultEnabled),
		}, Invalid},
		{"old description within the bound", []history.Op{
			op(0, FSetDesc, "k1", "d1", "", ok, w, 0, 10, 7),
			op(0, FSetDesc, "k1", "d2", "", ok, w, 20, 30, 8),
			describe(900, DescribeResult(true, "d1")),
		}, Valid},
		{"old description beyond the bound", []history.Op{
			op(0, FSetDesc, "k1", "d1", "", ok, w, 0, 10, 7),
			op(0, FSetDesc, "k1", "d2", "", ok, w, 20, 30, 8),
			describe(1100, DescribeResult(true, "d1")),
		}, Invalid},
		{"initial description beyond the bound", []history.Op{
			op(0, FSetDesc, "k1", "d1", "", ok, w, 0, 10, 7),
			describe(1100, DescribeResult(true, InitialDescription)),
		}, Invalid},
		{"other keys do not count", []history.Op{
			op(0, FDisable, "k2", "", "", ok, w, 0, 10, 7),
			describe(3000, ResultEnabled),
		}, Valid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := StaleValues(tt.ops, time.Second); r.Verdict != tt.want {
				t.Fatalf("got %s %v, want %s", r.Verdict, r.Witnesses, tt.want)
			}
		})
	}
}

func TestStaleGrants(t *testing.T) {
	ok, info := history.Ok, history.Info
	w, b := history.ModeWrite, history.ModeBounded
	list := func(call int64, names string) history.Op {
		return op(1, FListGrants, "k1", "", names, ok, b, call, call+5, 0)
	}
	use := func(call int64, result string) history.Op {
		return op(1, FUseNoToken, "k1", "", result, ok, b, call, call+5, 0)
	}
	created := op(0, FCreateGrant, "k1", "g1", "id1", ok, w, 0, 10, 5)
	revoked := op(0, FRevokeGrant, "k1", "g1", ResultFound, ok, w, 20, 30, 6)
	tests := []struct {
		name string
		ops  []history.Op
		want Verdict
		kind string
	}{
		{"new grant missing within the bound", []history.Op{created, list(500, ""), use(600, ResultFalse)}, Valid, ""},
		{"new grant missing beyond the bound", []history.Op{created, list(1500, "")}, Invalid, "grant-missing"},
		{"use denied beyond the bound", []history.Op{created, use(1500, ResultFalse)}, Invalid, "grant-missing"},
		{"revoked grant listed beyond the bound", []history.Op{created, revoked, list(1500, "g1")}, Invalid, "revoked-grant-listed"},
		{"revoked grant used beyond the bound", []history.Op{created, revoked, use(1500, ResultTrue)}, Invalid, "revoked-grant-used"},
		{"revoked grant used within the bound", []history.Op{created, revoked, use(900, ResultTrue)}, Valid, ""},
		{"a revoke that found nothing revokes nothing", []history.Op{created,
			op(0, FRevokeGrant, "k1", "g1", ResultNotFound, ok, w, 20, 30, 6), use(1500, ResultTrue), list(1500, "g1")}, Valid, ""},
		{"a timed-out attempt may apply after the revoke of its retry", []history.Op{
			op(0, FCreateGrant, "k1", "g1", "", info, w, 0, 5, 0), created, revoked, list(1500, "g1"), use(1500, ResultTrue)}, Valid, ""},
		{"an indeterminate create may appear any time", []history.Op{
			op(0, FCreateGrant, "k1", "g2", "", info, w, 0, 10, 0), list(1500, ""), list(3000, "g2"), use(3000, ResultTrue)}, Valid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := StaleGrants(tt.ops, time.Second)
			if r.Verdict != tt.want || tt.kind != "" && r.Anomalies[tt.kind] == 0 {
				t.Fatalf("got %s %v, want %s %s", r.Verdict, r.Witnesses, tt.want, tt.kind)
			}
		})
	}
}

func TestVisualizationIsBounded(t *testing.T) {
	var ops []history.Op
	for i := int64(0); i < 8000; i++ {
		key := fmt.Sprintf("k%d", i%8)
		ops = append(ops, op(int(i%4), FDescribe, key, "", DescribeResult(true, InitialDescription), history.Ok, history.ModeLinearizable, 10*i, 10*i+5, 1))
	}
	viz := filepath.Join(t.TempDir(), "p.html")
	r := Linearizable(ops, 10*time.Second, viz)
	if r.Verdict != Valid {
		t.Fatalf("%+v", r)
	}
	// 8 partitions of 1000: the budget admits 3 of them.
	if !slices.Contains(r.Notes, "porcupine.html shows 3 of 8 partitions (3000 operations)") {
		t.Fatalf("notes %v", r.Notes)
	}
}

func TestAudit(t *testing.T) {
	ops := []history.Op{
		{ID: 1, F: "encrypt", Type: history.Ok, Node: "n1", RequestID: "r1"},
		{ID: 2, F: "encrypt", Type: history.Ok, Node: "n2", RequestID: "r2"},
		{ID: 3, F: "encrypt", Type: history.Fail, Node: "n1", RequestID: "r3"}, // refused: no record needed
		{ID: 4, F: "encrypt", Type: history.Ok, Node: "n3", RequestID: "r4"},   // n3 was wiped
	}
	trails := func(n1 map[string]bool, verify error) []Trail {
		return []Trail{
			{Node: "n1", RequestIDs: n1, Verify: verify},
			{Node: "n2", RequestIDs: map[string]bool{"r2": true}},
			{Node: "n3", RequestIDs: map[string]bool{}, Skip: "wiped"},
		}
	}
	for _, tc := range []struct {
		name   string
		trails []Trail
		want   Verdict
		kind   string
	}{
		{"every acknowledged call recorded", trails(map[string]bool{"r1": true}, nil), Valid, ""},
		{"an acknowledged call without its record", trails(map[string]bool{}, nil), Invalid, "unaudited"},
		{"a chain that does not verify", trails(map[string]bool{"r1": true}, errors.New("seq 7: prevHash mismatch")), Invalid, "broken-chain"},
		{"nothing to match", nil, Unknown, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Audit(ops, tc.trails)
			if r.Verdict != tc.want || tc.kind != "" && r.Anomalies[tc.kind] == 0 {
				t.Fatalf("got %s %v %v, want %s %s", r.Verdict, r.Anomalies, r.Witnesses, tc.want, tc.kind)
			}
		})
	}
}

func TestReadTrail(t *testing.T) {
	dir := t.TempDir()
	lines := `{"eventName":"Encrypt","requestID":"a","seq":1}` + "\n" + `{"eventName":"Decrypt","requestID":"b","seq":2}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "audit-00000000000000000001.jsonl"), []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	ids, err := ReadTrail(dir)
	if err != nil || !ids["a"] || !ids["b"] || len(ids) != 2 {
		t.Fatalf("ReadTrail = %v, %v", ids, err)
	}
}
