package kms_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/trentkms/trent/fsm"
	"github.com/trentkms/trent/fsm/fsmtest"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/kms"
	"github.com/trentkms/trent/wire"
)

const aliasARNPrefix = "arn:aws:kms:us-east-1:111122223333:"

func (e *env) createAlias(t *testing.T, name, target string) {
	t.Helper()
	if _, err := e.svc.CreateAlias(e.root, &kmsv1.CreateAliasRequest{AliasName: name, TargetKeyId: target}); err != nil {
		t.Fatalf("CreateAlias %s: %v", name, err)
	}
}

// wantError checks the type and the exact message of err.
func wantError(t *testing.T, err error, typ, msg string) {
	t.Helper()
	wantType(t, err, typ)
	if got := message(t, err); got != msg {
		t.Fatalf("message %q, want %q", got, msg)
	}
}

// Every bad request gets AWS's error and changes nothing.
func TestAliasValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	other := e.createKey(t)
	e.createAlias(t, "alias/taken", m.KeyId)
	pending := e.createKey(t)
	e.apply(t, &fsm.ScheduleKeyDeletion{KeyID: pending.KeyId, DeletionDate: 1, PendingWindowInDays: 7})
	full := e.createKey(t)
	for i := range 50 {
		e.createAlias(t, fmt.Sprintf("alias/full-%02d", i), full.KeyId)
	}
	create := func(name, target string) error {
		_, err := e.svc.CreateAlias(e.root, &kmsv1.CreateAliasRequest{AliasName: name, TargetKeyId: target})
		return err
	}
	update := func(name, target string) error {
		_, err := e.svc.UpdateAlias(e.root, &kmsv1.UpdateAliasRequest{AliasName: name, TargetKeyId: target})
		return err
	}
	del := func(name, _ string) error {
		_, err := e.svc.DeleteAlias(e.root, &kmsv1.DeleteAliasRequest{AliasName: name})
		return err
	}
	long := "alias/" + strings.Repeat("a", 251)
	tests := []struct {
		name       string
		op         func(name, target string) error
		alias, key string
		want       string
	}{
		{"empty name", create, "", m.KeyId, wire.Validation},
		{"no prefix", create, "x", m.KeyId, wire.Validation},
		{"other prefix", create, "aliasx/y", m.KeyId, wire.Validation},
		{"space", create, "alias/a b", m.KeyId, wire.Validation},
		{"dot", create, "alias/a.b", m.KeyId, wire.Validation},
		{"non-ASCII", create, "alias/é", m.KeyId, wire.Validation},
		{"colon", create, "alias/a:b", m.KeyId, wire.Validation},
		{"prefix only", create, "alias/", m.KeyId, wire.Validation},
		{"too long", create, long, m.KeyId, wire.Validation},
		{"reserved", create, "alias/aws/s3", m.KeyId, wire.InvalidAliasName},
		{"taken", create, "alias/taken", other.KeyId, wire.AlreadyExists},
		{"no target", create, "alias/new", "", wire.Validation},
		{"alias target", create, "alias/new", "alias/taken", wire.Validation},
		{"alias ARN target", create, "alias/new", aliasARNPrefix + "alias/taken", wire.Validation},
		{"unknown target", create, "alias/new", "11111111-2222-3333-4444-555555555555", wire.NotFound},
		{"pending deletion target", create, "alias/new", pending.KeyId, wire.KMSInvalidState},
		{"51st alias", create, "alias/new", full.KeyId, wire.LimitExceeded},
		{"update bad name", update, "taken", m.KeyId, wire.Validation},
		{"update missing", update, "alias/missing", m.KeyId, wire.NotFound},
		{"update to alias", update, "alias/taken", "alias/taken", wire.Validation},
		{"update to pending deletion", update, "alias/taken", pending.KeyId, wire.KMSInvalidState},
		{"update to full key", update, "alias/taken", full.KeyId, wire.LimitExceeded},
		{"delete bad name", del, "alias/a b", "", wire.Validation},
		{"delete missing", del, "alias/missing", "", wire.NotFound},
	}
	before := snapshot(t, e.fsm)
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			wantType(t, tt.op(tt.alias, tt.key), tt.want)
		})
	}
	if after := snapshot(t, e.fsm); string(after) != string(before) {
		t.Fatal("a refused alias request changed the state")
	}
	if len(long) != 257 {
		t.Fatalf("long name is %d bytes", len(long))
	}
	// A 256-byte name is fine.
	e.createAlias(t, long[:256], m.KeyId)
	wantError(t, create("alias/taken", m.KeyId), wire.AlreadyExists,
		"An alias with the name "+aliasARNPrefix+"alias/taken already exists")
	wantError(t, update("alias/missing", m.KeyId), wire.NotFound, "Alias "+aliasARNPrefix+"alias/missing is not found.")
}

