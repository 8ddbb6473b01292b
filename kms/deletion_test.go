package kms_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/kms"
	"github.com/trentkms/trent/lifecycle"
	"github.com/trentkms/trent/wire"
)

// clockEnv is an env whose service reads the clock *now and whose days
// last day.
func clockEnv(t *testing.T, now *time.Time, day time.Duration) *env {
	return newEnvMax(t, nil, 20, func(c *kms.Config) {
		c.Now = func() time.Time { return *now }
		c.Day = day
	})
}

func (e *env) describe(t *testing.T, keyID string) *kmsv1.KeyMetadata {
	t.Helper()
	r, err := e.svc.DescribeKey(e.root, &kmsv1.DescribeKeyRequest{KeyId: keyID})
	if err != nil {
		t.Fatalf("DescribeKey: %v", err)
	}
	return r.KeyMetadata
}

func TestScheduleKeyDeletion(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1_700_000_000_123)
	for _, tt := range []struct {
		name   string
		window *int32
		day    time.Duration
		days   int32
	}{
		{"default window", nil, 0, 30},
		{"shortest", i32(7), 0, 7},
		{"longest", i32(30), 0, 30},
		{"a shortened day", i32(10), time.Minute, 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := clockEnv(t, &now, tt.day)
			m := e.createKey(t)
			r, err := e.svc.ScheduleKeyDeletion(e.root, &kmsv1.ScheduleKeyDeletionRequest{KeyId: m.KeyId, PendingWindowInDays: tt.window})
			if err != nil {
				t.Fatal(err)
			}
			day := tt.day
			if day == 0 {
				day = 24 * time.Hour
			}
			wantDate := float64(now.Add(time.Duration(tt.days)*day).UnixMilli()) / 1000
			want := &kmsv1.ScheduleKeyDeletionResponse{KeyId: m.Arn, DeletionDate: wantDate, KeyState: "PendingDeletion", PendingWindowInDays: tt.days}
			if r.KeyId != want.KeyId || r.DeletionDate != want.DeletionDate || r.KeyState != want.KeyState || r.PendingWindowInDays != want.PendingWindowInDays {
				t.Fatalf("got %v, want %v", r, want)
			}
			d := e.describe(t, m.KeyId)
			if d.KeyState != "PendingDeletion" || d.Enabled || d.DeletionDate == nil || *d.DeletionDate != wantDate ||
				d.PendingDeletionWindowInDays == nil || *d.PendingDeletionWindowInDays != tt.days {
				t.Fatalf("DescribeKey: %v", d)
			}
		})
	}
}

// Bad input gets AWS's error and changes nothing.
func TestScheduleKeyDeletionBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	pending := e.createKey(t)
	e.apply(t, &fsm.ScheduleKeyDeletion{KeyID: pending.KeyId, DeletionDate: 1, PendingWindowInDays: 7})
	e.createAlias(t, "alias/del", m.KeyId)
	const between = "PendingWindowInDays must be between 7 and 30"
	for _, tt := range []struct {
		name   string
		keyID  string
		window *int32
		typ    string
		msg    string
	}{
		{"window 6", m.KeyId, i32(6), wire.Validation, between},
		{"window 31", m.KeyId, i32(31), wire.Validation, between},
		{"window 1", m.KeyId, i32(1), wire.Validation, between},
		{"window 0", m.KeyId, i32(0), wire.Validation, "1 validation error detected: Value '0' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"window -7", m.KeyId, i32(-7), wire.Validation, "1 validation error detected: Value '-7' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"window 366", m.KeyId, i32(366), wire.Validation, "1 validation error detected: Value '366' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value less than or equal to 365"},
		{"no key id", "", nil, wire.Validation, "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"},
		{"alias", "alias/del", nil, wire.InvalidArn, "Key Aliases are not supported for this operation."},
		{"unknown key", "11111111-2222-3333-4444-555555555555", nil, wire.NotFound, "Key 'arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555' does not exist"},
		{"already pending", pending.KeyId, nil, wire.KMSInvalidState, pending.Arn + " is pending deletion."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := e.fsm.AppliedIndex()
			_, err := e.svc.ScheduleKeyDeletion(e.root, &kmsv1.ScheduleKeyDeletionRequest{KeyId: tt.keyID, PendingWindowInDays: tt.window})
			wantError(t, err, tt.typ, tt.msg)
			if tt.typ != wire.KMSInvalidState && e.fsm.AppliedIndex() != before {
				t.Fatal("a refused request was replicated")
			}
		})
	}
	if d := e.describe(t, m.KeyId); d.KeyState != "Enabled" || d.DeletionDate != nil {
		t.Fatalf("key changed: %v", d)
	}
	if d := e.describe(t, pending.KeyId); *d.DeletionDate != 0.001 || *d.PendingDeletionWindowInDays != 7 {
		t.Fatalf("pending key changed: %v", d)
	}
}

