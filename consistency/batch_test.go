package consistency

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// exchange is one read index call to a leader the test answers.
type exchange struct {
	reply chan uint64
	fail  chan error
}

// leader is a fake leader whose every read index call waits until the
// test answers it.
type leader struct {
	calls chan exchange
	mu    sync.Mutex
	n     int
}

func newLeader() *leader { return &leader{calls: make(chan exchange)} }

func (l *leader) ReadIndex(ctx context.Context) (uint64, error) {
	l.mu.Lock()
	l.n++
	l.mu.Unlock()
	x := exchange{reply: make(chan uint64, 1), fail: make(chan error, 1)}
	select {
	case l.calls <- x:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case idx := <-x.reply:
		return idx, nil
	case err := <-x.fail:
		return 0, err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (l *leader) count() int { l.mu.Lock(); defer l.mu.Unlock(); return l.n }

// next returns the leader's next read index call.
func (l *leader) next(t *testing.T) exchange {
	t.Helper()
	select {
	case x := <-l.calls:
		return x
	case <-time.After(10 * time.Second):
		t.Fatal("no read index call reached the leader")
		return exchange{}
	}
}

// read is one linearizable read's outcome.
type read struct {
	s   Served
	err error
}

func linearizable(tr *Tracker) <-chan read {
	done := make(chan read, 1)
	go func() {
		s, err := tr.Admit(context.Background(), Request{Mode: Linearizable})
		done <- read{s, err}
	}()
	return done
}

// pending returns how many callers wait on a refresh, started or queued.
func (t *Tracker) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	if t.flight != nil {
		n += t.flight.waiters
	}
	if t.next != nil {
		n += t.next.waiters
	}
	return n
}

// waitPending returns once n callers wait on a refresh, polling (without
// sleeping) up to a deadline.
func waitPending(t *testing.T, tr *Tracker, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for tr.pending() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d callers wait on a refresh, want %d", tr.pending(), n)
		}
		runtime.Gosched()
	}
}

func newBatchFixture(t *testing.T) (*fixture, *leader) {
	t.Helper()
	l := newLeader()
	f := newFixture(t, func(c *Config) { c.Reads = l; c.HedgeAfter = time.Hour })
	return f, l
}

// overlapping starts a linearizable read and, while its read index
// exchange x1 is in flight, a second one a millisecond later (after, say,
// a write committed at index 9 was acknowledged).
func overlapping(t *testing.T) (f *fixture, l *leader, first, second <-chan read, x1 exchange) {
	t.Helper()
	f, l = newBatchFixture(t)
	first = linearizable(f.tr)
	x1 = l.next(t)
	f.clock.Advance(time.Millisecond)
	second = linearizable(f.tr)
	waitPending(t, f.tr, 2)
	return f, l, first, second, x1
}

// A read that arrives while a read index exchange is in flight is not
// served by it: the exchange may have begun before the read did, so its
// index may miss a write acknowledged just before the read. The read
// waits for the next exchange, which starts once the first one ends.
func TestAReadArrivingDuringAnExchangeWaitsForTheNext(t *testing.T) {
	f, l, first, second, x1 := overlapping(t)
	x1.reply <- 5 // the leader's index when the first exchange reached it
	if r := <-first; r.err != nil || r.s.AppliedIndex != 5 {
		t.Fatalf("first read: %+v, %v", r.s, r.err)
	}
	select {
	case r := <-second:
		t.Fatalf("the second read was served by the exchange in flight when it arrived: %+v, %v", r.s, r.err)
	case x2 := <-l.calls:
		x2.reply <- 9
	}
	f.store.apply(9)
	if r := <-second; r.err != nil || r.s.AppliedIndex != 9 {
		t.Fatalf("second read: %+v, %v; want served at index 9", r.s, r.err)
	}
	if n := l.count(); n != 2 {
		t.Fatalf("%d read index calls, want 2", n)
	}
}

// Concurrent linearizable reads share exchanges: however many arrive while
// one is in flight, they cost one more, so n reads cost at most two.
func TestConcurrentLinearizableReadsCostAtMostTwoExchanges(t *testing.T) {
	for _, n := range []int{2, 32, 256} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			f, l := newBatchFixture(t)
			first := linearizable(f.tr)
			x1 := l.next(t)
			f.clock.Advance(time.Millisecond)
			rest := make([]<-chan read, n-1)
			for i := range rest {
				rest[i] = linearizable(f.tr)
			}
			waitPending(t, f.tr, n)
			if c := l.count(); c != 1 {
				t.Fatalf("%d read index calls while the first is in flight, want 1", c)
			}
			x1.reply <- 5
			if r := <-first; r.err != nil {
				t.Fatal(r.err)
			}
			l.next(t).reply <- 7
			f.store.apply(7)
			for _, done := range rest {
				if r := <-done; r.err != nil || r.s.AppliedIndex != 7 {
					t.Fatalf("served %+v, %v; want index 7", r.s, r.err)
				}
			}
			if c := l.count(); c != 2 {
				t.Fatalf("%d reads made %d read index calls, want 2", n, c)
			}
		})
	}
}

// A failed exchange fails the reads it serves and still starts the one
// queued behind it.
func TestAFailedExchangeStillStartsTheQueuedOne(t *testing.T) {
	f, l, first, second, x1 := overlapping(t)
	x1.fail <- errors.New("leadership lost")
	if r := <-first; r.err == nil {
		t.Fatalf("first read served %+v by a failed exchange", r.s)
	}
	x2 := l.next(t)
	x2.reply <- 6
	f.store.apply(6)
	if r := <-second; r.err != nil || r.s.AppliedIndex != 6 {
		t.Fatalf("second read: %+v, %v", r.s, r.err)
	}
}

// An exchange that does not end (a leader gone silent) holds the reads
// queued behind it for HedgeAfter, not for its timeout: then the queued
// refresh starts anyway, and still after every read it serves began.
func TestAStuckExchangeDoesNotHoldBackTheNext(t *testing.T) {
	l := newLeader()
	f := newFixture(t, func(c *Config) { c.Reads = l; c.HedgeAfter = time.Nanosecond })
	first := linearizable(f.tr)
	stuck := l.next(t)
	f.clock.Advance(time.Millisecond)
	second := linearizable(f.tr)
	l.next(t).reply <- 9 // the hedge, while the first exchange is still in flight
	f.store.apply(9)
	if r := <-second; r.err != nil || r.s.AppliedIndex != 9 {
		t.Fatalf("second read: %+v, %v", r.s, r.err)
	}
	stuck.reply <- 5
	if r := <-first; r.err != nil {
		t.Fatal(r.err)
	}
}
