package kms_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/wire"
)

// stateKey is a key set up for one cell of the key-state table: made
// while Enabled, with a ciphertext, a grant, an alias and a tag, then put
// in the cell's state.
type stateKey struct {
	e     *env
	m     *kmsv1.KeyMetadata
	other *kmsv1.KeyMetadata // an Enabled key of the same account
	blob  []byte             // encrypted under m while it was Enabled
	grant *kmsv1.CreateGrantResponse
	alias string // points at m
}

// keyStateOps are the operations that take an existing key, each called
// on a key in the state under test. Rotation and deletion operations are
// tested with their own tables.
var keyStateOps = []struct {
	name string
	call func(k *stateKey) error
}{
	{"CreateAlias", func(k *stateKey) error {
		_, err := k.e.svc.CreateAlias(k.e.root, &kmsv1.CreateAliasRequest{AliasName: "alias/new", TargetKeyId: k.m.KeyId})
		return err
	}},
	{"UpdateAlias to the key", func(k *stateKey) error {
		_, err := k.e.svc.CreateAlias(k.e.root, &kmsv1.CreateAliasRequest{AliasName: "alias/elsewhere", TargetKeyId: k.other.KeyId})
		if err != nil {
			return err
		}
		_, err = k.e.svc.UpdateAlias(k.e.root, &kmsv1.UpdateAliasRequest{AliasName: "alias/elsewhere", TargetKeyId: k.m.KeyId})
		return err
	}},
	{"UpdateAlias from the key", func(k *stateKey) error {
		_, err := k.e.svc.UpdateAlias(k.e.root, &kmsv1.UpdateAliasRequest{AliasName: k.alias, TargetKeyId: k.other.KeyId})
		return err
	}},
	{"DeleteAlias", func(k *stateKey) error {
		_, err := k.e.svc.DeleteAlias(k.e.root, &kmsv1.DeleteAliasRequest{AliasName: k.alias})
		return err
	}},
	{"ListAliases", func(k *stateKey) error {
		_, err := k.e.svc.ListAliases(k.e.root, &kmsv1.ListAliasesRequest{KeyId: k.m.KeyId})
		return err
	}},
	{"CreateGrant", func(k *stateKey) error {
		_, err := k.e.svc.CreateGrant(k.e.root, &kmsv1.CreateGrantRequest{KeyId: k.m.KeyId, GranteePrincipal: carolARN, Operations: []string{"Decrypt"}})
		return err
	}},
	{"ListGrants", func(k *stateKey) error {
		_, err := k.e.svc.ListGrants(k.e.root, &kmsv1.ListGrantsRequest{KeyId: k.m.KeyId})
		return err
	}},
	{"RetireGrant", func(k *stateKey) error {
		_, err := k.e.svc.RetireGrant(k.e.root, &kmsv1.RetireGrantRequest{KeyId: k.m.Arn, GrantId: k.grant.GrantId})
		return err
	}},
	{"RevokeGrant", func(k *stateKey) error {
		_, err := k.e.svc.RevokeGrant(k.e.root, &kmsv1.RevokeGrantRequest{KeyId: k.m.KeyId, GrantId: k.grant.GrantId})
		return err
	}},
	{"Decrypt", func(k *stateKey) error {
		_, err := k.e.svc.Decrypt(k.e.root, &kmsv1.DecryptRequest{CiphertextBlob: k.blob})
		return err
	}},
	{"DescribeKey", func(k *stateKey) error {
		_, err := k.e.svc.DescribeKey(k.e.root, &kmsv1.DescribeKeyRequest{KeyId: k.m.KeyId})
		return err
	}},
	{"DisableKey", func(k *stateKey) error {
		_, err := k.e.svc.DisableKey(k.e.root, &kmsv1.DisableKeyRequest{KeyId: k.m.KeyId})
		return err
	}},
	{"EnableKey", func(k *stateKey) error {
		_, err := k.e.svc.EnableKey(k.e.root, &kmsv1.EnableKeyRequest{KeyId: k.m.KeyId})
		return err
	}},
	{"Encrypt", func(k *stateKey) error {
		_, err := k.e.svc.Encrypt(k.e.root, &kmsv1.EncryptRequest{KeyId: k.m.KeyId, Plaintext: []byte("x")})
		return err
	}},
	{"GenerateDataKey", func(k *stateKey) error {
		_, err := k.e.svc.GenerateDataKey(k.e.root, &kmsv1.GenerateDataKeyRequest{KeyId: k.m.KeyId, KeySpec: "AES_256"})
		return err
	}},
	{"GenerateDataKeyWithoutPlaintext", func(k *stateKey) error {
		_, err := k.e.svc.GenerateDataKeyWithoutPlaintext(k.e.root, &kmsv1.GenerateDataKeyWithoutPlaintextRequest{KeyId: k.m.KeyId, KeySpec: "AES_256"})
		return err
	}},
	{"GetKeyPolicy", func(k *stateKey) error {
		_, err := k.e.svc.GetKeyPolicy(k.e.root, &kmsv1.GetKeyPolicyRequest{KeyId: k.m.KeyId})
		return err
	}},
	{"ListKeyPolicies", func(k *stateKey) error {
		_, err := k.e.svc.ListKeyPolicies(k.e.root, &kmsv1.ListKeyPoliciesRequest{KeyId: k.m.KeyId})
		return err
	}},
	{"PutKeyPolicy", func(k *stateKey) error {
		_, err := k.e.svc.PutKeyPolicy(k.e.root, &kmsv1.PutKeyPolicyRequest{KeyId: k.m.KeyId, Policy: kp(rootAll)})
		return err
	}},
	{"ReEncrypt from the key", func(k *stateKey) error {
		_, err := k.e.svc.ReEncrypt(k.e.root, &kmsv1.ReEncryptRequest{CiphertextBlob: k.blob, DestinationKeyId: k.other.KeyId})
		return err
	}},
	{"ReEncrypt to the key", func(k *stateKey) error {
		enc, err := k.e.svc.Encrypt(k.e.root, &kmsv1.EncryptRequest{KeyId: k.other.KeyId, Plaintext: []byte("x")})
		if err != nil {
			return err
		}
		_, err = k.e.svc.ReEncrypt(k.e.root, &kmsv1.ReEncryptRequest{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: k.m.KeyId})
		return err
	}},
	{"ListResourceTags", func(k *stateKey) error {
		_, err := k.e.svc.ListResourceTags(k.e.root, &kmsv1.ListResourceTagsRequest{KeyId: k.m.KeyId})
		return err
	}},
	{"TagResource", func(k *stateKey) error {
		_, err := k.e.svc.TagResource(k.e.root, &kmsv1.TagResourceRequest{KeyId: k.m.KeyId, Tags: []*kmsv1.Tag{{TagKey: "b", TagValue: "2"}}})
		return err
	}},
	{"UntagResource", func(k *stateKey) error {
		_, err := k.e.svc.UntagResource(k.e.root, &kmsv1.UntagResourceRequest{KeyId: k.m.KeyId, TagKeys: []string{"a"}})
		return err
	}},
	{"UpdateKeyDescription", func(k *stateKey) error {
		_, err := k.e.svc.UpdateKeyDescription(k.e.root, &kmsv1.UpdateKeyDescriptionRequest{KeyId: k.m.KeyId, Description: "d"})
		return err
	}},
}