func TestDeletionNeedsPermission(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	_, err := e.svc.ScheduleKeyDeletion(e.bob, &kmsv1.ScheduleKeyDeletionRequest{KeyId: m.Arn})
	wantError(t, err, wire.AccessDenied, "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:ScheduleKeyDeletion on resource: "+m.Arn+" because no resource-based policy allows the kms:ScheduleKeyDeletion action")
	e.apply(t, &fsm.ScheduleKeyDeletion{KeyID: m.KeyId, DeletionDate: 1, PendingWindowInDays: 7})
	_, err = e.svc.CancelKeyDeletion(e.bob, &kmsv1.CancelKeyDeletionRequest{KeyId: m.Arn})
	wantError(t, err, wire.AccessDenied, "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:CancelKeyDeletion on resource: "+m.Arn+" because no resource-based policy allows the kms:CancelKeyDeletion action")
	if d := e.describe(t, m.KeyId); d.KeyState != "PendingDeletion" {
		t.Fatalf("state %s", d.KeyState)
	}
}

func TestCancelKeyDeletion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	if _, err := e.svc.ScheduleKeyDeletion(e.root, &kmsv1.ScheduleKeyDeletionRequest{KeyId: m.KeyId}); err != nil {
		t.Fatal(err)
	}
	r, err := e.svc.CancelKeyDeletion(e.root, &kmsv1.CancelKeyDeletionRequest{KeyId: m.Arn})
	if err != nil {
		t.Fatal(err)
	}
	if r.KeyId != m.Arn {
		t.Fatalf("KeyId %q, want the ARN", r.KeyId)
	}
	d := e.describe(t, m.KeyId)
	if d.KeyState != "Disabled" || d.Enabled || d.DeletionDate != nil || d.PendingDeletionWindowInDays != nil {
		t.Fatalf("after cancel: %v", d)
	}
	_, err = e.svc.CancelKeyDeletion(e.root, &kmsv1.CancelKeyDeletionRequest{KeyId: m.KeyId})
	wantError(t, err, wire.KMSInvalidState, m.Arn+" is not pending deletion.")
	if _, err := e.svc.EnableKey(e.root, &kmsv1.EnableKeyRequest{KeyId: m.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("Encrypt after cancel and enable: %v", err)
	}
}

// DueDeletion proposes the deletion only once the window ended; after it
// the key's id names nothing, and its old ciphertexts, grants and
// aliases are gone, as on AWS, and the id is never used again.
func TestDueDeletion(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1_700_000_000_000)
	e := clockEnv(t, &now, time.Hour)
	m, other := e.createKey(t), e.createKey(t)
	enc, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("secret")})
	if err != nil {
		t.Fatal(err)
	}
	e.grant(t, e.root, &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: bobARN, Operations: []string{"Decrypt"}})
	e.createAlias(t, "alias/gone", m.KeyId)
	e.createAlias(t, "alias/stays", other.KeyId)
	if _, err := e.svc.ScheduleKeyDeletion(e.root, &kmsv1.ScheduleKeyDeletionRequest{KeyId: m.KeyId, PendingWindowInDays: i32(7)}); err != nil {
		t.Fatal(err)
	}
	k, _ := e.fsm.Key(m.KeyId)
	deadline := now.Add(7 * time.Hour)
	for _, at := range []time.Time{now, deadline.Add(-time.Millisecond)} {
		if c, err := e.svc.DueDeletion(context.Background(), k, at); c != nil || err != nil {
			t.Fatalf("DueDeletion at %v: %v, %v", at, c, err)
		}
	}
	if c, _ := e.svc.DueDeletion(context.Background(), mustKey(t, e, other.KeyId), deadline.Add(1000*time.Hour)); c != nil {
		t.Fatalf("DueDeletion of a key not pending deletion: %v", c)
	}
	c, err := e.svc.DueDeletion(context.Background(), k, deadline)
	if err != nil || c == nil {
		t.Fatalf("DueDeletion at the deadline: %v, %v", c, err)
	}
	e.apply(t, c)

	notFound := "Key '" + m.Arn + "' does not exist"
	_, err = e.svc.DescribeKey(e.root, &kmsv1.DescribeKeyRequest{KeyId: m.KeyId})
	wantError(t, err, wire.NotFound, notFound)
	_, err = e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob})
	wantError(t, err, wire.AccessDenied, "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.")
	_, err = e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob, KeyId: m.Arn})
	wantError(t, err, wire.NotFound, notFound)
	_, err = e.svc.ListGrants(e.root, &kmsv1.ListGrantsRequest{KeyId: m.KeyId})
	wantError(t, err, wire.NotFound, notFound)
	_, err = e.svc.CancelKeyDeletion(e.root, &kmsv1.CancelKeyDeletionRequest{KeyId: m.KeyId})
	wantError(t, err, wire.NotFound, notFound)
	_, err = e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: "alias/gone", Plaintext: []byte("x")})
	wantError(t, err, wire.NotFound, "Alias "+aliasARNPrefix+"alias/gone is not found.")
	if e.fsm.GrantCount(m.KeyId) != 0 {
		t.Fatal("the deleted key's grants remain")
	}
	as, err := e.svc.ListAliases(e.root, &kmsv1.ListAliasesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(as.Aliases) != 1 || as.Aliases[0].AliasName != "alias/stays" {
		t.Fatalf("aliases after deletion: %v", as.Aliases)
	}
	ks, err := e.svc.ListKeys(e.root, &kmsv1.ListKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ks.Keys) != 1 || ks.Keys[0].KeyId != other.KeyId {
		t.Fatalf("keys after deletion: %v", ks.Keys)
	}
	// A second proposal (another leader's pass) is refused and changes nothing.
	if _, _, err := fsm.Apply(context.Background(), e.log, c); err == nil {
		t.Fatal("a second DeleteKey applied")
	}
	// The deletion keeps a tombstone: the CreateKey that made the key,
	// retried now, does not bring it back.
	if !e.fsm.KeyDeleted(m.KeyId) {
		t.Fatal("the deleted key has no tombstone")
	}
	if _, _, err := fsm.Apply(context.Background(), e.log, &fsm.CreateKey{Key: *k}); err == nil {
		t.Fatal("a retried CreateKey of the deleted key applied")
	}
}

