//go:build faultinject

package raft

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trentkms/trent/failpoint"
	"github.com/trentkms/trent/fsm"
)

// A leader that cannot write its log refuses writes with a retryable
// error (an unknown outcome), says why, and takes writes again once its
// disk works, with nothing acknowledged lost.
func TestLogWriteFailureIsRetryableReportedAndHeals(t *testing.T) {
	ctl := filepath.Join(t.TempDir(), "failpoints")
	t.Setenv(failpoint.Env, ctl)
	dir := t.TempDir()
	f := fsm.New()
	n := openSingle(t, dir, f)
	defer n.Close()
	apply(t, n, createCmd(t, "k0"))
	if err := os.WriteFile(ctl, []byte("raft-log-append=error\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, _, err := n.Apply(ctx, createCmd(t, "k1"))
	cancel()
	if !errors.Is(err, ErrUnknownOutcome) && !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Apply with a failing log = %v, want a retryable error", err)
	}
	if n.StorageFailing() == nil {
		t.Fatal("StorageFailing is nil while the log cannot be written")
	}
	if err := os.Remove(ctl); err != nil {
		t.Fatal(err)
	}
	// The node stepped down; it elects itself again once it can vote.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _, err = n.Apply(ctx, createCmd(t, "k2"))
		cancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Apply after the disk healed: %v", err)
	}
	if err := n.StorageFailing(); err != nil {
		t.Fatalf("StorageFailing = %v after a write succeeded", err)
	}
	if f.KeyCount() != 2 {
		t.Fatalf("%d keys, want k0 and k2", f.KeyCount())
	}
}

// A term that cannot be saved for a moment stalls the node instead of
// crashing it (hashicorp/raft panics on a failed term write): once the
// disk works it is elected again and takes writes.
func TestTermWriteFailureStallsInsteadOfCrashing(t *testing.T) {
	ctl := filepath.Join(t.TempDir(), "failpoints")
	t.Setenv(failpoint.Env, ctl)
	f := fsm.New()
	n := openSingle(t, t.TempDir(), f)
	defer n.Close()
	apply(t, n, createCmd(t, "k0"))
	// The log write fails, so the leader steps down; its next election
	// must save a new term, which fails too for a while.
	if err := os.WriteFile(ctl, []byte("raft-log-append=error\nraft-stable-store=error\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, _, err := n.Apply(ctx, createCmd(t, "k1"))
	cancel()
	if err == nil {
		t.Fatal("a write was acknowledged while the log could not be written")
	}
	time.Sleep(500 * time.Millisecond) // an election or two run into the failing term write
	if err := os.Remove(ctl); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _, err = n.Apply(ctx, createCmd(t, "k2"))
		cancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Apply after the disk healed: %v", err)
	}
}
