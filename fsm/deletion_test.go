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
