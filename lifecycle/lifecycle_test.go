package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/fsm/fsmtest"
	"github.com/trentkms/trent/lifecycle"
)

type leader bool

func (l leader) IsLeader() bool { return bool(l) }

func newFSM(t *testing.T, n int) (*fsm.FSM, *fsmtest.Log) {
	t.Helper()
	f := fsm.New()
	log := fsmtest.NewLog(f)
	for i := range n {
		id := fmt.Sprintf("%08d-0000-0000-0000-000000000000", i)
		if _, _, err := fsm.Apply(context.Background(), log, &fsm.CreateKey{Key: fsm.Key{ID: id, Account: "111122223333",
			ARN: "arn:aws:kms:us-east-1:111122223333:key/" + id, State: fsm.Enabled}}); err != nil {
			t.Fatal(err)
		}
	}
	return f, log
}

// disableEvery disables the keys whose id ends in an even digit before
// the deadline passes, and is due for nothing else.
func disableEvery(deadline time.Time) lifecycle.Task {
	return func(_ context.Context, k *fsm.Key, now time.Time) (fsm.Command, error) {
		if now.Before(deadline) || k.State != fsm.Enabled {
			return nil, nil
		}
		return &fsm.SetKeyEnabled{KeyID: k.ID}, nil
	}
}