// Aliases resolve exactly where AWS accepts them (cryptographic operations
// and DescribeKey) and are refused with InvalidArnException elsewhere.
func TestAliasResolution(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	e.createAlias(t, "alias/app", m.KeyId)
	for _, id := range []string{"alias/app", aliasARNPrefix + "alias/app"} {
		enc, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("hi")})
		if err != nil {
			t.Fatalf("Encrypt %s: %v", id, err)
		}
		if enc.KeyId != m.Arn {
			t.Fatalf("Encrypt with %s answered key %s, want %s", id, enc.KeyId, m.Arn)
		}
		dec, err := e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{KeyId: id, CiphertextBlob: enc.CiphertextBlob})
		if err != nil || string(dec.Plaintext) != "hi" || dec.KeyId != m.Arn {
			t.Fatalf("Decrypt with %s: %v %v", id, dec, err)
		}
		if _, err := e.svc.GenerateDataKey(e.root, &kmsv1.GenerateDataKeyRequest{KeyId: id, KeySpec: "AES_256"}); err != nil {
			t.Fatalf("GenerateDataKey %s: %v", id, err)
		}
		if _, err := e.svc.GenerateDataKeyWithoutPlaintext(e.root, &kmsv1.GenerateDataKeyWithoutPlaintextRequest{KeyId: id, KeySpec: "AES_256"}); err != nil {
			t.Fatalf("GenerateDataKeyWithoutPlaintext %s: %v", id, err)
		}
		d, err := e.svc.DescribeKey(e.root, &kmsv1.DescribeKeyRequest{KeyId: id})
		if err != nil || d.KeyMetadata.KeyId != m.KeyId {
			t.Fatalf("DescribeKey %s: %v %v", id, d, err)
		}
	}
	// An alias of another key in Decrypt's KeyId is the wrong key.
	other := e.createKey(t)
	e.createAlias(t, "alias/other", other.KeyId)
	enc, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("hi")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{KeyId: "alias/other", CiphertextBlob: enc.CiphertextBlob})
	wantType(t, err, wire.IncorrectKey)

	// Unknown aliases, by name and by ARN; an alias ARN of another region.
	_, err = e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: "alias/nope", Plaintext: []byte("hi")})
	wantError(t, err, wire.NotFound, "Alias "+aliasARNPrefix+"alias/nope is not found.")
	_, err = e.svc.DescribeKey(e.root, &kmsv1.DescribeKeyRequest{KeyId: aliasARNPrefix + "alias/nope"})
	wantError(t, err, wire.NotFound, "Alias "+aliasARNPrefix+"alias/nope is not found.")
	_, err = e.svc.DescribeKey(e.root, &kmsv1.DescribeKeyRequest{KeyId: "arn:aws:kms:eu-west-1:111122223333:alias/app"})
	wantType(t, err, wire.NotFound)

	// Operations that take only a key id or key ARN refuse both forms.
	refusing := map[string]func(id string) error{
		"CreateGrant": func(id string) error {
			_, err := e.svc.CreateGrant(e.root, &kmsv1.CreateGrantRequest{KeyId: id, GranteePrincipal: "arn:aws:iam::111122223333:user/bob", Operations: []string{"Decrypt"}})
			return err
		},
		"ListGrants": func(id string) error {
			_, err := e.svc.ListGrants(e.root, &kmsv1.ListGrantsRequest{KeyId: id})
			return err
		},
		"EnableKey": func(id string) error {
			_, err := e.svc.EnableKey(e.root, &kmsv1.EnableKeyRequest{KeyId: id})
			return err
		},
		"DisableKey": func(id string) error {
			_, err := e.svc.DisableKey(e.root, &kmsv1.DisableKeyRequest{KeyId: id})
			return err
		},
		"UpdateKeyDescription": func(id string) error {
			_, err := e.svc.UpdateKeyDescription(e.root, &kmsv1.UpdateKeyDescriptionRequest{KeyId: id, Description: "x"})
			return err
		},
		"GetKeyPolicy": func(id string) error {
			_, err := e.svc.GetKeyPolicy(e.root, &kmsv1.GetKeyPolicyRequest{KeyId: id})
			return err
		},
		"PutKeyPolicy": func(id string) error {
			_, err := e.svc.PutKeyPolicy(e.root, &kmsv1.PutKeyPolicyRequest{KeyId: id, Policy: kp(rootAll)})
			return err
		},
		"ListKeyPolicies": func(id string) error {
			_, err := e.svc.ListKeyPolicies(e.root, &kmsv1.ListKeyPoliciesRequest{KeyId: id})
			return err
		},
		"ListAliases": func(id string) error {
			_, err := e.svc.ListAliases(e.root, &kmsv1.ListAliasesRequest{KeyId: id})
			return err
		},
	}
	before := snapshot(t, e.fsm)
	for op, call := range refusing {
		for _, id := range []string{"alias/app", aliasARNPrefix + "alias/app"} {
			t.Run(op, func(t *testing.T) {
				wantError(t, call(id), wire.InvalidArn, "Key Aliases are not supported for this operation.")
			})
		}
	}
	if string(snapshot(t, e.fsm)) != string(before) {
		t.Fatal("a refused request changed the state")
	}
}

