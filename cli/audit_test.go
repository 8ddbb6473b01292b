package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trentkms/trent/audit"
	"github.com/trentkms/trent/identity"
)

// writeAuditLog writes n records to DATA/audit and returns the data dir.
func writeAuditLog(t *testing.T, n int) string {
	t.Helper()
	data := t.TempDir()
	l, err := audit.Open(audit.Options{Dir: filepath.Join(data, "audit"), NodeID: "node1", Region: "us-east-1", MaxFileBytes: 3000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		c := &audit.Call{Source: audit.SourceKMS, Operation: fmt.Sprintf("Op%d", i), Principal: identity.RootPrincipal("111122223333")}
		if err := l.Record(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return data
}

func TestAuditVerify(t *testing.T) {
	t.Parallel()
	data := writeAuditLog(t, 12)
	files, _ := audit.Files(filepath.Join(data, "audit"))
	if len(files) < 2 {
		t.Fatalf("%d files; want rotation", len(files))
	}

	code, stdout, stderr := runTrent(t, nil, "--data-dir", data, "audit", "verify")
	var rep verifyReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != 0 || stderr != "" {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, stdout, stderr)
	}
	if !rep.Valid || rep.Records != 12 || rep.HeadSeq != 12 || len(rep.HeadHash) != 64 || rep.Files != len(files) {
		t.Fatalf("report %+v", rep)
	}

	// The same through explicit files, as text.
	code, stdout, _ = runTrent(t, nil, append([]string{"--output", "text", "audit", "verify"}, files...)...)
	if code != 0 || !strings.Contains(stdout, "checked 12 records") || !strings.Contains(stdout, "chain head: seq 12 hash "+rep.HeadHash) {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}

	// The head noted now is on the chain; cut the last record off and it
	// no longer is.
	head := fmt.Sprintf("%d:%s", rep.HeadSeq, rep.HeadHash)
	if code, stdout, _ := runTrent(t, nil, "--data-dir", data, "audit", "verify", "--expect-head", head); code != 0 {
		t.Fatalf("exit %d with the current head: %s", code, stdout)
	}
	last := files[len(files)-1]
	lb, _ := os.ReadFile(last)
	lastLines := bytes.SplitAfter(lb, []byte("\n"))
	os.WriteFile(last, bytes.Join(lastLines[:len(lastLines)-2], nil), 0o600)
	code, stdout, _ = runTrent(t, nil, "--data-dir", data, "audit", "verify", "--expect-head", head)
	rep = verifyReport{}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != exitError || rep.BrokenAt == nil ||
		!strings.Contains(rep.BrokenAt.Reason, "cut off the end") {
		t.Fatalf("exit %d after cutting the last record: %s", code, stdout)
	}
	os.WriteFile(last, lb, 0o600)

	// Delete the second line of the second file: the break is reported
	// with its position, and the exit code is 1.
	b, _ := os.ReadFile(files[1])
	lines := bytes.SplitAfter(b, []byte("\n"))
	os.WriteFile(files[1], bytes.Join(append(lines[:1:1], lines[2:]...), nil), 0o600)
	code, stdout, stderr = runTrent(t, nil, "audit", "verify", "--dir", filepath.Join(data, "audit"))
	rep = verifyReport{}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != exitError {
		t.Fatalf("exit %d, stdout %s", code, stdout)
	}
	if rep.Valid || rep.BrokenAt == nil || rep.BrokenAt.File != files[1] || rep.BrokenAt.Line != 2 ||
		!strings.Contains(rep.BrokenAt.Reason, "missing") || !strings.Contains(stderr, "audit chain broken at") {
		t.Fatalf("report %+v, stderr %s", rep, stderr)
	}
}

func TestAuditTail(t *testing.T) {
	t.Parallel()
	data := writeAuditLog(t, 12)
	code, stdout, stderr := runTrent(t, nil, "--data-dir", data, "audit", "tail", "-n", "5")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines:\n%s", len(lines), stdout)
	}
	for i, l := range lines {
		r, err := audit.ParseLine([]byte(l))
		if err != nil || r.EventName != fmt.Sprintf("Op%d", 7+i) {
			t.Fatalf("line %d: %v %+v", i, err, r)
		}
	}
	// More than there are: all of them.
	_, stdout, _ = runTrent(t, nil, "--data-dir", data, "audit", "tail", "-n", "100")
	if n := strings.Count(stdout, "\n"); n != 12 {
		t.Fatalf("%d lines, want 12", n)
	}
}

func TestAuditUsage(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	tests := []struct {
		args     []string
		code     int
		inStderr string
	}{
		{[]string{"audit", "frob"}, exitUsage, `unknown audit verb "frob"`},
		{[]string{"audit", "verify", "--dir", empty, "x.jsonl"}, exitUsage, "not both"},
		{[]string{"audit", "tail", "-n", "-1"}, exitUsage, "negative"},
		{[]string{"audit", "verify", "--expect-head", "nope"}, exitUsage, "SEQ:HASH"},
		{[]string{"audit", "tail", "--expect-head", "1:" + strings.Repeat("0", 64)}, exitUsage, "option of verify"},
		{[]string{"audit", "verify", "--dir", empty}, exitError, "no audit files"},
		{[]string{"audit", "verify", "--dir", filepath.Join(empty, "nope")}, exitError, "no such file"},
	}
	for _, tt := range tests {
		code, _, stderr := runTrent(t, nil, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.inStderr) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, tt.code, tt.inStderr)
		}
	}
	if code, stdout, _ := runTrent(t, nil, "audit", "help"); code != 0 || !strings.Contains(stdout, "verify [--dir DIR | FILE...]") {
		t.Errorf("help: %d %s", code, stdout)
	}
}
