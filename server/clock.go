package server

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A clockFile is the wall clock of a node under a test harness's clock
// faults (--unsafe-clock-file): the real time of day moved by an offset
// and running at a rate, both read from a file the harness rewrites, so
// that the time of day can jump forward or back and drift while the node
// runs. Its readings carry no monotonic clock reading, like a time of day
// read from a stepped OS clock: a deadline compared with it moves with
// the jumps. What it drives is every wall-clock reading of the node that
// TestingKnobs.Now and CertNow drive (deletion and rotation dates, TLS
// validity checks, certificate renewal) and more (clockFileNow: audit
// event times, join token expiry, the dates of issued certificates).
// The consistency tracker keeps the monotonic clock (docs/consistency.md),
// unless --unsafe-clock-freshness, the canary of the clock faults.
//
// The file holds "offset=<duration> rate=<factor> since=<unix ns>": the
// clock reads real + offset + (rate-1) * (real - since). A missing or
// empty file is the real clock; a malformed one keeps the last reading
// rules and is logged once per change.
type clockFile struct {
	path string

	mu      sync.Mutex
	checked time.Time // when the file was last looked at
	mod     time.Time // its modification time then
	size    int64
	st      clockState
	err     error
}

type clockState struct {
	offset time.Duration
	rate   float64 // 0 means 1
	since  time.Time
}

// clockFileNow is the clock file's time of day, or nil without one: what
// the harness's clock faults move besides the knobs' clocks (the cluster
// service's and the audit trail's). In-process tests move only the knobs.
func (c *Config) clockFileNow() func() time.Time {
	if c.UnsafeClockFile == "" {
		return nil
	}
	return clockFor(c.UnsafeClockFile)
}

// clockFiles shares one clock per path among the node's knobs() calls.
var clockFiles sync.Map

func clockFor(path string) func() time.Time {
	c, _ := clockFiles.LoadOrStore(path, &clockFile{path: path})
	return c.(*clockFile).Now
}

// Now is the clock's reading.
func (c *clockFile) Now() time.Time {
	real := time.Now()
	c.mu.Lock()
	if real.Sub(c.checked) >= 10*time.Millisecond || c.checked.IsZero() {
		c.checked = real
		c.reload()
	}
	st := c.st
	c.mu.Unlock()
	return st.at(real)
}

// at is the reading at real time real.
func (s clockState) at(real time.Time) time.Time {
	t := real.Add(s.offset)
	if s.rate != 0 && s.rate != 1 && !s.since.IsZero() {
		t = t.Add(time.Duration(float64(real.Sub(s.since)) * (s.rate - 1)))
	}
	return t.Round(0) // a time of day: no monotonic reading
}

// reload reads the file if it changed.
func (c *clockFile) reload() {
	fi, err := os.Stat(c.path)
	if err != nil {
		c.st, c.mod, c.size = clockState{}, time.Time{}, 0
		return
	}
	if fi.ModTime().Equal(c.mod) && fi.Size() == c.size {
		return
	}
	c.mod, c.size = fi.ModTime(), fi.Size()
	b, err := os.ReadFile(c.path)
	if err == nil {
		var st clockState
		if st, err = parseClock(string(b)); err == nil {
			c.st, c.err = st, nil
			return
		}
	}
	if c.err == nil || c.err.Error() != err.Error() {
		fmt.Fprintf(os.Stderr, "unsafe clock file %s: %v (keeping the last reading rules)\n", c.path, err)
	}
	c.err = err
}

// parseClock decodes "offset=1s rate=1.5 since=<unix ns>" (each optional).
func parseClock(s string) (clockState, error) {
	var st clockState
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return st, fmt.Errorf("%q is not key=value", f)
		}
		var err error
		switch k {
		case "offset":
			st.offset, err = time.ParseDuration(v)
		case "rate":
			st.rate, err = strconv.ParseFloat(v, 64)
			if err == nil && st.rate <= 0 {
				err = fmt.Errorf("rate %v must be positive", st.rate)
			}
		case "since":
			var ns int64
			ns, err = strconv.ParseInt(v, 10, 64)
			st.since = time.Unix(0, ns)
		default:
			err = fmt.Errorf("unknown field %q", k)
		}
		if err != nil {
			return clockState{}, err
		}
	}
	return st, nil
}

// A steadyClock dates the node's timed work (deletions and rotations that
// come due, the dates proposers put in commands) so that a jump of the
// time of day cannot make anything happen early. It follows the time of
// day, but also measures on the monotonic clock how long the node has
// run: Due never runs ahead of the time of day at start plus the time
// run (a jump forward cannot make a deletion due early), and Date never
// falls behind it (a jump back cannot date a deletion's end early). Both
// err on the late side: a clock set right while the node runs delays
// dated work until it restarts, never hastens it. The time of day at
// start is trusted: start nodes with a synchronized clock.
type steadyClock struct {
	now   func() time.Time // the time of day
	mono  func() time.Time // a monotonic clock (time.Now)
	wall0 time.Time
	mono0 time.Time
}

func newSteadyClock(now, mono func() time.Time) *steadyClock {
	return &steadyClock{now: now, mono: mono, wall0: now(), mono0: mono()}
}

// run is the time of day at start plus the time run since.
func (c *steadyClock) run() time.Time { return c.wall0.Add(c.mono().Sub(c.mono0)) }

// Due is the clock against which work comes due: the earlier reading.
func (c *steadyClock) Due() time.Time {
	t, r := c.now(), c.run()
	if t.Before(r) {
		return t
	}
	return r
}

// Date is the clock from which a proposer dates the end of a waiting
// period: the later reading.
func (c *steadyClock) Date() time.Time {
	t, r := c.now(), c.run()
	if t.After(r) {
		return t
	}
	return r
}

// timedWork returns the clocks of the KMS service (date) and of the
// leader's lifecycle passes (due): a steadyClock over the node's time of
// day, unless a test injects its own clock (TestingKnobs.Now), which
// then moves days ahead at will.
func (c *Config) timedWork() (date, due func() time.Time) {
	k := c.knobs()
	if c.Testing != nil && c.Testing.Now != nil {
		return k.Now, k.Now
	}
	now := k.Now
	if now == nil {
		now = time.Now
	}
	s := newSteadyClock(now, time.Now)
	return s.Date, s.Due
}
