package fsm

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/trentkms/trent/wire"
)

const testDay = int64(86400000)

func enableRotation(id string, days int32, at int64) *SetKeyRotation {
	return &SetKeyRotation{KeyID: id, Enabled: true, PeriodInDays: days, Time: at, DayMillis: testDay}
}

func rotate(id, version, typ string, at, due int64) *RotateKey {
	return &RotateKey{KeyID: id, Version: KeyVersion{ID: version, EKT: []byte{1}, Created: at, RotationType: typ}, Due: due, DayMillis: testDay}
}

func mustKey(t *testing.T, f *FSM, id string) *Key {
	t.Helper()
	k, ok := f.Key(id)
	if !ok {
		t.Fatalf("no key %s", id)
	}
	return k
}

// An automatic rotation applies once per period: a second proposal for
// the same due date (another leader's, after a leader change) is refused
// and adds no version, and the next one is due a period after the first.
func TestAutomaticRotationOncePerPeriod(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f, create("k"), enableRotation("k", 90, 0))
	due := mustKey(t, f, "k").Rotation.NextRotationDate
	if due != 90*testDay {
		t.Fatalf("first rotation due %d, want %d", due, 90*testDay)
	}
	rs := applyAll(t, f,
		rotate("k", "early", RotationAutomatic, due-1, due),
		rotate("k", "v2", RotationAutomatic, due+5, due),
		rotate("k", "v2b", RotationAutomatic, due+6, due))
	if rs[0].Err == nil || rs[1].Err != nil || rs[2].Err == nil || rs[2].Err.Type != wire.KMSInvalidState {
		t.Fatalf("results %v, %v, %v", rs[0].Err, rs[1].Err, rs[2].Err)
	}
	k := mustKey(t, f, "k")
	if len(k.Versions) != 2 || k.Versions[1].ID != "v2" || k.Rotation.NextRotationDate != due+5+90*testDay {
		t.Fatalf("versions %v, next %d", k.Versions, k.Rotation.NextRotationDate)
	}
	// A proposal made for the applied period, however late it arrives,
	// is refused: the next period's rotation is proposed for its own due
	// date.
	late := k.Rotation.NextRotationDate + 1
	if r := applyAll(t, f, rotate("k", "late", RotationAutomatic, late, due))[0]; r.Err == nil {
		t.Fatal("a late proposal for an applied period rotated the key")
	}
	if r := applyAll(t, f, rotate("k", "v3", RotationAutomatic, late, k.Rotation.NextRotationDate))[0]; r.Err != nil {
		t.Fatalf("the next period's rotation: %v", r.Err)
	}
	k = mustKey(t, f, "k")
	// The retried proposal of the applied rotation is not an error.
	if r := applyAll(t, f, rotate("k", "v2", RotationAutomatic, due+5, due))[0]; r.Err != nil || len(r.Key.Versions) != 3 {
		t.Fatalf("retry: %v", r.Err)
	}
	// Disabled rotation: no automatic rotation applies.
	next := k.Rotation.NextRotationDate
	applyAll(t, f, &SetKeyRotation{KeyID: "k"})
	if r := applyAll(t, f, rotate("k", "v4", RotationAutomatic, next, next))[0]; r.Err == nil {
		t.Fatal("automatic rotation applied with rotation disabled")
	}
}