func mustKey(t *testing.T, e *env, id string) *fsm.Key {
	t.Helper()
	k, ok := e.fsm.Key(id)
	if !ok {
		t.Fatalf("no key %s", id)
	}
	return k
}

// kms:ScheduleKeyDeletionPendingWindowInDays is the requested window, 30
// when the request omits it: a key policy can demand a long one.
func TestScheduleKeyDeletionWindowCondition(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(t, userCmd(acct, "bob"))
	bobMay := stmt("Allow", aws(bobARN), `"kms:ScheduleKeyDeletion"`, `{"NumericGreaterThanEquals":{"kms:ScheduleKeyDeletionPendingWindowInDays":"14"}}`)
	for _, tt := range []struct {
		name   string
		window *int32
		want   string
	}{
		{"too short", i32(7), wire.AccessDenied},
		{"long enough", i32(14), ""},
		{"default", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := e.createKey(t)
			if _, err := e.svc.PutKeyPolicy(e.root, &kmsv1.PutKeyPolicyRequest{KeyId: m.KeyId, Policy: kp(rootAll, bobMay)}); err != nil {
				t.Fatal(err)
			}
			_, err := e.svc.ScheduleKeyDeletion(e.bob, &kmsv1.ScheduleKeyDeletionRequest{KeyId: m.KeyId, PendingWindowInDays: tt.window})
			wantType(t, err, tt.want)
		})
	}
}

type alwaysLeader struct{}

func (alwaysLeader) IsLeader() bool { return true }

// Passes of several runners at once (an old and a new leader, each with
// its clock past the deadline) delete each due key exactly once, and
// leave the key whose window has not ended and the cancelled one.
func TestConcurrentPassesDeleteOnce(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1_700_000_000_000)
	e := clockEnv(t, &now, time.Hour)
	due, notYet, cancelled := e.createKey(t), e.createKey(t), e.createKey(t)
	for _, m := range []*kmsv1.KeyMetadata{due, cancelled} {
		if _, err := e.svc.ScheduleKeyDeletion(e.root, &kmsv1.ScheduleKeyDeletionRequest{KeyId: m.KeyId, PendingWindowInDays: i32(7)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.ScheduleKeyDeletion(e.root, &kmsv1.ScheduleKeyDeletionRequest{KeyId: notYet.KeyId, PendingWindowInDays: i32(30)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CancelKeyDeletion(e.root, &kmsv1.CancelKeyDeletionRequest{KeyId: cancelled.KeyId}); err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
	)
	for i := range 4 {
		at := now.Add(7*time.Hour + time.Duration(i)*time.Minute)
		r, err := lifecycle.New(lifecycle.Config{Keys: e.fsm, Log: e.log, Leader: alwaysLeader{},
			Now: func() time.Time { return at }, Tasks: []lifecycle.Task{e.svc.DueDeletion}})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			n, err := r.Pass(context.Background())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != 1 {
		t.Fatalf("%d deletions applied, want 1", total)
	}
	if _, ok := e.fsm.Key(due.KeyId); ok {
		t.Fatal("the due key is still there")
	}
	if d := e.describe(t, notYet.KeyId); d.KeyState != "PendingDeletion" {
		t.Fatalf("the key whose window has not ended is %s", d.KeyState)
	}
	if d := e.describe(t, cancelled.KeyId); d.KeyState != "Disabled" {
		t.Fatalf("the cancelled key is %s", d.KeyState)
	}
}
