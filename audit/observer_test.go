package audit_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/trentkms/trent/audit"
)

type writerReports struct {
	mu                     sync.Mutex
	records, groups, syncs int
	failures               int
}

func (w *writerReports) AuditCommitted(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.records += n
	w.groups++
}

func (w *writerReports) AuditSynced(time.Duration) { w.mu.Lock(); w.syncs++; w.mu.Unlock() }
func (w *writerReports) AuditFailed()              { w.mu.Lock(); w.failures++; w.mu.Unlock() }

// TestObserverSeesGroupsSyncsAndFailures: the observer is told of every
// record in its group commit, of each fsync, and of each group whose
// write failed (each tries the disk again).
func TestObserverSeesGroupsSyncsAndFailures(t *testing.T) {
	dir := t.TempDir()
	obs := &writerReports{}
	l, err := audit.Open(audit.Options{Dir: dir, NodeID: "node1", Region: "us-east-1", MaxFileBytes: 1,
		Now: fixedClock, Rand: &counterRand{}, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	if err := l.Record(ctx, encryptCall(0)); err != nil {
		t.Fatal(err)
	}
	if obs.records != 1 || obs.groups != 1 || obs.syncs < 1 || obs.failures != 0 {
		t.Fatalf("after one record: %+v", obs)
	}
	if l.QueueDepth() != 0 {
		t.Fatalf("queue depth %d after the writer answered", l.QueueDepth())
	}
	// The next rotation fails: its file's name is taken by a directory.
	if err := os.Mkdir(filepath.Join(dir, fmt.Sprintf("audit-%020d.jsonl", 2)), 0o700); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if err := l.Record(ctx, encryptCall(i)); err == nil {
			t.Fatal("a record that could not be written was acknowledged")
		}
	}
	if obs.records != 1 || obs.failures != 3 {
		t.Fatalf("after three failed writes: %+v, want 1 record and 3 failures", obs)
	}
}
