package fsm

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// ektUnder returns a fake EKT naming domain key id dkid (hex).
func ektUnder(dkid string, fill byte) []byte {
	id, _ := hex.DecodeString(dkid)
	return append(append([]byte{1, 1}, id...), bytes.Repeat([]byte{fill}, 46)...)
}

var (
	oldDK = "11111111111111111111111111111111"
	newDK = "22222222222222222222222222222222"
)

func rotatingFSM(t *testing.T, keys ...string) *FSM {
	t.Helper()
	f := New()
	for _, id := range keys {
		k := testKey(id)
		k.Versions[0].EKT = ektUnder(oldDK, 0xaa)
		applyAll(t, f, &CreateKey{Key: k})
	}
	applyAll(t, f, &StartDomainRotation{OldKeyID: oldDK, NewKeyID: newDK, Members: []string{"n1", "n2"}, Proposer: "n1", Now: 1})
	return f
}

func rewrapOf(f *FSM, id string) RewrapItem {
	k, _ := f.Key(id)
	return RewrapItem{Kind: EKTKindKey, KeyID: id, Version: k.Versions[0].ID, Old: k.Versions[0].EKT, New: ektUnder(newDK, 0xbb)}
}

// TestDomainRotationRules covers what the state machine decides: who
// must be ready, which batches apply, when a rotation may finish.
func TestDomainRotationRules(t *testing.T) {
	t.Parallel()
	toRewrap := &AdvanceDomainRotation{Generation: 2, NewKeyID: newDK, State: RotationRewrapping, Members: []string{"n1", "n2"}, Now: 2}
	ready := &DomainKeyHandoff{Generation: 2, NewKeyID: newDK, Node: "n2", Ready: true}
	done := &AdvanceDomainRotation{Generation: 2, NewKeyID: newDK, State: RotationDone, Now: 3}
	tests := []struct {
		name    string
		setup   func(f *FSM) []Command
		cmd     func(f *FSM) Command
		wantErr bool
	}{
		{"rewrapping before every member is ready", nil,
			func(*FSM) Command { return toRewrap }, true},
		{"rewrapping once every member is ready", func(*FSM) []Command { return []Command{ready} },
			func(*FSM) Command { return toRewrap }, false},
		{"a batch before rewrapping", nil,
			func(f *FSM) Command {
				return &RewrapEKTs{Generation: 2, NewKeyID: newDK, Items: []RewrapItem{rewrapOf(f, "a")}}
			}, true},
		{"a batch of another generation", func(*FSM) []Command { return []Command{ready, toRewrap} },
			func(f *FSM) Command {
				return &RewrapEKTs{Generation: 3, NewKeyID: newDK, Items: []RewrapItem{rewrapOf(f, "a")}}
			}, true},
		{"done with EKTs left", func(*FSM) []Command { return []Command{ready, toRewrap} },
			func(*FSM) Command { return done }, true},
		{"a second start while rewrapping", func(*FSM) []Command { return []Command{ready, toRewrap} },
			func(*FSM) Command {
				return &StartDomainRotation{OldKeyID: oldDK, NewKeyID: "33333333333333333333333333333333", Members: []string{"n1"}, Proposer: "n1"}
			}, true},
		{"a restart while distributing", nil,
			func(*FSM) Command {
				return &StartDomainRotation{OldKeyID: oldDK, NewKeyID: "33333333333333333333333333333333", Members: []string{"n1"}, Proposer: "n1"}
			}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := rotatingFSM(t, "a", "b")
			if tt.setup != nil {
				for _, r := range applyAll(t, f, tt.setup(f)...) {
					if r.Err != nil {
						t.Fatalf("setup: %v", r.Err)
					}
				}
			}
			if r := applyAll(t, f, tt.cmd(f))[0]; (r.Err != nil) != tt.wantErr {
				t.Fatalf("got %v, wantErr %v", r.Err, tt.wantErr)
			}
		})
	}
}