func TestPassProposesWhatIsDueOnEveryPage(t *testing.T) {
	const n = 1300 // more than two pages
	f, log := newFSM(t, n)
	deadline := time.Unix(1e9, 0)
	now := deadline.Add(-time.Second)
	var told []uint64
	r, err := lifecycle.New(lifecycle.Config{Keys: f, Log: log, Leader: leader(true), Now: func() time.Time { return now },
		Tasks: []lifecycle.Task{disableEvery(deadline)},
		Applied: func(_ context.Context, cmd fsm.Command, res *fsm.Result, idx uint64) {
			if cmd.Op() != fsm.OpSetKeyEnabled || res.Key == nil || res.Key.State != fsm.Disabled {
				t.Errorf("told of %s with %+v", cmd.Op(), res)
			}
			told = append(told, idx)
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		now  time.Time
		want int
	}{
		{"before the deadline nothing is due", deadline.Add(-time.Second), 0},
		{"at the deadline every key is", deadline, n},
		{"a second pass finds nothing left", deadline.Add(time.Hour), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now = tc.now
			got, err := r.Pass(context.Background())
			if err != nil || got != tc.want {
				t.Fatalf("Pass = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
	if len(told) != n || told[0] != n+1 || told[n-1] != 2*n {
		t.Fatalf("Applied was told of %d commands (first index %v), want %d from index %d", len(told), told[:min(1, len(told))], n, n+1)
	}
	keys, _ := f.ScanKeys("", n+1)
	for _, k := range keys {
		if k.State != fsm.Disabled {
			t.Fatalf("key %s is %s", k.ID, k.State)
		}
	}
}

// A refused command is skipped. A task that fails skips its key, not the
// pass: the keys after it get their work and the sweeps run, and the pass
// reports the failure. A sweep that fails does not stop the next.
func TestRefusalsAreSkippedAndFailuresSkipOnlyTheirKey(t *testing.T) {
	boom := errors.New("hsm down")
	poisoned := fmt.Sprintf("%08d-0000-0000-0000-000000000000", 1)
	for _, tc := range []struct {
		name      string
		task      lifecycle.Task
		sweeps    []lifecycle.Sweep
		want      int
		wantErr   error
		wantSwept int
	}{
		{"a refused command is skipped", func(_ context.Context, k *fsm.Key, _ time.Time) (fsm.Command, error) {
			return &fsm.CancelKeyDeletion{KeyID: k.ID}, nil // not pending deletion: refused
		}, nil, 0, nil, 0},
		{"a task's error skips its key, not the others or the sweeps", func(_ context.Context, k *fsm.Key, _ time.Time) (fsm.Command, error) {
			if k.ID == poisoned {
				return nil, boom
			}
			return &fsm.SetKeyEnabled{KeyID: k.ID}, nil // disables it
		}, []lifecycle.Sweep{func(context.Context, time.Time) (fsm.Command, error) { return nil, nil }}, 2, boom, 1},
		{"a sweep's error does not stop the next", func(context.Context, *fsm.Key, time.Time) (fsm.Command, error) { return nil, nil },
			[]lifecycle.Sweep{
				func(context.Context, time.Time) (fsm.Command, error) { return nil, boom },
				func(context.Context, time.Time) (fsm.Command, error) { return nil, nil },
			}, 0, boom, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, log := newFSM(t, 3)
			swept := 0
			var sweeps []lifecycle.Sweep
			for _, s := range tc.sweeps {
				sweeps = append(sweeps, func(ctx context.Context, now time.Time) (fsm.Command, error) { swept++; return s(ctx, now) })
			}
			r, err := lifecycle.New(lifecycle.Config{Keys: f, Log: log, Leader: leader(true), Tasks: []lifecycle.Task{tc.task}, Sweeps: sweeps})
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Pass(context.Background())
			if got != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Pass = %d, %v; want %d, %v", got, err, tc.want, tc.wantErr)
			}
			if swept != tc.wantSwept {
				t.Fatalf("%d sweeps ran, want %d", swept, tc.wantSwept)
			}
			if tc.wantErr == boom && tc.want > 0 {
				for _, id := range []string{fmt.Sprintf("%08d-0000-0000-0000-000000000000", 0), fmt.Sprintf("%08d-0000-0000-0000-000000000000", 2)} {
					if k, _ := f.Key(id); k == nil || k.State != fsm.Disabled {
						t.Fatalf("key %s after the failing one was not acted on: %+v", id, k)
					}
				}
			}
		})
	}
}

// A proposal that fails ends the pass: the node lost the lead or its log
// cannot take writes, and the next pass retries.
func TestAFailedProposalEndsThePass(t *testing.T) {
	f, _ := newFSM(t, 3)
	calls := 0
	r, err := lifecycle.New(lifecycle.Config{Keys: f, Log: failingLog{}, Leader: leader(true),
		Tasks: []lifecycle.Task{func(_ context.Context, k *fsm.Key, _ time.Time) (fsm.Command, error) {
			calls++
			return &fsm.SetKeyEnabled{KeyID: k.ID}, nil
		}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Pass(context.Background()); !errors.Is(err, errNoLog) {
		t.Fatalf("Pass = %v, want the log's error", err)
	}
	if calls != 1 {
		t.Fatalf("the task ran %d times after a failed proposal, want once", calls)
	}
}

var errNoLog = errors.New("not the leader")

// failingLog refuses every proposal.
type failingLog struct{}

func (failingLog) Apply(context.Context, []byte) (any, uint64, error) { return nil, 0, errNoLog }

// The certificate sweep runs once a pass, after the keys, and proposes
// PruneCerts only when a recorded certificate is past its expiry and the
// grace: a pass with nothing due proposes nothing.
func TestPruneExpiredCertsSweep(t *testing.T) {
	f, log := newFSM(t, 2)
	const account, arn = "111122223333", "arn:aws:iam::111122223333:user/bob"
	notAfter := time.UnixMilli(1700086400000)
	for _, cmd := range []fsm.Command{
		&fsm.CreateUser{User: fsm.User{Account: account, Name: "bob", Path: "/", ID: "AIDA1", ARN: arn}},
		&fsm.RecordCert{Cert: fsm.IssuedCert{Serial: "b1", Account: account, Principal: arn, PrincipalID: "AIDA1", NotAfter: notAfter.UnixMilli()}},
	} {
		if _, _, err := fsm.Apply(context.Background(), log, cmd); err != nil {
			t.Fatal(err)
		}
	}
	var now time.Time
	var told []fsm.Op
	r, err := lifecycle.New(lifecycle.Config{Keys: f, Log: log, Leader: leader(true), Now: func() time.Time { return now },
		Sweeps: []lifecycle.Sweep{lifecycle.PruneExpiredCerts(f)},
		Applied: func(_ context.Context, cmd fsm.Command, res *fsm.Result, _ uint64) {
			if res.Pruned != 1 {
				t.Errorf("%s pruned %d records", cmd.Op(), res.Pruned)
			}
			told = append(told, cmd.Op())
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		now  time.Time
		want int
	}{
		{"expired within the grace: kept", notAfter.Add(fsm.CertPruneGrace), 0},
		{"past the grace: pruned", notAfter.Add(fsm.CertPruneGrace + time.Millisecond), 1},
		{"nothing left: no proposal", notAfter.Add(2 * fsm.CertPruneGrace), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now = tc.now
			if got, err := r.Pass(context.Background()); err != nil || got != tc.want {
				t.Fatalf("Pass = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
	if len(told) != 1 || told[0] != fsm.OpPruneCerts {
		t.Fatalf("Applied was told of %v", told)
	}
	if _, ok := f.IssuedCert("b1"); ok {
		t.Fatal("the expired certificate is still recorded")
	}
}

func TestNewRequiresItsParts(t *testing.T) {
	if _, err := lifecycle.New(lifecycle.Config{}); err == nil {
		t.Fatal("New accepted an empty config")
	}
}