// On-demand rotations stop at MaxOnDemandRotations with
// LimitExceededException, do not move the automatic schedule, and are
// refused with ConflictException within 20 minutes of an automatic one.
func TestOnDemandRotation(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f, create("k"), enableRotation("k", 365, 0))
	next := mustKey(t, f, "k").Rotation.NextRotationDate
	for i := range MaxOnDemandRotations {
		if r := applyAll(t, f, rotate("k", fmt.Sprint("od", i), RotationOnDemand, int64(i), 0))[0]; r.Err != nil {
			t.Fatalf("rotation %d: %v", i+1, r.Err)
		}
	}
	r := applyAll(t, f, rotate("k", "od-over", RotationOnDemand, 100, 0))[0]
	if r.Err == nil || r.Err.Type != wire.LimitExceeded {
		t.Fatalf("rotation 26: %v", r.Err)
	}
	k := mustKey(t, f, "k")
	if len(k.Versions) != 1+MaxOnDemandRotations || k.Rotation.OnDemand != MaxOnDemandRotations || k.Rotation.NextRotationDate != next {
		t.Fatalf("%d versions, %d on demand, next %d (want %d)", len(k.Versions), k.Rotation.OnDemand, k.Rotation.NextRotationDate, next)
	}

	applyAll(t, f, create("c"), enableRotation("c", 90, 0))
	due := mustKey(t, f, "c").Rotation.NextRotationDate
	r = applyAll(t, f, rotate("c", "x", RotationOnDemand, due-19*60*1000, 0))[0]
	if r.Err == nil || r.Err.Type != wire.Conflict {
		t.Fatalf("on demand 19 minutes before an automatic rotation: %v", r.Err)
	}
	if r = applyAll(t, f, rotate("c", "y", RotationOnDemand, due-21*60*1000, 0))[0]; r.Err != nil {
		t.Fatalf("on demand 21 minutes before: %v", r.Err)
	}
}

// Re-enabling with a new period keeps the start of the current period.
func TestEnableRotationAgainChangesPeriod(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f, create("k"), enableRotation("k", 365, 1000), enableRotation("k", 90, 5000))
	if got := mustKey(t, f, "k").Rotation.NextRotationDate; got != 1000+90*testDay {
		t.Fatalf("next %d, want %d", got, 1000+90*testDay)
	}
	applyAll(t, f, &SetKeyRotation{KeyID: "k"}, enableRotation("k", 100, 7000))
	if got := mustKey(t, f, "k").Rotation.NextRotationDate; got != 7000+100*testDay {
		t.Fatalf("after disable and enable: next %d", got)
	}
}

// Rotation changes need an Enabled key: the key-state table's errors, and
// nothing changes.
func TestRotationKeyStates(t *testing.T) {
	t.Parallel()
	pendingImport := testKey("import")
	pendingImport.State, pendingImport.Origin, pendingImport.Versions = PendingImport, "EXTERNAL", nil
	f := New()
	applyAll(t, f, create("dis"), setEnabled("dis", false), create("del"),
		&ScheduleKeyDeletion{KeyID: "del", DeletionDate: 1, PendingWindowInDays: 7}, &CreateKey{Key: pendingImport})
	for _, tc := range []struct{ id, want string }{
		{"dis", wire.Disabled}, {"del", wire.KMSInvalidState}, {"import", wire.KMSInvalidState}, {"missing", wire.NotFound},
	} {
		t.Run(tc.id, func(t *testing.T) {
			for _, c := range []Command{enableRotation(tc.id, 90, 0), &SetKeyRotation{KeyID: tc.id}, rotate(tc.id, "v", RotationOnDemand, 0, 0)} {
				r := applyAll(t, f, c)[0]
				if r.Err == nil || r.Err.Type != tc.want {
					t.Errorf("%s: %v, want %s", c.Op(), r.Err, tc.want)
				}
			}
			if k, ok := f.Key(tc.id); ok && (k.Rotation != Rotation{} || len(k.Versions) > 1) {
				t.Errorf("refused commands changed the key: %+v", k.Rotation)
			}
		})
	}
}

// A snapshot carries the rotation settings and every version: a node
// restored from it rotates on the same schedule and has every version.
func TestSnapshotKeepsRotation(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f, create("k"), enableRotation("k", 90, 0), rotate("k", "v2", RotationOnDemand, 5, 0),
		rotate("k", "v3", RotationAutomatic, 90*testDay, 90*testDay))
	g := New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, f)))); err != nil {
		t.Fatal(err)
	}
	want, got := mustKey(t, f, "k"), mustKey(t, g, "k")
	if !reflect.DeepEqual(got, want) || len(got.Versions) != 3 || got.Rotation.OnDemand != 1 || got.Versions[2].RotationType != RotationAutomatic {
		t.Fatalf("restored %+v, want %+v", got, want)
	}
}
