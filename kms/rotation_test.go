package kms_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/kms"
	"github.com/trentkms/trent/wire"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var rotationEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// newRotationEnv is an env whose clock the test sets and whose day lasts
// an hour.
func newRotationEnv(t *testing.T) (*env, *testClock) {
	clock := &testClock{t: rotationEpoch}
	e := newEnvMax(t, nil, 20, func(c *kms.Config) { c.Now = clock.Now; c.Day = time.Hour })
	return e, clock
}

func (e *env) encrypt(t *testing.T, keyID, pt string) []byte {
	t.Helper()
	r, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte(pt)})
	if err != nil {
		t.Fatal(err)
	}
	return r.CiphertextBlob
}

func (e *env) rotations(t *testing.T, keyID string, include string) []*kmsv1.RotationsListEntry {
	t.Helper()
	r, err := e.svc.ListKeyRotations(e.root, &kmsv1.ListKeyRotationsRequest{KeyId: keyID, IncludeKeyMaterial: include})
	if err != nil {
		t.Fatal(err)
	}
	return r.Rotations
}

// Rotation adds a version that encrypts from then on; ciphertexts under
// every older version still decrypt, each naming the material it used;
// DescribeKey's CurrentKeyMaterialId follows the newest.
func TestRotateOnDemandKeepsOldVersionsDecrypting(t *testing.T) {
	t.Parallel()
	e, _ := newRotationEnv(t)
	m := e.createKey(t)
	if len(m.CurrentKeyMaterialId) != 64 {
		t.Fatalf("CurrentKeyMaterialId %q is not 64 hex characters", m.CurrentKeyMaterialId)
	}
	blobs := [][]byte{e.encrypt(t, m.KeyId, "v0")}
	materials := []string{m.CurrentKeyMaterialId}
	for i := 1; i <= 3; i++ {
		r, err := e.svc.RotateKeyOnDemand(e.root, &kmsv1.RotateKeyOnDemandRequest{KeyId: m.Arn})
		if err != nil {
			t.Fatal(err)
		}
		if r.KeyId != m.KeyId {
			t.Fatalf("RotateKeyOnDemand KeyId %q, want %q", r.KeyId, m.KeyId)
		}
		d, err := e.svc.DescribeKey(e.root, &kmsv1.DescribeKeyRequest{KeyId: m.KeyId})
		if err != nil {
			t.Fatal(err)
		}
		if d.KeyMetadata.CurrentKeyMaterialId == materials[i-1] {
			t.Fatalf("rotation %d left CurrentKeyMaterialId unchanged", i)
		}
		materials = append(materials, d.KeyMetadata.CurrentKeyMaterialId)
		blobs = append(blobs, e.encrypt(t, m.KeyId, fmt.Sprint("v", i)))
	}
	for i, b := range blobs {
		r, err := e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{CiphertextBlob: b})
		if err != nil {
			t.Fatalf("version %d: %v", i, err)
		}
		if string(r.Plaintext) != fmt.Sprint("v", i) || r.KeyMaterialId != materials[i] {
			t.Fatalf("version %d: plaintext %q, material %s, want %s", i, r.Plaintext, r.KeyMaterialId, materials[i])
		}
	}
	rs := e.rotations(t, m.KeyId, "")
	if len(rs) != 3 {
		t.Fatalf("%d rotations listed, want 3", len(rs))
	}
	for i, r := range rs {
		state := "NON_CURRENT"
		if i == 2 {
			state = "CURRENT"
		}
		if r.KeyId != m.KeyId || r.RotationType != "ON_DEMAND" || r.KeyMaterialId != materials[i+1] || r.KeyMaterialState != state ||
			r.RotationDate != float64(rotationEpoch.Unix()) {
			t.Fatalf("rotation %d: %v", i, r)
		}
	}
	if all := e.rotations(t, m.KeyId, "ALL_KEY_MATERIAL"); len(all) != 4 || all[0].KeyMaterialId != materials[0] || all[0].RotationType != "" {
		t.Fatalf("ALL_KEY_MATERIAL: %v", all)
	}
}

