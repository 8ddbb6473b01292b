package nemesis

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// clocked is a fake cluster whose clocks the nemesis can move.
type clocked struct{ fake }

func (c *clocked) SetClock(i int, offset time.Duration, rate float64) error {
	c.log("clock %d %v %g", i, offset, rate)
	return nil
}

func TestClockFaults(t *testing.T) {
	tests := []struct {
		fault string
		start func(target int) []string
	}{
		{ClockForward, func(x int) []string { return []string{fmt.Sprintf("clock %d 10s 1", x)} }},
		{ClockBack, func(x int) []string { return []string{fmt.Sprintf("clock %d -10s 1", x)} }},
		{ClockBackCut, func(x int) []string { return []string{fmt.Sprintf("clock %d -10s 1", x), "partition"} }},
	}
	for _, tt := range tests {
		t.Run(tt.fault, func(t *testing.T) {
			c := &clocked{}
			n := New(c, c, []string{tt.fault}, Schedule{}, 2, func() int64 { return 0 }, func(string, ...any) {})
			targets, err := n.start(context.Background(), tt.fault)
			if err != nil || len(targets) != 1 {
				t.Fatalf("start = %v, %v", targets, err)
			}
			if tt.fault == ClockBackCut && targets[0] == 2 {
				t.Fatal("clock-back-cut cut the leader")
			}
			if err := n.Heal(context.Background()); err != nil {
				t.Fatal(err)
			}
			want := tt.start(targets[0])
			if tt.fault == ClockBackCut {
				want = append(want, "heal")
			}
			want = append(want, fmt.Sprintf("clock %d 0s 1", targets[0])) // set right
			if !reflect.DeepEqual(c.calls, want) {
				t.Fatalf("calls %v, want %v", c.calls, want)
			}
		})
	}
}

func TestClockDriftIsHalfOrDouble(t *testing.T) {
	rates := map[string]bool{}
	for seed := uint64(0); seed < 20; seed++ {
		c := &clocked{}
		n := New(c, c, []string{ClockDrift}, Schedule{}, seed, func() int64 { return 0 }, func(string, ...any) {})
		targets, err := n.start(context.Background(), ClockDrift)
		if err != nil {
			t.Fatal(err)
		}
		var i int
		var off string
		var rate float64
		if _, err := fmt.Sscanf(c.calls[0], "clock %d %s %g", &i, &off, &rate); err != nil || i != targets[0] || off != "0s" {
			t.Fatalf("call %q", c.calls[0])
		}
		rates[fmt.Sprint(rate)] = true
	}
	if !reflect.DeepEqual(rates, map[string]bool{"0.5": true, "2": true}) {
		t.Fatalf("rates %v", rates)
	}
}

func TestClockFaultsNeedClocks(t *testing.T) {
	f := &fake{}
	n := New(f, f, []string{ClockBack}, Schedule{}, 1, func() int64 { return 0 }, func(string, ...any) {})
	if _, err := n.start(context.Background(), ClockBack); err == nil {
		t.Fatal("no error without clock files")
	}
}
