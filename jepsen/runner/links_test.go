package runner

import (
	"reflect"
	"testing"

	"github.com/trentkms/trent/jepsen/checker"
	"github.com/trentkms/trent/jepsen/history"
	"github.com/trentkms/trent/jepsen/nemesis"
)

func TestSlowWindows(t *testing.T) {
	events := []history.Event{
		{Name: nemesis.KillOne, Targets: []string{"n1"}, Start: 1, End: 2},
		{Name: nemesis.SlowFollower, Targets: []string{"n3"}, Start: 3, End: 4},
		{Name: nemesis.Lossy, Targets: []string{"n1", "n2", "n3"}, Start: 5, End: 6},
	}
	want := []checker.Window{{Name: nemesis.SlowFollower, Start: 3, End: 4, Far: []string{"n3"}}, {Name: nemesis.Lossy, Start: 5, End: 6}}
	if got := slowWindows(events); !reflect.DeepEqual(got, want) {
		t.Fatalf("slowWindows = %+v, want %+v", got, want)
	}
}

func TestClockArgs(t *testing.T) {
	tests := []struct {
		name   string
		faults []string
		unsafe bool
		args   []string
		want   []string
		clocks bool
	}{
		{"no clock faults", []string{nemesis.KillOne}, true, []string{"--unsafe-skip-freshness"}, []string{"--unsafe-skip-freshness"}, false},
		{"clock faults", []string{nemesis.ClockBack}, false, []string{"--max-staleness", "1s"}, []string{"--max-staleness", "1s"}, true},
		{"their canary", []string{nemesis.ClockBack}, true, []string{"--max-staleness", "1s", "--unsafe-skip-freshness"},
			[]string{"--max-staleness", "1s", "--unsafe-clock-freshness"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, dir, err := clockArgs(Config{Dir: t.TempDir(), Unsafe: tt.unsafe}, tt.faults, tt.args)
			if err != nil || !reflect.DeepEqual(args, tt.want) || (dir != "") != tt.clocks {
				t.Fatalf("clockArgs = %v, %q, %v; want %v (clock dir %v)", args, dir, err, tt.want, tt.clocks)
			}
		})
	}
}