// EnableKeyRotation takes 90-2560 days (default 365); anything else is
// a ValidationException that changes nothing. The status reports the
// period and the first due date, a period after enabling.
func TestEnableKeyRotationPeriods(t *testing.T) {
	t.Parallel()
	e, clock := newRotationEnv(t)
	m := e.createKey(t)
	for _, days := range []int32{89, 2561, 0, -1} {
		before := snapshot(t, e.fsm)
		_, err := e.svc.EnableKeyRotation(e.root, &kmsv1.EnableKeyRotationRequest{KeyId: m.KeyId, RotationPeriodInDays: i32(days)})
		wantType(t, err, wire.Validation)
		if after := snapshot(t, e.fsm); string(after) != string(before) {
			t.Fatalf("period %d changed the state", days)
		}
	}
	for _, tc := range []struct {
		days *int32
		want int32
	}{{nil, 365}, {i32(90), 90}, {i32(2560), 2560}} {
		if _, err := e.svc.DisableKeyRotation(e.root, &kmsv1.DisableKeyRotationRequest{KeyId: m.KeyId}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.EnableKeyRotation(e.root, &kmsv1.EnableKeyRotationRequest{KeyId: m.KeyId, RotationPeriodInDays: tc.days}); err != nil {
			t.Fatal(err)
		}
		s, err := e.svc.GetKeyRotationStatus(e.root, &kmsv1.GetKeyRotationStatusRequest{KeyId: m.Arn})
		if err != nil {
			t.Fatal(err)
		}
		next := float64(clock.Now().Add(time.Duration(tc.want) * time.Hour).Unix())
		if !s.KeyRotationEnabled || s.KeyId != m.KeyId || s.GetRotationPeriodInDays() != tc.want || s.GetNextRotationDate() != next ||
			s.OnDemandRotationStartDate != nil {
			t.Fatalf("status %v, want period %d next %v", s, tc.want, next)
		}
	}
	if _, err := e.svc.DisableKeyRotation(e.root, &kmsv1.DisableKeyRotationRequest{KeyId: m.KeyId}); err != nil {
		t.Fatal(err)
	}
	s, err := e.svc.GetKeyRotationStatus(e.root, &kmsv1.GetKeyRotationStatusRequest{KeyId: m.KeyId})
	if err != nil || s.KeyRotationEnabled || s.RotationPeriodInDays != nil || s.NextRotationDate != nil {
		t.Fatalf("after disable: %v, %v", s, err)
	}
}

// The lifecycle task proposes a rotation only when one is due, and of two
// proposals for the same period (two leaders), one applies.
func TestDueRotationOncePerPeriod(t *testing.T) {
	t.Parallel()
	e, clock := newRotationEnv(t)
	ctx := context.Background()
	m := e.createKey(t)
	old := e.encrypt(t, m.KeyId, "before")
	if _, err := e.svc.EnableKeyRotation(e.root, &kmsv1.EnableKeyRotationRequest{KeyId: m.KeyId, RotationPeriodInDays: i32(90)}); err != nil {
		t.Fatal(err)
	}
	k, _ := e.fsm.Key(m.KeyId)
	due := rotationEpoch.Add(90 * time.Hour)
	if cmd, err := e.svc.DueRotation(ctx, k, due.Add(-time.Millisecond)); cmd != nil || err != nil {
		t.Fatalf("rotation proposed before it is due: %v, %v", cmd, err)
	}
	a, err := e.svc.DueRotation(ctx, k, due)
	if err != nil || a == nil {
		t.Fatalf("no rotation when due: %v", err)
	}
	b, err := e.svc.DueRotation(ctx, k, due.Add(time.Minute)) // another leader, same view of the key
	if err != nil || b == nil {
		t.Fatalf("second leader: %v", err)
	}
	if _, _, err := fsm.Apply(ctx, e.log, a); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fsm.Apply(ctx, e.log, b); err == nil {
		t.Fatal("the second rotation of the period applied")
	}
	k, _ = e.fsm.Key(m.KeyId)
	if len(k.Versions) != 2 || k.Rotation.NextRotationDate != due.Add(90*time.Hour).UnixMilli() {
		t.Fatalf("%d versions, next %d", len(k.Versions), k.Rotation.NextRotationDate)
	}
	if cmd, _ := e.svc.DueRotation(ctx, k, due.Add(89*time.Hour)); cmd != nil {
		t.Fatal("rotation proposed again within the period")
	}
	// Not for a disabled key; when it is enabled again, at once.
	clock.Set(due.Add(200 * time.Hour))
	if _, err := e.svc.DisableKey(e.root, &kmsv1.DisableKeyRequest{KeyId: m.KeyId}); err != nil {
		t.Fatal(err)
	}
	k, _ = e.fsm.Key(m.KeyId)
	if cmd, _ := e.svc.DueRotation(ctx, k, clock.Now()); cmd != nil {
		t.Fatal("rotation proposed for a disabled key")
	}
	if _, err := e.svc.EnableKey(e.root, &kmsv1.EnableKeyRequest{KeyId: m.KeyId}); err != nil {
		t.Fatal(err)
	}
	k, _ = e.fsm.Key(m.KeyId)
	if cmd, _ := e.svc.DueRotation(ctx, k, clock.Now()); cmd == nil {
		t.Fatal("no rotation for a re-enabled key whose rotation came due")
	}
	if rs := e.rotations(t, m.KeyId, ""); len(rs) != 1 || rs[0].RotationType != "AUTOMATIC" || rs[0].RotationDate != float64(due.Unix()) {
		t.Fatalf("rotations %v", rs)
	}
	if r, err := e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{CiphertextBlob: old}); err != nil || string(r.Plaintext) != "before" {
		t.Fatalf("old ciphertext: %v", err)
	}
}