// The AWS errors of the key-state table (reference 4.3) and their
// messages, after the key ARN.
const (
	succeeds       = ""
	disabled       = wire.Disabled + ": is disabled."                // [1]
	pendingDeletes = wire.KMSInvalidState + ": is pending deletion." // [3]; [2] allows DisabledException for cryptography, AWS and emulators answer this
	pendingImport  = wire.KMSInvalidState + ": is pending import."   // [5]
)

// keyStateTable is the reference table for the operations above, in the
// states Enabled, Disabled, PendingDeletion and PendingImport.
var keyStateTable = map[string][4]string{
	"CreateAlias":                     {succeeds, succeeds, pendingDeletes, succeeds},
	"UpdateAlias to the key":          {succeeds, succeeds, pendingDeletes, succeeds}, // [10]: the new target may not be pending deletion
	"UpdateAlias from the key":        {succeeds, succeeds, succeeds, succeeds},       // [10]: the old one may
	"DeleteAlias":                     {succeeds, succeeds, succeeds, succeeds},
	"ListAliases":                     {succeeds, succeeds, succeeds, succeeds},
	"CreateGrant":                     {succeeds, disabled, pendingDeletes, pendingImport},
	"ListGrants":                      {succeeds, succeeds, succeeds, succeeds},
	"RetireGrant":                     {succeeds, succeeds, succeeds, succeeds},
	"RevokeGrant":                     {succeeds, succeeds, succeeds, succeeds},
	"Decrypt":                         {succeeds, disabled, pendingDeletes, pendingImport},
	"DescribeKey":                     {succeeds, succeeds, succeeds, succeeds},
	"DisableKey":                      {succeeds, succeeds, pendingDeletes, pendingImport},
	"EnableKey":                       {succeeds, succeeds, pendingDeletes, pendingImport},
	"Encrypt":                         {succeeds, disabled, pendingDeletes, pendingImport},
	"GenerateDataKey":                 {succeeds, disabled, pendingDeletes, pendingImport},
	"GenerateDataKeyWithoutPlaintext": {succeeds, disabled, pendingDeletes, pendingImport},
	"GetKeyPolicy":                    {succeeds, succeeds, succeeds, succeeds},
	"ListKeyPolicies":                 {succeeds, succeeds, succeeds, succeeds},
	"PutKeyPolicy":                    {succeeds, succeeds, succeeds, succeeds},
	"ReEncrypt from the key":          {succeeds, disabled, pendingDeletes, pendingImport},
	"ReEncrypt to the key":            {succeeds, disabled, pendingDeletes, pendingImport},
	"ListResourceTags":                {succeeds, succeeds, succeeds, succeeds},
	"TagResource":                     {succeeds, succeeds, pendingDeletes, succeeds},
	"UntagResource":                   {succeeds, succeeds, pendingDeletes, succeeds},
	"UpdateKeyDescription":            {succeeds, succeeds, pendingDeletes, succeeds},
}

