//go:build faultinject

package audit_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/trentkms/trent/audit"
	"github.com/trentkms/trent/failpoint"
)

// setPoints rewrites the failpoint control file (with a new mtime, so
// that a rewrite of the same size is seen).
func setPoints(t *testing.T, path, spec string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Duration(len(spec)+1) * time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
}

// A write or fsync that fails leaves nothing of its group in the file:
// without the cut, the failed group's records stay behind and the next
// group repeats their seqs, which forks the chain.
func TestFailedGroupIsCutAndTheLogRecovers(t *testing.T) {
	for _, point := range []string{"audit-fsync", "audit-write"} {
		t.Run(point, func(t *testing.T) {
			ctl := filepath.Join(t.TempDir(), "failpoints")
			t.Setenv(failpoint.Env, ctl)
			dir := t.TempDir()
			l := openLog(t, dir, 0)
			ctx := context.Background()
			if err := l.Record(ctx, encryptCall(0)); err != nil {
				t.Fatal(err)
			}
			setPoints(t, ctl, point+"=error\n")
			if err := l.Record(ctx, encryptCall(1)); err == nil {
				t.Fatal("a record whose write failed was acknowledged")
			}
			if l.Failing() == nil {
				t.Fatal("Failing is nil while writes fail")
			}
			setPoints(t, ctl, "")
			if err := l.Record(ctx, encryptCall(2)); err != nil {
				t.Fatalf("the log did not recover: %v", err)
			}
			l.Close()
			res, recs := readAll(t, dir)
			if res.Records != 2 || recs[1].Seq != 2 {
				t.Fatalf("got %+v, want 2 records", res)
			}
			// A reopened log continues the same chain.
			l = openLog(t, dir, 0)
			if err := l.Record(ctx, encryptCall(3)); err != nil {
				t.Fatal(err)
			}
			l.Close()
			if res, _ := readAll(t, dir); res.Records != 3 {
				t.Fatalf("after reopening: %+v", res)
			}
		})
	}
}

// The canary switch acknowledges a record that was not written: the
// harness's audit checker must find its call missing from the trail.
func TestCanaryAcknowledgesALostRecord(t *testing.T) {
	ctl := filepath.Join(t.TempDir(), "failpoints")
	t.Setenv(failpoint.Env, ctl)
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	setPoints(t, ctl, "audit-write=error\naudit-ack-on-error=on\n")
	if err := l.Record(context.Background(), encryptCall(0)); err != nil {
		t.Fatalf("the canary refused: %v", err)
	}
	l.Close()
	if res, _ := readAll(t, dir); res.Records != 0 {
		t.Fatalf("got %+v, want no record", res)
	}
}

// The crash canary's recovery loses the last acknowledged record and
// still leaves a chain that verifies: only matching the trail against the
// calls answered finds it.
func TestCanaryRecoveryDropsTheLastRecord(t *testing.T) {
	ctl := filepath.Join(t.TempDir(), "failpoints")
	t.Setenv(failpoint.Env, ctl)
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	for i := range 3 {
		if err := l.Record(context.Background(), encryptCall(i)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	setPoints(t, ctl, "audit-recover-drop-tail=on\n")
	l = openLog(t, dir, 0)
	if err := l.Record(context.Background(), encryptCall(3)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if res, _ := readAll(t, dir); res.Records != 3 {
		t.Fatalf("got %+v, want 3 records (one dropped, one added)", res)
	}
}

// A deferred fsync that fails (--audit-sync-interval) cannot be undone:
// records already acknowledged may be lost. The log says so through
// Failing, as readiness reports it, and every call it refuses from then
// on is an error line, not a debug line of a passing failure.
func TestFailedDeferredSyncIsReportedAndEveryRefusalLogged(t *testing.T) {
	ctl := filepath.Join(t.TempDir(), "failpoints")
	t.Setenv(failpoint.Env, ctl)
	lines := &logLines{}
	logger := slog.New(lines)
	l, err := audit.Open(audit.Options{Dir: t.TempDir(), NodeID: "node1", Region: "us-east-1", SyncInterval: time.Hour,
		Now: fixedClock, Rand: &counterRand{}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	if err := l.Record(ctx, encryptCall(0)); err != nil { // written, its fsync deferred
		t.Fatal(err)
	}
	setPoints(t, ctl, "audit-fsync=error\n")
	l.SetSyncInterval(0) // fsyncs what was written, which fails
	if l.Failing() == nil {
		t.Fatal("Failing is nil after a deferred fsync failed: readiness would say the node is ready")
	}
	setPoints(t, ctl, "")
	for i := 1; i <= 2; i++ {
		err := l.Record(ctx, encryptCall(i))
		if err == nil {
			t.Fatal("a record was acknowledged after a deferred fsync failed")
		}
		l.CallRefused(ctx, logger, err, "audit record not written", "op", "Encrypt")
	}
	want := []string{"ERROR audit log fsync failed; acknowledged records may be lost and calls will be refused",
		"ERROR audit record not written", "ERROR audit record not written"}
	if got := lines.take(); !slices.Equal(got, want) {
		t.Fatalf("the log got\n%q\nwant\n%q", got, want)
	}
}