// A key rotates on demand 25 times; the 26th is LimitExceededException
// and changes nothing.
func TestRotateOnDemandLimit(t *testing.T) {
	t.Parallel()
	e, _ := newRotationEnv(t)
	m := e.createKey(t)
	for i := range fsm.MaxOnDemandRotations {
		if _, err := e.svc.RotateKeyOnDemand(e.root, &kmsv1.RotateKeyOnDemandRequest{KeyId: m.KeyId}); err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
	}
	before := snapshot(t, e.fsm)
	_, err := e.svc.RotateKeyOnDemand(e.root, &kmsv1.RotateKeyOnDemandRequest{KeyId: m.KeyId})
	wantError(t, err, wire.LimitExceeded, "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: "+m.Arn)
	if after := snapshot(t, e.fsm); string(after) != string(before) {
		t.Fatal("a refused rotation changed the state")
	}
}

// On demand within 20 minutes (of a day) of a due automatic rotation is
// ConflictException.
func TestRotateOnDemandConflictsWithDueAutomaticRotation(t *testing.T) {
	t.Parallel()
	e, clock := newRotationEnv(t)
	m := e.createKey(t)
	if _, err := e.svc.EnableKeyRotation(e.root, &kmsv1.EnableKeyRotationRequest{KeyId: m.KeyId, RotationPeriodInDays: i32(90)}); err != nil {
		t.Fatal(err)
	}
	// A day is an hour here: 20 minutes of it are 50 seconds.
	clock.Set(rotationEpoch.Add(90*time.Hour - 49*time.Second))
	_, err := e.svc.RotateKeyOnDemand(e.root, &kmsv1.RotateKeyOnDemandRequest{KeyId: m.KeyId})
	wantType(t, err, wire.Conflict)
	clock.Set(rotationEpoch.Add(90*time.Hour - 51*time.Second))
	_, err = e.svc.RotateKeyOnDemand(e.root, &kmsv1.RotateKeyOnDemandRequest{KeyId: m.KeyId})
	wantType(t, err, "")
}

