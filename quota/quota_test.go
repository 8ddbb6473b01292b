package quota_test

import (
	"errors"
	"testing"
	"time"

	"github.com/trentkms/trent/quota"
)

// clock is a settable clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)} }
func allowed(q *quota.Limiter, acct, op string, n int) (ok int) {
	for range n {
		if q.Allow(acct, op) == nil {
			ok++
		}
	}
	return ok
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "", want: ""},
		{in: "CreateGrant=50", want: "CreateGrant=50"},
		{in: " cryptographic = 100 , Sign=0.5", want: "Sign=0.5,cryptographic=100"},
		{in: "Encrypt=0", want: "Encrypt=0"},
		{in: "CreateGrant", wantErr: true},
		{in: "CreateGrant=-1", wantErr: true},
		{in: "CreateGrant=fast", wantErr: true},
		{in: "CreateGrant=NaN", wantErr: true},
		{in: "CreateGrant=+Inf", wantErr: true},
		{in: "symmetric=5", wantErr: true},
		{in: "create-grant=5", wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			l, err := quota.Parse(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Parse(%q) = %v, want an error", tc.in, l)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := l.String(); got != tc.want {
				t.Errorf("Parse(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	t.Run("aws preset, overridden", func(t *testing.T) {
		l, err := quota.Parse("aws,CreateKey=50")
		if err != nil {
			t.Fatal(err)
		}
		if l["CreateKey"] != 50 || l["CreateGrant"] != 50 || l["cryptographic"] != 5500 || l["GetParametersForImport"] != 0.25 {
			t.Errorf("aws,CreateKey=50 = %v", l)
		}
	})
}

func TestAllow(t *testing.T) {
	t.Run("a bucket of one second, refilled at the rate", func(t *testing.T) {
		c := newClock()
		q := quota.New(quota.Limits{"CreateGrant": 10}, c.now)
		if got := allowed(q, "111122223333", "CreateGrant", 15); got != 10 {
			t.Fatalf("a burst of 15 admitted %d, want 10 (one second's worth)", got)
		}
		c.advance(300 * time.Millisecond)
		if got := allowed(q, "111122223333", "CreateGrant", 10); got != 3 {
			t.Fatalf("after 300ms at 10/s admitted %d, want 3", got)
		}
		c.advance(time.Hour)
		if got := allowed(q, "111122223333", "CreateGrant", 15); got != 10 {
			t.Fatalf("after an idle hour admitted %d, want 10 (the bucket holds one second)", got)
		}
	})
	t.Run("accounts are counted apart", func(t *testing.T) {
		q := quota.New(quota.Limits{"CreateKey": 2}, newClock().now)
		if a, b := allowed(q, "111122223333", "CreateKey", 5), allowed(q, "444455556666", "CreateKey", 5); a != 2 || b != 2 {
			t.Fatalf("admitted %d and %d, want 2 each", a, b)
		}
	})
	t.Run("a group is shared by its operations", func(t *testing.T) {
		q := quota.New(quota.Limits{"cryptographic": 4}, newClock().now)
		got := allowed(q, "111122223333", "Encrypt", 2) + allowed(q, "111122223333", "Decrypt", 2) + allowed(q, "111122223333", "GenerateDataKey", 2)
		if got != 4 {
			t.Fatalf("admitted %d across the group, want 4", got)
		}
	})
	t.Run("an operation's own quota wins over its group's", func(t *testing.T) {
		q := quota.New(quota.Limits{"cryptographic": 1, "Encrypt": 5}, newClock().now)
		if got := allowed(q, "111122223333", "Encrypt", 10); got != 5 {
			t.Fatalf("Encrypt admitted %d, want 5", got)
		}
		if got := allowed(q, "111122223333", "Decrypt", 10); got != 1 {
			t.Fatalf("Decrypt admitted %d, want 1: Encrypt must not use the group's", got)
		}
	})
	t.Run("unlisted operations, calls without an account", func(t *testing.T) {
		q := quota.New(quota.Limits{"CreateKey": 0}, newClock().now)
		if got := allowed(q, "111122223333", "DescribeKey", 100); got != 100 {
			t.Fatalf("an operation under no quota admitted %d of 100", got)
		}
		if got := allowed(q, "", "CreateKey", 100); got != 100 {
			t.Fatalf("a call without an account admitted %d of 100", got)
		}
	})
	t.Run("rate 0 refuses, sub-1 rates admit one", func(t *testing.T) {
		c := newClock()
		q := quota.New(quota.Limits{"CreateKey": 0, "GetParametersForImport": 0.25}, c.now)
		err := q.Allow("111122223333", "CreateKey")
		var th *quota.Throttled
		if !errors.As(err, &th) || th.Quota != "CreateKey" {
			t.Fatalf("rate 0: %v, want Throttled", err)
		}
		if got := allowed(q, "111122223333", "GetParametersForImport", 3); got != 1 {
			t.Fatalf("0.25/s admitted %d at once, want 1", got)
		}
		c.advance(2 * time.Second)
		if got := allowed(q, "111122223333", "GetParametersForImport", 3); got != 0 {
			t.Fatalf("0.25/s admitted %d after 2s, want 0", got)
		}
		c.advance(2 * time.Second)
		if got := allowed(q, "111122223333", "GetParametersForImport", 3); got != 1 {
			t.Fatalf("0.25/s admitted %d after 4s, want 1", got)
		}
	})
	t.Run("a clock stepping back refills nothing", func(t *testing.T) {
		c := newClock()
		q := quota.New(quota.Limits{"CreateKey": 1}, c.now)
		allowed(q, "111122223333", "CreateKey", 1)
		c.advance(-time.Hour)
		allowed(q, "111122223333", "CreateKey", 1)
		c.advance(time.Hour)
		if got := allowed(q, "111122223333", "CreateKey", 5); got != 0 {
			t.Fatalf("back at the first call's time, admitted %d, want 0", got)
		}
	})
	t.Run("Set keeps the buckets of unchanged quotas", func(t *testing.T) {
		q := quota.New(quota.Limits{"CreateKey": 2, "CreateAlias": 2}, newClock().now)
		allowed(q, "111122223333", "CreateKey", 2)
		allowed(q, "111122223333", "CreateAlias", 2)
		q.Set(quota.Limits{"CreateKey": 2, "CreateAlias": 3})
		if got := allowed(q, "111122223333", "CreateKey", 5); got != 0 {
			t.Errorf("an unchanged quota's spent bucket admitted %d after Set", got)
		}
		if got := allowed(q, "111122223333", "CreateAlias", 5); got != 3 {
			t.Errorf("a changed quota admitted %d after Set, want a fresh 3", got)
		}
		q.Set(nil)
		if got := allowed(q, "111122223333", "CreateKey", 5); got != 5 {
			t.Errorf("after Set(nil) admitted %d of 5", got)
		}
	})
}

func TestThrottledMessage(t *testing.T) {
	err := quota.New(quota.Limits{"CreateGrant": 0}, nil).Allow("111122223333", "CreateGrant")
	want := "You have exceeded the rate at which you may call KMS (quota CreateGrant: 0 requests per second per account on this node). Reduce the frequency of your calls."
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}