func TestUpdateAndDeleteAlias(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.createKey(t), e.createKey(t)
	e.createAlias(t, "alias/app", a.KeyId)
	if _, err := e.svc.UpdateAlias(e.root, &kmsv1.UpdateAliasRequest{AliasName: "alias/app", TargetKeyId: b.Arn}); err != nil {
		t.Fatal(err)
	}
	d, err := e.svc.DescribeKey(e.root, &kmsv1.DescribeKeyRequest{KeyId: "alias/app"})
	if err != nil || d.KeyMetadata.KeyId != b.KeyId {
		t.Fatalf("after UpdateAlias: %v %v", d, err)
	}
	// The old key may be pending deletion; the alias moves away from it.
	e.apply(t, &fsm.ScheduleKeyDeletion{KeyID: b.KeyId, DeletionDate: 1, PendingWindowInDays: 7})
	if _, err := e.svc.UpdateAlias(e.root, &kmsv1.UpdateAliasRequest{AliasName: "alias/app", TargetKeyId: a.KeyId}); err != nil {
		t.Fatal(err)
	}
	l, err := e.svc.ListAliases(e.root, &kmsv1.ListAliasesRequest{})
	if err != nil || len(l.Aliases) != 1 {
		t.Fatalf("list: %v %v", l, err)
	}
	got := l.Aliases[0]
	if got.AliasName != "alias/app" || got.AliasArn != aliasARNPrefix+"alias/app" || got.TargetKeyId != a.KeyId ||
		got.CreationDate <= 0 || got.LastUpdatedDate < got.CreationDate {
		t.Fatalf("entry %v", got)
	}
	if _, err := e.svc.DeleteAlias(e.root, &kmsv1.DeleteAliasRequest{AliasName: "alias/app"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: "alias/app", Plaintext: []byte("x")})
	wantType(t, err, wire.NotFound)
	if _, err := e.svc.DescribeKey(e.root, &kmsv1.DescribeKeyRequest{KeyId: a.KeyId}); err != nil {
		t.Fatalf("deleting an alias touched its key: %v", err)
	}
}

func TestListAliasesPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.createKey(t), e.createKey(t)
	for i := range 5 {
		target := a.KeyId
		if i%2 == 1 {
			target = b.KeyId
		}
		e.createAlias(t, fmt.Sprintf("alias/a%d", i), target)
	}
	var names []string
	marker := ""
	for pages := 0; ; pages++ {
		r, err := e.svc.ListAliases(e.root, &kmsv1.ListAliasesRequest{Limit: i32(2), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, al := range r.Aliases {
			names = append(names, al.AliasName)
		}
		if r.Truncated != (r.NextMarker != "") || pages > 5 {
			t.Fatalf("page %d: truncated=%v marker=%q", pages, r.Truncated, r.NextMarker)
		}
		if !r.Truncated {
			break
		}
		marker = r.NextMarker
	}
	if strings.Join(names, " ") != "alias/a0 alias/a1 alias/a2 alias/a3 alias/a4" {
		t.Fatalf("pages gave %v", names)
	}
	r, err := e.svc.ListAliases(e.root, &kmsv1.ListAliasesRequest{KeyId: b.Arn})
	if err != nil || len(r.Aliases) != 2 || r.Aliases[0].AliasName != "alias/a1" || r.Aliases[1].AliasName != "alias/a3" || r.Truncated {
		t.Fatalf("KeyId filter: %v %v", r, err)
	}
	r, err = e.svc.ListAliases(e.root, &kmsv1.ListAliasesRequest{})
	if err != nil || len(r.Aliases) != 5 || r.Truncated || r.NextMarker != "" {
		t.Fatalf("default limit: %v %v", r, err)
	}
	for _, tc := range []struct {
		req  *kmsv1.ListAliasesRequest
		want string
	}{
		{&kmsv1.ListAliasesRequest{Limit: i32(0)}, wire.Validation},
		{&kmsv1.ListAliasesRequest{Limit: i32(101)}, wire.Validation},
		{&kmsv1.ListAliasesRequest{Limit: i32(100)}, ""},
		{&kmsv1.ListAliasesRequest{Marker: "not-a-marker"}, wire.InvalidMarker},
		{&kmsv1.ListAliasesRequest{KeyId: "11111111-2222-3333-4444-555555555555"}, wire.NotFound},
	} {
		_, err := e.svc.ListAliases(e.root, tc.req)
		wantType(t, err, tc.want)
	}
	// Another account sees none of them.
	_, err = e.svc.ListAliases(as(t, "arn:aws:iam::444455556666:root"), &kmsv1.ListAliasesRequest{})
	wantType(t, err, "")
}

// Concurrent creates of one name: exactly one wins, the others are told
// the alias exists.
func TestConcurrentCreateAliasOneWins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	keys := []string{e.createKey(t).KeyId, e.createKey(t).KeyId}
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.svc.CreateAlias(e.root, &kmsv1.CreateAliasRequest{AliasName: "alias/race", TargetKeyId: keys[i%2]})
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
			continue
		}
		wantType(t, err, wire.AlreadyExists)
	}
	if wins != 1 {
		t.Fatalf("%d creates won, want 1", wins)
	}
}

