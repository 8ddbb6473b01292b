package raft

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/trentkms/trent/fsm"
)

// fakeQuorum stands in for confirmRead: each run reports itself on
// started and returns what the test sends on its answer channel.
type fakeQuorum struct {
	started chan chan outcome
	mu      sync.Mutex
	runs    int
}

type outcome struct {
	idx uint64
	err error
}

func (q *fakeQuorum) confirm() (uint64, error) {
	q.mu.Lock()
	q.runs++
	q.mu.Unlock()
	answer := make(chan outcome)
	q.started <- answer
	o := <-answer
	return o.idx, o.err
}

func (q *fakeQuorum) count() int { q.mu.Lock(); defer q.mu.Unlock(); return q.runs }

func (q *fakeQuorum) next(t *testing.T) chan outcome {
	t.Helper()
	select {
	case a := <-q.started:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no confirmation started")
		return nil
	}
}

func ask(s *sharedConfirm) <-chan outcome {
	done := make(chan outcome, 1)
	go func() {
		idx, err := s.do(context.Background())
		done <- outcome{idx, err}
	}()
	return done
}

// queued returns once n requests wait for the next confirmation, polling
// (without sleeping) up to a deadline.
func queued(t *testing.T, s *sharedConfirm, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		got := 0
		if s.next != nil {
			got = s.next.waiters
		}
		s.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", got, n)
		}
		runtime.Gosched()
	}
}

// Requests that arrive while a confirmation runs are answered by the next
// one, never by the one running: it noted its commit index before they
// arrived. However many they are, they cost one more confirmation.
func TestReadIndexRequestsShareTheNextConfirmation(t *testing.T) {
	for _, n := range []int{1, 3, 64} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			q := &fakeQuorum{started: make(chan chan outcome)}
			s := &sharedConfirm{confirm: q.confirm}
			first := ask(s)
			run1 := q.next(t)
			later := make([]<-chan outcome, n)
			for i := range later {
				later[i] = ask(s)
			}
			queued(t, s, n)
			run1 <- outcome{idx: 5}
			if o := within(t, "the first answer", first); o.err != nil || o.idx != 5 {
				t.Fatalf("first request: %+v", o)
			}
			run2 := q.next(t)
			for _, done := range later {
				select {
				case o := <-done:
					t.Fatalf("a request was answered %+v before the confirmation that started after it ended", o)
				default:
				}
			}
			run2 <- outcome{idx: 9}
			for _, done := range later {
				if o := within(t, "a later answer", done); o.err != nil || o.idx != 9 {
					t.Fatalf("later request: %+v, want index 9", o)
				}
			}
			if c := q.count(); c != 2 {
				t.Fatalf("%d confirmations for %d requests, want 2", c, n+1)
			}
			// Idle again: the next request starts a confirmation at once.
			again := ask(s)
			q.next(t) <- outcome{err: ErrNotLeader}
			if o := within(t, "the answer after a lost leadership", again); !errors.Is(o.err, ErrNotLeader) {
				t.Fatalf("after a lost leadership: %+v", o)
			}
		})
	}
}

// A request whose context ends stops waiting; the confirmation goes on
// for the others.
func TestReadIndexRequestGivesUpWithItsContext(t *testing.T) {
	q := &fakeQuorum{started: make(chan chan outcome)}
	s := &sharedConfirm{confirm: q.confirm}
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { _, err := s.do(ctx); gaveUp <- err }()
	run := q.next(t)
	other := ask(s)
	queued(t, s, 1)
	cancel()
	if err := within(t, "the request that gave up", gaveUp); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	run <- outcome{idx: 3}
	q.next(t) <- outcome{idx: 4}
	if o := within(t, "the other answer", other); o.idx != 4 {
		t.Fatalf("other request: %+v", o)
	}
}

// A node that no longer leads, in the term whose entry it committed as
// leader (it lost its lease: the term is unchanged), refuses a read
// index as not the leader and probes no one: its probes would make the
// followers take it for their leader for a while.
func TestConfirmReadRefusesOnANodeThatSteppedDown(t *testing.T) {
	n, err := Open(Config{NodeID: "n1", Dir: t.TempDir(), BindAddr: "127.0.0.1:0", FSM: fsmMachine{fsm.New()}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if n.raft.State() == hraft.Leader {
		t.Fatal("a node with no configuration leads")
	}
	n.readyTerm.Store(n.raft.CurrentTerm()) // the term's entry was committed while it led
	if _, err := n.confirmRead(); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("confirmRead on a follower: %v, want ErrNotLeader", err)
	}
	n.probe.mu.Lock()
	defer n.probe.mu.Unlock()
	if len(n.probe.busy) != 0 {
		t.Fatalf("probes in flight to %v from a follower", n.probe.busy)
	}
}

// within receives from ch, failing the test if nothing comes within
// outcomeWithin: a bug must fail it, not hang the package.
func within[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(outcomeWithin):
		t.Fatalf("no %s within %v", what, outcomeWithin)
		panic("unreachable")
	}
}
