package fsm

import (
	"bytes"
	"slices"
	"testing"
)

func scheduleDeletion(id string, date int64) Command {
	return &ScheduleKeyDeletion{KeyID: id, DeletionDate: date, PendingWindowInDays: 7}
}

func grantOn(id, keyID, grantee, retiring string) Command {
	return &CreateGrant{MaxGrantsPerKey: 50, Grant: Grant{ID: id, KeyID: keyID, GranteePrincipal: grantee,
		RetiringPrincipal: retiring, Operations: 1}}
}

// DeleteKey leaves no trace of the key: not in any read, not in any
// index a limit is counted with, not in a snapshot.
func TestDeleteKeyLeavesNoTrace(t *testing.T) {
	t.Parallel()
	const bob, ops = "arn:aws:iam::111122223333:user/bob", "arn:aws:iam::111122223333:role/ops"
	f := New()
	applyAll(t, f, create("k"), create("other"),
		grantOn("g1", "k", bob, ops), grantOn("g2", "k", bob, ""), grantOn("g3", "other", bob, ops),
		createAlias("alias/a", "k", 1), createAlias("alias/b", "other", 1),
		tagKey("k", "team", "payroll"), scheduleDeletion("k", 5000))
	want := New() // the same state without k (Noops keep the grant's index)
	applyAll(t, want, &Noop{}, create("other"), &Noop{}, &Noop{}, grantOn("g3", "other", bob, ops), createAlias("alias/b", "other", 1))

	if r := applyAll(t, f, &DeleteKey{KeyID: "k", Now: 5000})[0]; r.Err != nil {
		t.Fatalf("DeleteKey: %v", r.Err)
	}
	if _, ok := f.Key("k"); ok {
		t.Error("the key is still there")
	}
	if n := f.GrantCount("k"); n != 0 {
		t.Errorf("GrantCount = %d, want 0", n)
	}
	if n := f.AliasCount("k"); n != 0 {
		t.Errorf("AliasCount = %d, want 0", n)
	}
	f.GrantsFor("k", bob, func(g *Grant) bool { t.Errorf("grant %s is still indexed by grantee", g.ID); return true })
	if gs, _ := f.ListRetirableGrants(ops, "", "", 100); len(gs) != 1 || gs[0].ID != "g3" {
		t.Errorf("retirable grants = %v, want only g3", gs)
	}
	// The snapshot is exactly that of a state that never had the key.
	if got, w := stripApplied(snapshotBytes(t, f)), stripApplied(snapshotBytes(t, want)); !bytes.Equal(got, w) {
		t.Errorf("snapshot after deletion:\n%s\nwant:\n%s", got, w)
	}
}

// The observer hears of every key that leaves the state, by DeleteKey or
// by a Restore (a node that was behind), once, and of nothing else.
func TestOnKeysDeleted(t *testing.T) {
	t.Parallel()
	var heard []string
	f := New()
	f.OnKeysDeleted(func(ids []string) { heard = append(heard, ids...) })
	applyAll(t, f, create("a"), create("b"), create("c"), scheduleDeletion("a", 10), scheduleDeletion("b", 10))
	applyAll(t, f, &DeleteKey{KeyID: "a", Now: 9}, &CancelKeyDeletion{KeyID: "b"})
	if len(heard) != 0 {
		t.Fatalf("heard %v before any deletion", heard)
	}
	applyAll(t, f, &DeleteKey{KeyID: "a", Now: 10}, &DeleteKey{KeyID: "a", Now: 11})
	if !slices.Equal(heard, []string{"a"}) {
		t.Fatalf("heard %v, want [a]", heard)
	}

	// A snapshot of a leader that deleted c (and created d) restores on a
	// node that still has c: the node hears of c.
	leader := New()
	applyAll(t, leader, create("b"), create("c"), scheduleDeletion("c", 10), &DeleteKey{KeyID: "c", Now: 10}, create("d"))
	heard = nil
	if err := f.Restore(bytes.NewReader(snapshotBytes(t, leader))); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(heard, []string{"c"}) {
		t.Fatalf("restore: heard %v, want [c]", heard)
	}
}

// A DeleteKey with Tombstone keeps the deleted key's id: a CreateKey of
// that id (a proposal retried after the key it made was deleted) is
// refused, also after a snapshot and restore; a backup that holds the key
// brings it back and drops its tombstone. A DeleteKey from before
// tombstones keeps none.
func TestDeletedKeyIDsAreNeverUsedAgain(t *testing.T) {
	t.Parallel()
	deleted := func(t *testing.T, tombstone bool) *FSM {
		t.Helper()
		f := New()
		applyAll(t, f, create("k"), scheduleDeletion("k", 5000))
		if r := applyAll(t, f, &DeleteKey{KeyID: "k", Now: 5000, Tombstone: tombstone})[0]; r.Err != nil {
			t.Fatalf("DeleteKey: %v", r.Err)
		}
		return f
	}
	restored := func(t *testing.T, f *FSM) *FSM {
		t.Helper()
		g := New()
		if err := g.Restore(bytes.NewReader(snapshotBytes(t, f))); err != nil {
			t.Fatal(err)
		}
		return g
	}
	for _, tt := range []struct {
		name      string
		state     func(t *testing.T) *FSM
		wantRetry string // the retried CreateKey's error type, "" if it applies
	}{
		{"tombstone", func(t *testing.T) *FSM { return deleted(t, true) }, "KMSInvalidStateException"},
		{"tombstone, restored from a snapshot", func(t *testing.T) *FSM { return restored(t, deleted(t, true)) }, "KMSInvalidStateException"},
		{"a DeleteKey from before tombstones", func(t *testing.T) *FSM { return deleted(t, false) }, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := tt.state(t)
			if f.KeyDeleted("k") != (tt.wantRetry != "") {
				t.Fatalf("KeyDeleted = %v", f.KeyDeleted("k"))
			}
			r := applyAll(t, f, create("k"))[0]
			switch {
			case tt.wantRetry == "" && r.Err != nil:
				t.Fatalf("CreateKey refused: %v", r.Err)
			case tt.wantRetry != "" && (r.Err == nil || r.Err.Type != tt.wantRetry):
				t.Fatalf("CreateKey = %+v, want %s", r.Err, tt.wantRetry)
			case tt.wantRetry != "":
				if _, ok := f.Key("k"); ok {
					t.Fatal("the refused CreateKey made the key")
				}
			}
		})
	}
	t.Run("a backup that holds the key brings it back", func(t *testing.T) {
		t.Parallel()
		src := New()
		applyAll(t, src, create("k"), create("j"), scheduleDeletion("j", 5000), &DeleteKey{KeyID: "j", Now: 5000, Tombstone: true})
		backup := snapshotBytes(t, src) // k, and j's tombstone
		cur, err := deleted(t, true).Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := cur.Graft(bytes.NewReader(backup), 10, &out); err != nil {
			t.Fatal(err)
		}
		got := New()
		if err := got.Restore(&out); err != nil {
			t.Fatal(err)
		}
		if _, ok := got.Key("k"); !ok || got.KeyDeleted("k") || !got.KeyDeleted("j") {
			t.Fatalf("k present %v, k deleted %v, j deleted %v", ok, got.KeyDeleted("k"), got.KeyDeleted("j"))
		}
	})
}