// TestRewrapIsIdempotent: a batch replayed, or read before the EKT
// changed, replaces nothing twice; the rotation then finishes once.
func TestRewrapIsIdempotent(t *testing.T) {
	t.Parallel()
	f := rotatingFSM(t, "a", "b")
	applyAll(t, f, &DomainKeyHandoff{Generation: 2, NewKeyID: newDK, Node: "n2", Ready: true},
		&AdvanceDomainRotation{Generation: 2, NewKeyID: newDK, State: RotationRewrapping, Members: []string{"n1", "n2"}})
	if r := f.DomainRotation(); r.Total != 2 || r.State != RotationRewrapping {
		t.Fatalf("rotation %+v", r)
	}
	items, n := f.StaleEKTs(newDK, 1)
	if n != 2 || len(items) != 1 {
		t.Fatalf("StaleEKTs = %d items of %d", len(items), n)
	}
	a := rewrapOf(f, "a")
	batch := &RewrapEKTs{Generation: 2, NewKeyID: newDK, Items: []RewrapItem{a}}
	applyAll(t, f, batch, batch) // the second is a replay
	stale := a
	stale.New = ektUnder(newDK, 0xcc)
	wrongKey := rewrapOf(f, "b")
	wrongKey.New = ektUnder(oldDK, 0xcc)
	applyAll(t, f, &RewrapEKTs{Generation: 2, NewKeyID: newDK, Items: []RewrapItem{stale, wrongKey}})
	if k, _ := f.Key("a"); !bytes.Equal(k.Versions[0].EKT, a.New) {
		t.Fatal("a stale item replaced a re-wrapped EKT")
	}
	if r := f.DomainRotation(); r.Rewrapped != 1 || r.Batches != 3 {
		t.Fatalf("rewrapped %d in %d batches, want 1 in 3", r.Rewrapped, r.Batches)
	}
	applyAll(t, f, &RewrapEKTs{Generation: 2, NewKeyID: newDK, Items: []RewrapItem{rewrapOf(f, "b")}})
	done := &AdvanceDomainRotation{Generation: 2, NewKeyID: newDK, State: RotationDone, Now: 9}
	for _, r := range applyAll(t, f, done, done) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	r := f.DomainRotation()
	if r.State != RotationDone || r.Finished != 9 || r.Rewrapped != 2 {
		t.Fatalf("rotation %+v", r)
	}
	// The record survives a snapshot.
	g := New()
	if err := g.Restore(bytes.NewReader(snapshotBytes(t, f))); err != nil {
		t.Fatal(err)
	}
	if got := g.DomainRotation(); got == nil || got.State != RotationDone || got.Generation != 2 {
		t.Fatalf("restored rotation %+v", got)
	}
	// The next rotation is generation 3 and must replace the new key.
	next := &StartDomainRotation{OldKeyID: oldDK, NewKeyID: "33333333333333333333333333333333", Members: []string{"n1"}, Proposer: "n1"}
	if r := applyAll(t, f, next)[0]; r.Err == nil {
		t.Fatal("a rotation replacing a retired key started")
	}
	next.OldKeyID = newDK
	if r := applyAll(t, f, next)[0]; r.Err != nil || f.DomainRotation().Generation != 3 {
		t.Fatalf("next rotation: %v, %+v", r.Err, f.DomainRotation())
	}
}

// TestRemovalWhileRewrappingIsQueued: a rotation asked for while one
// re-wraps is recorded in it, for the leader to start once it is done.
func TestRemovalWhileRewrappingIsQueued(t *testing.T) {
	t.Parallel()
	f := New()
	queue := &StartDomainRotation{Queue: true, Reason: "remove n2"}
	if r := applyAll(t, f, queue)[0]; r.Err == nil {
		t.Fatal("queued behind no rotation")
	}
	f = rotatingFSM(t, "a")
	applyAll(t, f, &DomainKeyHandoff{Generation: 2, NewKeyID: newDK, Node: "n2", Ready: true},
		&AdvanceDomainRotation{Generation: 2, NewKeyID: newDK, State: RotationRewrapping, Members: []string{"n1", "n2"}})
	if r := applyAll(t, f, queue)[0]; r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := f.DomainRotation(); r.Queued != "remove n2" || r.State != RotationRewrapping || r.NewKeyID != newDK {
		t.Fatalf("rotation %+v", r)
	}
}