// CreateAlias needs the action on the alias (identity policy) and on the
// key; UpdateAlias on the alias and both keys; ListAliases from identity
// policies only.
func TestAliasAuthorization(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.createKey(t), e.createKey(t)
	e.apply(t, userCmd(acct, "bob"))
	bob := as(t, "arn:aws:iam::111122223333:user/bob")
	create := func() error {
		_, err := e.svc.CreateAlias(bob, &kmsv1.CreateAliasRequest{AliasName: "alias/bob", TargetKeyId: a.KeyId})
		return err
	}
	// Only the key: refused on the alias.
	e.apply(t, identityPolicyCmd(acct, "user", "bob", "p", ident("Allow", `"kms:CreateAlias"`, `"`+a.Arn+`"`, "")))
	err := create()
	wantError(t, err, wire.AccessDenied, "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:CreateAlias on resource: "+
		aliasARNPrefix+"alias/bob because no resource-based policy allows the kms:CreateAlias action")
	// Only the alias: refused on the key.
	e.apply(t, identityPolicyCmd(acct, "user", "bob", "p", ident("Allow", `"kms:CreateAlias"`, `"`+aliasARNPrefix+`alias/bob*"`, "")))
	err = create()
	wantType(t, err, wire.AccessDenied)
	if !strings.Contains(message(t, err), a.Arn) {
		t.Fatalf("denial should name the key: %v", err)
	}
	// Both.
	e.apply(t, identityPolicyCmd(acct, "user", "bob", "p", ident("Allow", `"kms:CreateAlias"`, `["`+aliasARNPrefix+`alias/bob*","`+a.Arn+`"]`, "")))
	if err := create(); err != nil {
		t.Fatal(err)
	}
	// UpdateAlias needs the alias, the old and the new key.
	update := func() error {
		_, err := e.svc.UpdateAlias(bob, &kmsv1.UpdateAliasRequest{AliasName: "alias/bob", TargetKeyId: b.KeyId})
		return err
	}
	e.apply(t, identityPolicyCmd(acct, "user", "bob", "p", ident("Allow", `"kms:UpdateAlias"`, `["`+aliasARNPrefix+`alias/bob","`+b.Arn+`"]`, "")))
	wantType(t, update(), wire.AccessDenied)
	e.apply(t, identityPolicyCmd(acct, "user", "bob", "p", ident("Allow", `"kms:UpdateAlias"`, `["`+aliasARNPrefix+`alias/bob","`+a.Arn+`"]`, "")))
	wantType(t, update(), wire.AccessDenied)
	e.apply(t, identityPolicyCmd(acct, "user", "bob", "p", ident("Allow", `"kms:UpdateAlias"`, `["`+aliasARNPrefix+`alias/bob","`+a.Arn+`","`+b.Arn+`"]`, "")))
	if err := update(); err != nil {
		t.Fatal(err)
	}
	// DeleteAlias: alias and its (now new) key.
	e.apply(t, identityPolicyCmd(acct, "user", "bob", "p", ident("Allow", `"kms:DeleteAlias"`, `["`+aliasARNPrefix+`alias/bob","`+a.Arn+`"]`, "")))
	_, err = e.svc.DeleteAlias(bob, &kmsv1.DeleteAliasRequest{AliasName: "alias/bob"})
	wantType(t, err, wire.AccessDenied)
	// ListAliases: identity policy only.
	_, err = e.svc.ListAliases(bob, &kmsv1.ListAliasesRequest{})
	wantType(t, err, wire.AccessDenied)
	e.apply(t, identityPolicyCmd(acct, "user", "bob", "p", ident("Allow", `"kms:ListAliases"`, `"*"`, "")))
	_, err = e.svc.ListAliases(bob, &kmsv1.ListAliasesRequest{})
	wantType(t, err, "")
	// A key of another account cannot be the target.
	e2 := e.createKey(t)
	_, err = e.svc.CreateAlias(as(t, "arn:aws:iam::444455556666:root"), &kmsv1.CreateAliasRequest{AliasName: "alias/x", TargetKeyId: e2.Arn})
	wantType(t, err, wire.AccessDenied)
}

