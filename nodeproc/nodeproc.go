// Package nodeproc supervises node processes started from the outside, as
// `trent dev cluster` and the jepsen harness do: start the binary in its
// own process group with its output appended to a log, wait until the log
// says it serves, signal it by PID, and stop a set of them in order.
//
// It knows nothing of the cluster the nodes form; callers join them and
// ask them questions through the public API.
package nodeproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// servingLine is what a node logs once its listener serves (server.Run).
const servingLine = "is serving on"

// ErrExited is returned by WaitServing when the process exited first.
var ErrExited = errors.New("nodeproc: exited during start")

// ErrNotServing is returned by WaitServing when the process did not serve
// in time.
var ErrNotServing = errors.New("nodeproc: not serving yet")

// A Process is one started node process.
type Process struct {
	pid     int
	logPath string
	from    int64         // the log's size before the start
	exited  chan struct{} // closed when the process has exited

	mu  sync.Mutex
	err error // cmd.Wait's result, set before exited closes
}

// Start starts cmd in its own process group (a Ctrl-C reaches the caller,
// which stops the nodes itself) with its output appended to logPath,
// after header if not empty. The process's exit is watched from then on.
func Start(cmd *exec.Cmd, logPath, header string) (*Process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	from, err := logf.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	if header != "" {
		if _, err := io.WriteString(logf, header); err != nil {
			return nil, err
		}
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{pid: cmd.Process.Pid, logPath: logPath, from: from, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.exited)
	}()
	return p, nil
}

// PID is the process id.
func (p *Process) PID() int { return p.pid }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is the process's exit status once Exited is closed (nil before,
// and after a clean exit).
func (p *Process) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Running says whether the process has not exited (a stopped one counts).
func (p *Process) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Signal sends sig to the process unless it has exited; it reports
// whether it sent it.
func (p *Process) Signal(sig syscall.Signal) (bool, error) {
	if !p.Running() {
		return false, nil
	}
	return true, syscall.Kill(p.pid, sig)
}

// Wait waits up to d for the process to exit and reports whether it did.
func (p *Process) Wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return true
	case <-t.C:
		return false
	}
}

// WaitServing waits until the process's log, since Start, says it serves.
// It returns an error wrapping ErrExited if the process exits first (and
// wrapping its exit error, an *exec.ExitError for a non-zero status, if
// there is one), ErrNotServing if d passes, or ctx's error.
func (p *Process) WaitServing(ctx context.Context, d time.Duration) error {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if p.serving() {
			return nil
		}
		select {
		case <-p.exited:
			if p.serving() {
				return nil
			}
			err := p.Err()
			if err == nil { // it exited with status 0: no exit error to wrap
				return fmt.Errorf("%w (%v)", ErrExited, err)
			}
			return fmt.Errorf("%w (%w)", ErrExited, err)
		case <-deadline.C:
			return fmt.Errorf("%w after %v", ErrNotServing, d)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (p *Process) serving() bool {
	b, _ := os.ReadFile(p.logPath)
	return int64(len(b)) > p.from && bytes.Contains(b[p.from:], []byte(servingLine))
}

// LogTail returns the last n lines the process logged since Start.
func (p *Process) LogTail(n int) string {
	b, _ := os.ReadFile(p.logPath)
	if int64(len(b)) > p.from {
		b = b[p.from:]
	}
	return lastLines(b, n)
}

// lastLines returns the last n lines of b.
func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// StopAll stops the processes together: SIGCONT (a paused node must run
// to handle the next signal) and SIGTERM to each, then, one by one, up to
// grace for it to exit, SIGKILL if it did not, and up to grace again.
// Nil entries are skipped.
func StopAll(procs []*Process, grace time.Duration) {
	for _, p := range procs {
		if p != nil {
			_, _ = p.Signal(syscall.SIGCONT)
			_, _ = p.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range procs {
		if p != nil && !p.Wait(grace) {
			_, _ = p.Signal(syscall.SIGKILL)
			p.Wait(grace)
		}
	}
}
