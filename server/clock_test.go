package server

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestClockFile(t *testing.T) {
	real := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		file string
		want time.Time
		err  bool
	}{
		{"", real, false},
		{"offset=1h", real.Add(time.Hour), false},
		{"offset=-90s", real.Add(-90 * time.Second), false},
		// Ten seconds since the drift began, at half speed: five behind.
		{"offset=1s rate=0.5 since=" + strconv.FormatInt(real.Add(-10*time.Second).UnixNano(), 10), real.Add(-4 * time.Second), false},
		{"rate=2 since=" + strconv.FormatInt(real.Add(-10*time.Second).UnixNano(), 10), real.Add(10 * time.Second), false},
		{"offset=soon", time.Time{}, true},
		{"rate=0", time.Time{}, true},
		{"tz=UTC", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			st, err := parseClock(tt.file)
			if (err != nil) != tt.err {
				t.Fatalf("parseClock(%q) error %v, want error %v", tt.file, err, tt.err)
			}
			if err == nil && !st.at(real).Equal(tt.want) {
				t.Fatalf("reads %v, want %v", st.at(real), tt.want)
			}
		})
	}
}

func TestClockFileFollowsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	c := &clockFile{path: path}
	near := func(got, want time.Time) bool { d := got.Sub(want); return d > -time.Second && d < time.Second }
	if got := c.Now(); !near(got, time.Now()) || strings.Contains(got.String(), "m=") {
		t.Fatalf("no file: %v, want the time of day without a monotonic reading", got)
	}
	for _, step := range []struct {
		file   string
		offset time.Duration
	}{
		{"offset=48h", 48 * time.Hour}, // a jump forward
		{"offset=-1h", -time.Hour},     // and back
		{"offset=garbage", -time.Hour}, // a malformed file keeps the rules
	} {
		if err := os.WriteFile(path, []byte(step.file), 0o600); err != nil {
			t.Fatal(err)
		}
		c.checked = time.Time{} // look at the file now
		if got := c.Now(); !near(got, time.Now().Add(step.offset)) {
			t.Fatalf("after %q: %v, want %v from now", step.file, got, step.offset)
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	c.checked = time.Time{}
	if got := c.Now(); !near(got, time.Now()) {
		t.Fatalf("file removed: %v, want the real time", got)
	}
}

func TestUnsafeClockFileDrivesTheKnobs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	if err := os.WriteFile(path, []byte("offset=720h"), 0o600); err != nil {
		t.Fatal(err)
	}
	month := time.Now().Add(720 * time.Hour)
	injected := func() time.Time { return time.Unix(0, 0) }
	tests := []struct {
		name    string
		cfg     Config
		now     time.Time // zero: knobs().Now is nil
		certNow time.Time
	}{
		{"no flag", Config{}, time.Time{}, time.Time{}},
		{"flag", Config{UnsafeClockFile: path}, month, month},
		{"a test's clock wins", Config{UnsafeClockFile: path, Testing: &TestingKnobs{Now: injected}}, time.Unix(0, 0), month},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := tt.cfg.knobs()
			for _, c := range []struct {
				name string
				f    func() time.Time
				want time.Time
			}{{"Now", k.Now, tt.now}, {"CertNow", k.CertNow, tt.certNow}} {
				if c.want.IsZero() {
					if c.f != nil {
						t.Fatalf("%s is set", c.name)
					}
					continue
				}
				if d := c.f().Sub(c.want); d < -time.Minute || d > time.Minute {
					t.Fatalf("%s reads %v, want %v", c.name, c.f(), c.want)
				}
			}
		})
	}
}

func TestSteadyClockNeverHastensDatedWork(t *testing.T) {
	start := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	var wall, mono time.Time = start, start
	c := newSteadyClock(func() time.Time { return wall }, func() time.Time { return mono })
	hour := time.Hour
	tests := []struct {
		name      string
		run, jump time.Duration // time run since start; the time of day's error
		due, date time.Time
	}{
		{"in step", hour, 0, start.Add(hour), start.Add(hour)},
		{"jumped 30 days ahead: nothing comes due early", hour, 720 * hour, start.Add(hour), start.Add(721 * hour)},
		{"jumped back: no waiting period ends early", hour, -48 * hour, start.Add(-47 * hour), start.Add(hour)},
		{"running slow", 2 * hour, -hour, start.Add(hour), start.Add(2 * hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mono, wall = start.Add(tt.run), start.Add(tt.run+tt.jump)
			if got := c.Due(); !got.Equal(tt.due) {
				t.Errorf("Due() = %v, want %v", got, tt.due)
			}
			if got := c.Date(); !got.Equal(tt.date) {
				t.Errorf("Date() = %v, want %v", got, tt.date)
			}
		})
	}
}

func TestTimedWork(t *testing.T) {
	injected := func() time.Time { return time.Unix(0, 0) }
	cfg := Config{Testing: &TestingKnobs{Now: injected}}
	if date, due := cfg.timedWork(); !date().Equal(time.Unix(0, 0)) || !due().Equal(time.Unix(0, 0)) {
		t.Fatal("a test's clock is not used as is")
	}
	path := filepath.Join(t.TempDir(), "clock")
	cfg = Config{UnsafeClockFile: path}
	date, due := cfg.timedWork()
	if err := os.WriteFile(path, []byte("offset=720h"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := clockFiles.Load(path)
	cf := c.(*clockFile)
	cf.mu.Lock()
	cf.checked = time.Time{} // look at the file again now
	cf.mu.Unlock()
	if d := time.Until(due()); d > time.Minute {
		t.Fatalf("due reads %v ahead after the time of day jumped a month", d)
	}
	if d := time.Until(date()); d < 719*time.Hour {
		t.Fatalf("date reads %v ahead, want the jumped time of day", d)
	}
}