// UpdateAlias refuses a key of another type or key usage than the one the
// alias points at (reference 5.3), and changes nothing.
func TestUpdateAliasRefusesAnotherKindOfKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	e.createAlias(t, "alias/app", m.KeyId)
	// Trent cannot create HMAC keys yet; the state machine can hold one.
	hmacID := "0000abcd-12ab-44cd-86ef-1234567890ab"
	e.apply(t, &fsm.CreateKey{Key: fsm.Key{ID: hmacID, ARN: "arn:aws:kms:us-east-1:111122223333:key/" + hmacID,
		Account: "111122223333", KeySpec: "HMAC_256", KeyUsage: "GENERATE_VERIFY_MAC", Origin: "AWS_KMS", State: fsm.Enabled}})
	_, err := e.svc.UpdateAlias(e.root, &kmsv1.UpdateAliasRequest{AliasName: "alias/app", TargetKeyId: hmacID})
	wantType(t, err, wire.Validation)
	if a, _ := e.fsm.Alias("111122223333", "alias/app"); a.KeyID != m.KeyId {
		t.Fatalf("alias moved to %s", a.KeyID)
	}
}

// racingLog is the log with one concurrent write: just before the first
// command of op it is asked to replicate, it applies first.
type racingLog struct {
	*fsmtest.Log
	op    fsm.Op
	first fsm.Command
	done  bool
}

func (l *racingLog) Apply(ctx context.Context, cmd []byte) (any, uint64, error) {
	if c, err := fsm.Decode(cmd); err == nil && c.Op() == l.op && !l.done {
		l.done = true
		if _, _, err := fsm.Apply(ctx, l.Log, l.first); err != nil {
			return nil, 0, err
		}
	}
	return l.Log.Apply(ctx, cmd)
}

// An alias moved by someone else between the authorization of an
// UpdateAlias or DeleteAlias (on the key it pointed at) and the apply of
// its command is not changed on the strength of that key: the command is
// refused at apply time and the call decided again, on the key the alias
// points at now.
func TestAliasChangesAreDecidedOnTheCurrentTarget(t *testing.T) {
	t.Parallel()
	for _, op := range []fsm.Op{fsm.OpDeleteAlias, fsm.OpUpdateAlias} {
		t.Run(string(op), func(t *testing.T) {
			t.Parallel()
			var rl *racingLog
			e := newEnvMax(t, nil, 20, func(c *kms.Config) {
				rl = &racingLog{Log: c.Log.(*fsmtest.Log), op: op}
				c.Log = rl
			})
			mine, theirs, third := e.createKey(t), e.createKey(t), e.createKey(t)
			e.createAlias(t, "alias/shared", mine.KeyId)
			// Bob may change aliases of his key (and the third), not of theirs.
			bobMay := kp(rootAll, stmt("Allow", aws(bobARN), `["kms:UpdateAlias","kms:DeleteAlias"]`, ""))
			e.apply(t, userCmd(acct, "bob"), keyPolicyCmd(mine.KeyId, bobMay), keyPolicyCmd(third.KeyId, bobMay),
				identityPolicyCmd(acct, "user", "bob", "p", ident("Allow", `["kms:UpdateAlias","kms:DeleteAlias"]`,
					`["`+aliasARNPrefix+`alias/shared","`+mine.Arn+`","`+third.Arn+`"]`, "")))
			rl.first = &fsm.UpdateAlias{Account: acct, Name: "alias/shared", ARN: aliasARNPrefix + "alias/shared",
				KeyID: theirs.KeyId, Date: 2, MaxAliasesPerKey: 50}
			var err error
			if op == fsm.OpDeleteAlias {
				_, err = e.svc.DeleteAlias(e.bob, &kmsv1.DeleteAliasRequest{AliasName: "alias/shared"})
			} else {
				_, err = e.svc.UpdateAlias(e.bob, &kmsv1.UpdateAliasRequest{AliasName: "alias/shared", TargetKeyId: third.KeyId})
			}
			wantType(t, err, wire.AccessDenied)
			if !strings.Contains(message(t, err), theirs.Arn) {
				t.Fatalf("denied on the wrong key: %v", err)
			}
			if a, ok := e.fsm.Alias(acct, "alias/shared"); !ok || a.KeyID != theirs.KeyId {
				t.Fatalf("alias after the race: %+v", a)
			}
		})
	}
}