// Each rotation operation in each key state: the key-state table
// (reference 4.3) with AWS's error name. Refusals change nothing.
func TestRotationKeyStateTable(t *testing.T) {
	t.Parallel()
	e, _ := newRotationEnv(t)
	ctx := context.Background()
	keyIn := map[string]string{}
	for _, state := range []string{"Enabled", "Disabled", "PendingDeletion"} {
		m := e.createKey(t)
		keyIn[state] = m.KeyId
		var cmd fsm.Command
		switch state {
		case "Disabled":
			cmd = &fsm.SetKeyEnabled{KeyID: m.KeyId}
		case "PendingDeletion":
			cmd = &fsm.ScheduleKeyDeletion{KeyID: m.KeyId, DeletionDate: rotationEpoch.Add(720 * time.Hour).UnixMilli(), PendingWindowInDays: 30}
		}
		if cmd != nil {
			if _, _, err := fsm.Apply(ctx, e.log, cmd); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A key pending import has origin EXTERNAL and no material.
	imp := "0f0f0f0f-0000-4000-8000-000000000001"
	if _, _, err := fsm.Apply(ctx, e.log, &fsm.CreateKey{Key: fsm.Key{ID: imp, ARN: "arn:aws:kms:us-east-1:111122223333:key/" + imp,
		Account: "111122223333", KeySpec: "SYMMETRIC_DEFAULT", KeyUsage: "ENCRYPT_DECRYPT", Origin: "EXTERNAL", State: fsm.PendingImport}}); err != nil {
		t.Fatal(err)
	}
	keyIn["PendingImport"] = imp

	ops := map[string]func(id string) error{
		"EnableKeyRotation": func(id string) error {
			_, err := e.svc.EnableKeyRotation(e.root, &kmsv1.EnableKeyRotationRequest{KeyId: id})
			return err
		},
		"DisableKeyRotation": func(id string) error {
			_, err := e.svc.DisableKeyRotation(e.root, &kmsv1.DisableKeyRotationRequest{KeyId: id})
			return err
		},
		"GetKeyRotationStatus": func(id string) error {
			_, err := e.svc.GetKeyRotationStatus(e.root, &kmsv1.GetKeyRotationStatusRequest{KeyId: id})
			return err
		},
		"RotateKeyOnDemand": func(id string) error {
			_, err := e.svc.RotateKeyOnDemand(e.root, &kmsv1.RotateKeyOnDemandRequest{KeyId: id})
			return err
		},
		"ListKeyRotations": func(id string) error {
			_, err := e.svc.ListKeyRotations(e.root, &kmsv1.ListKeyRotationsRequest{KeyId: id})
			return err
		},
	}
	// Per state: "" succeeds; else the error name and the message's tail.
	type cell struct{ typ, msg string }
	ok := cell{}
	disabled := cell{wire.Disabled, " is disabled."}
	pendingDeletion := cell{wire.KMSInvalidState, " is pending deletion."}
	external := cell{wire.UnsupportedOperation, " origin is EXTERNAL which is not valid for this operation."}
	table := map[string]map[string]cell{
		"EnableKeyRotation":    {"Enabled": ok, "Disabled": disabled, "PendingDeletion": pendingDeletion, "PendingImport": external},
		"DisableKeyRotation":   {"Enabled": ok, "Disabled": disabled, "PendingDeletion": pendingDeletion, "PendingImport": external},
		"GetKeyRotationStatus": {"Enabled": ok, "Disabled": ok, "PendingDeletion": ok, "PendingImport": external},
		"RotateKeyOnDemand":    {"Enabled": ok, "Disabled": disabled, "PendingDeletion": pendingDeletion, "PendingImport": external},
		"ListKeyRotations":     {"Enabled": ok, "Disabled": ok, "PendingDeletion": pendingDeletion, "PendingImport": external},
	}
	for op, row := range table {
		for state, want := range row {
			t.Run(op+"/"+state, func(t *testing.T) {
				id := keyIn[state]
				before := snapshot(t, e.fsm)
				err := ops[op](id)
				if want.typ == "" {
					wantType(t, err, "")
					return
				}
				wantError(t, err, want.typ, "arn:aws:kms:us-east-1:111122223333:key/"+id+want.msg)
				if after := snapshot(t, e.fsm); string(after) != string(before) {
					t.Fatal("a refused request changed the state")
				}
			})
		}
	}
	// A key pending deletion reports rotation off, and on again when the
	// deletion is cancelled.
	id := e.createKey(t).KeyId
	if _, err := e.svc.EnableKeyRotation(e.root, &kmsv1.EnableKeyRotationRequest{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	status := func() bool {
		s, err := e.svc.GetKeyRotationStatus(e.root, &kmsv1.GetKeyRotationStatusRequest{KeyId: id})
		if err != nil {
			t.Fatal(err)
		}
		return s.KeyRotationEnabled
	}
	fsm.Apply(ctx, e.log, &fsm.ScheduleKeyDeletion{KeyID: id, DeletionDate: 1, PendingWindowInDays: 7})
	if status() {
		t.Fatal("a key pending deletion reports rotation on")
	}
	fsm.Apply(ctx, e.log, &fsm.CancelKeyDeletion{KeyID: id})
	fsm.Apply(ctx, e.log, &fsm.SetKeyEnabled{KeyID: id, Enabled: true})
	if !status() {
		t.Fatal("cancelling the deletion did not restore rotation")
	}
}

// Each operation needs its own kms: action; bob has none. Aliases are
// refused as AWS refuses them.
func TestRotationOperationsAreAuthorized(t *testing.T) {
	t.Parallel()
	e, _ := newRotationEnv(t)
	m := e.createKey(t)
	before := snapshot(t, e.fsm)
	denied := func(action string, err error) {
		t.Helper()
		wantError(t, err, wire.AccessDenied, "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: "+action+" on resource: "+
			m.Arn+" because no resource-based policy allows the "+action+" action")
	}
	_, err := e.svc.EnableKeyRotation(e.bob, &kmsv1.EnableKeyRotationRequest{KeyId: m.KeyId})
	denied("kms:EnableKeyRotation", err)
	_, err = e.svc.DisableKeyRotation(e.bob, &kmsv1.DisableKeyRotationRequest{KeyId: m.KeyId})
	denied("kms:DisableKeyRotation", err)
	_, err = e.svc.GetKeyRotationStatus(e.bob, &kmsv1.GetKeyRotationStatusRequest{KeyId: m.KeyId})
	denied("kms:GetKeyRotationStatus", err)
	_, err = e.svc.RotateKeyOnDemand(e.bob, &kmsv1.RotateKeyOnDemandRequest{KeyId: m.KeyId})
	denied("kms:RotateKeyOnDemand", err)
	_, err = e.svc.ListKeyRotations(e.bob, &kmsv1.ListKeyRotationsRequest{KeyId: m.KeyId})
	denied("kms:ListKeyRotations", err)
	if after := snapshot(t, e.fsm); string(after) != string(before) {
		t.Fatal("a denied request changed the state")
	}
	if _, err := e.svc.CreateAlias(e.root, &kmsv1.CreateAliasRequest{AliasName: "alias/r", TargetKeyId: m.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.EnableKeyRotation(e.root, &kmsv1.EnableKeyRotationRequest{KeyId: "alias/r"})
	wantType(t, err, wire.InvalidArn)
}

// ListKeyRotations pages with Limit and Marker; a marker it did not
// give is InvalidMarkerException; bad Limit and IncludeKeyMaterial are
// ValidationException.
func TestListKeyRotationsPagination(t *testing.T) {
	t.Parallel()
	e, _ := newRotationEnv(t)
	m := e.createKey(t)
	for range 5 {
		if _, err := e.svc.RotateKeyOnDemand(e.root, &kmsv1.RotateKeyOnDemandRequest{KeyId: m.KeyId}); err != nil {
			t.Fatal(err)
		}
	}
	want := e.rotations(t, m.KeyId, "")
	var got []*kmsv1.RotationsListEntry
	marker, pages := "", 0
	for {
		r, err := e.svc.ListKeyRotations(e.root, &kmsv1.ListKeyRotationsRequest{KeyId: m.KeyId, Limit: i32(2), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		got = append(got, r.Rotations...)
		if !r.Truncated {
			if r.NextMarker != "" {
				t.Fatal("NextMarker on the last page")
			}
			break
		}
		marker = r.NextMarker
	}
	if pages != 3 || len(got) != 5 {
		t.Fatalf("%d pages, %d rotations", pages, len(got))
	}
	for i := range want {
		if got[i].KeyMaterialId != want[i].KeyMaterialId {
			t.Fatalf("page order differs at %d", i)
		}
	}
	for _, tc := range []struct {
		req  *kmsv1.ListKeyRotationsRequest
		want string
	}{
		{&kmsv1.ListKeyRotationsRequest{KeyId: m.KeyId, Marker: "bogus"}, wire.InvalidMarker},
		{&kmsv1.ListKeyRotationsRequest{KeyId: m.KeyId, Limit: i32(0)}, wire.Validation},
		{&kmsv1.ListKeyRotationsRequest{KeyId: m.KeyId, Limit: i32(1001)}, wire.Validation},
		{&kmsv1.ListKeyRotationsRequest{KeyId: m.KeyId, IncludeKeyMaterial: "SOME"}, wire.Validation},
	} {
		_, err := e.svc.ListKeyRotations(e.root, tc.req)
		wantType(t, err, tc.want)
	}
}

// Decrypt of a ciphertext under the first of 26 versions (25 on-demand
// rotations, AWS's limit) against one under the only version, and the
// cost of a rotation (material generated in the soft HSM, proposed and
// applied).
func BenchmarkDecryptAfterRotations(b *testing.B) {
	for _, rotations := range []int{0, fsm.MaxOnDemandRotations} {
		b.Run(fmt.Sprint("rotations=", rotations), func(b *testing.B) {
			e := newEnv(b)
			m := e.createKey(b)
			r, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: make([]byte, 32)})
			if err != nil {
				b.Fatal(err)
			}
			for range rotations {
				if _, err := e.svc.RotateKeyOnDemand(e.root, &kmsv1.RotateKeyOnDemandRequest{KeyId: m.KeyId}); err != nil {
					b.Fatal(err)
				}
			}
			req := &kmsv1.DecryptRequest{CiphertextBlob: r.CiphertextBlob}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.svc.Decrypt(e.root, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRotateKeyOnDemand(b *testing.B) {
	e := newEnv(b)
	var key string
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%fsm.MaxOnDemandRotations == 0 {
			b.StopTimer()
			key = e.createKey(b).KeyId
			b.StartTimer()
		}
		if _, err := e.svc.RotateKeyOnDemand(e.root, &kmsv1.RotateKeyOnDemandRequest{KeyId: key}); err != nil {
			b.Fatal(err)
		}
	}
}

// kms:RotationPeriodInDays is EnableKeyRotation's period, 365 when the
// request omits it: a key policy can bound it.
func TestEnableKeyRotationPeriodCondition(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.apply(t, userCmd(acct, "bob"))
	bobMay := stmt("Allow", aws(bobARN), `"kms:EnableKeyRotation"`, `{"NumericLessThanEquals":{"kms:RotationPeriodInDays":"180"}}`)
	for _, tt := range []struct {
		name   string
		period *int32
		want   string
	}{
		{"short enough", i32(90), ""},
		{"too long", i32(181), wire.AccessDenied},
		{"the default is 365", nil, wire.AccessDenied},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := e.createKey(t)
			if _, err := e.svc.PutKeyPolicy(e.root, &kmsv1.PutKeyPolicyRequest{KeyId: m.KeyId, Policy: kp(rootAll, bobMay)}); err != nil {
				t.Fatal(err)
			}
			_, err := e.svc.EnableKeyRotation(e.bob, &kmsv1.EnableKeyRotationRequest{KeyId: m.KeyId, RotationPeriodInDays: tt.period})
			wantType(t, err, tt.want)
		})
	}
}