// TestNoEKTUnderARetiredKey: once a rotation is done, a key or version
// wrapped under the retired key (by a node that had not switched yet) is
// refused: every node destroys that key, so it would be lost.
func TestNoEKTUnderARetiredKey(t *testing.T) {
	t.Parallel()
	f := rotatingFSM(t, "a")
	applyAll(t, f, &InitCluster{Info: ClusterInfo{ID: "c1", CACert: []byte("ca1"), CAKeySealed: []byte("sealed-ca1")}})
	underOld := testKey("late")
	underOld.Versions[0].EKT = ektUnder(oldDK, 0xdd)
	rotate := &RotateKey{KeyID: "a", Version: KeyVersion{ID: "ffeeddccbbaa99887766554433221100", EKT: ektUnder(oldDK, 0xee), Created: 1, RotationType: RotationOnDemand}, DayMillis: 1}
	// During the rotation, anything goes: re-wrapping takes it.
	if r := applyAll(t, f, &CreateKey{Key: underOld})[0]; r.Err != nil {
		t.Fatalf("during the rotation: %v", r.Err)
	}
	applyAll(t, f, &DomainKeyHandoff{Generation: 2, NewKeyID: newDK, Node: "n2", Ready: true},
		&AdvanceDomainRotation{Generation: 2, NewKeyID: newDK, State: RotationRewrapping, Members: []string{"n1", "n2"}},
		&RewrapEKTs{Generation: 2, NewKeyID: newDK, Items: []RewrapItem{rewrapOf(f, "late"), rewrapOf(f, "a")}},
		&AdvanceDomainRotation{Generation: 2, NewKeyID: newDK, State: RotationDone})
	if f.DomainRotation().State != RotationDone {
		t.Fatal("rotation not done")
	}
	underOld.ID = "later"
	underNew := testKey("new")
	underNew.Versions[0].EKT = ektUnder(newDK, 0xdd)
	external := testKey("external")
	external.Origin, external.State, external.Versions = OriginExternal, PendingImport, nil
	applyAll(t, f, &CreateKey{Key: external})
	importUnder := func(dk string) *ImportKeyMaterial {
		return &ImportKeyMaterial{KeyID: "external", Version: KeyVersion{ID: "20000000000000000000000000000001", EKT: ektUnder(dk, 0xcc), Created: 1},
			Fingerprint: []byte("fingerprint"), ExpirationModel: KeyMaterialDoesNotExpire}
	}
	rotateCA := &RotateCA{CACert: []byte("new-ca"), CAKey: SealedSecret{KeyID: "0a0b", Version: "0e0f", EKT: ektUnder(oldDK, 0xbb), Nonce: []byte{8}, Sealed: []byte{9}},
		Now: 1, Overlap: MinCAOverlap.Milliseconds()}
	for _, tc := range []struct {
		cmd     Command
		wantErr bool
	}{{&CreateKey{Key: underOld}, true}, {&CreateKey{Key: underNew}, false}, {rotate, true},
		{importUnder(oldDK), true}, {importUnder(newDK), false}, {rotateCA, true}} {
		if r := applyAll(t, f, tc.cmd)[0]; (r.Err != nil) != tc.wantErr || (r.Err != nil && r.Err.Type != "KMSInternalException") {
			t.Errorf("%s: %v, wantErr %v", tc.cmd.Op(), r.Err, tc.wantErr)
		}
	}
}
