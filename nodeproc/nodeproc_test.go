package nodeproc

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// sh starts a shell script as a node would run.
func sh(t *testing.T, logPath, script string) *Process {
	t.Helper()
	p, err := Start(exec.Command("sh", "-c", script), logPath, "=== start\n")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { StopAll([]*Process{p}, 5*time.Second) })
	return p
}

func TestServesThenStops(t *testing.T) {
	log := filepath.Join(t.TempDir(), "node.log")
	p := sh(t, log, "echo 'n1 is serving on 127.0.0.1:1'; exec sleep 60")
	if err := p.WaitServing(t.Context(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if p.PID() <= 0 || !p.Running() {
		t.Fatalf("pid %d, running %v", p.PID(), p.Running())
	}
	StopAll([]*Process{p, nil}, 5*time.Second)
	if p.Running() {
		t.Fatal("still running after StopAll")
	}
	if sent, err := p.Signal(syscall.SIGTERM); sent || err != nil {
		t.Fatalf("Signal after exit: sent %v, %v", sent, err)
	}
}

func TestExitDuringStart(t *testing.T) {
	log := filepath.Join(t.TempDir(), "node.log")
	p := sh(t, log, "echo 'bad flag'; exit 2")
	err := p.WaitServing(t.Context(), 10*time.Second)
	var exit *exec.ExitError
	if !errors.Is(err, ErrExited) || !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("WaitServing: %v, want ErrExited with the exit status", err)
	}
	if tail := p.LogTail(15); tail != "=== start\nbad flag" {
		t.Fatalf("LogTail: %q", tail)
	}
}

// A restart appends to the same log: the last run's serving line must not
// count for the new process.
func TestServingIsReadSinceStart(t *testing.T) {
	log := filepath.Join(t.TempDir(), "node.log")
	first := sh(t, log, "echo 'n1 is serving on 127.0.0.1:1'")
	<-first.Exited()
	second := sh(t, log, "exec sleep 60")
	err := second.WaitServing(t.Context(), 300*time.Millisecond)
	if !errors.Is(err, ErrNotServing) {
		t.Fatalf("WaitServing: %v, want ErrNotServing", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := second.WaitServing(ctx, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitServing with a cancelled context: %v", err)
	}
}

func TestLastLines(t *testing.T) {
	if got := lastLines([]byte("a\nb\nc\n"), 2); got != "b\nc" {
		t.Fatalf("lastLines: %q", got)
	}
	if got := lastLines([]byte("a"), 2); got != "a" {
		t.Fatalf("lastLines: %q", got)
	}
}
