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
// TestingKnobs.Now and CertNow drive (deletion and rotation dates, audit
// event times, join token and certificate expiry, TLS validity checks).
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