var keyStates = [4]fsm.KeyState{fsm.Enabled, fsm.Disabled, fsm.PendingDeletion, fsm.PendingImport}

// TestKeyStateTable calls every operation on a key in every state and
// checks AWS's answer: success, or the exact error name and message.
func TestKeyStateTable(t *testing.T) {
	t.Parallel()
	if len(keyStateTable) != len(keyStateOps) {
		t.Fatalf("%d table rows for %d operations", len(keyStateTable), len(keyStateOps))
	}
	for si, state := range keyStates {
		t.Run(string(state), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			other := e.createKey(t)
			for i, op := range keyStateOps {
				want, found := keyStateTable[op.name]
				if !found {
					t.Fatalf("no table row for %s", op.name)
				}
				t.Run(strings.ReplaceAll(op.name, " ", "_"), func(t *testing.T) {
					k := newStateKey(t, e, other, i, state)
					err := op.call(k)
					if want[si] == succeeds {
						if err != nil {
							t.Fatalf("%s on a %s key: %v, want success", op.name, state, err)
						}
						return
					}
					typ, msg, _ := strings.Cut(want[si], ": ")
					wantError(t, err, typ, k.m.Arn+" "+msg)
				})
			}
		})
	}
}

// newStateKey makes a key with a ciphertext, a grant, an alias and a tag,
// and puts it in state.
func newStateKey(t *testing.T, e *env, other *kmsv1.KeyMetadata, i int, state fsm.KeyState) *stateKey {
	t.Helper()
	k := &stateKey{e: e, m: e.createKey(t), other: other, alias: "alias/k" + strings.Repeat("x", i)}
	enc, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: k.m.KeyId, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	k.blob = enc.CiphertextBlob
	k.grant = e.grant(t, e.root, &kmsv1.CreateGrantRequest{KeyId: k.m.KeyId, GranteePrincipal: bobARN,
		RetiringPrincipal: "arn:aws:iam::111122223333:root", Operations: []string{"Encrypt"}})
	e.createAlias(t, k.alias, k.m.KeyId)
	if _, err := e.svc.TagResource(e.root, &kmsv1.TagResourceRequest{KeyId: k.m.KeyId, Tags: []*kmsv1.Tag{{TagKey: "a", TagValue: "1"}}}); err != nil {
		t.Fatal(err)
	}
	switch state {
	case fsm.Disabled:
		if _, err := e.svc.DisableKey(e.root, &kmsv1.DisableKeyRequest{KeyId: k.m.KeyId}); err != nil {
			t.Fatal(err)
		}
	case fsm.PendingDeletion:
		e.apply(t, &fsm.ScheduleKeyDeletion{KeyID: k.m.KeyId, DeletionDate: 1 << 50, PendingWindowInDays: 7})
	case fsm.PendingImport:
		setState(t, e, k.m.KeyId, fsm.PendingImport)
	}
	if got := e.keyState(t, k.m.KeyId); got != state {
		t.Fatalf("key is %s, want %s", got, state)
	}
	return k
}

func (e *env) keyState(t *testing.T, id string) fsm.KeyState {
	t.Helper()
	k, ok := e.fsm.Key(id)
	if !ok {
		t.Fatalf("no key %s", id)
	}
	return k.State
}

// setState puts an Enabled key in a state that no operation reaches yet
// (PendingImport: Trent cannot import key material yet) by rewriting the
// key's state in a snapshot of the FSM and restoring it.
func setState(t *testing.T, e *env, id string, state fsm.KeyState) {
	t.Helper()
	s, err := e.fsm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Persist(&buf); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(buf.Bytes(), []byte("\n"))
	found := false
	for i, l := range lines {
		if bytes.HasPrefix(l, []byte(`{"key":{"id":"`+id+`"`)) {
			lines[i] = bytes.Replace(l, []byte(`"state":"Enabled"`), []byte(`"state":"`+state+`"`), 1)
			found = !bytes.Equal(lines[i], l)
		}
	}
	if !found {
		t.Fatalf("key %s is not an Enabled key of the snapshot", id)
	}
	if err := e.fsm.Restore(bytes.NewReader(bytes.Join(lines, []byte("\n")))); err != nil {
		t.Fatal(err)
	}
}
