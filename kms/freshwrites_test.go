package kms_test

import (
	"context"
	"sync"
	"testing"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/kms"
	"github.com/trentkms/trent/wire"
)

// lagLog is a two-node log: the leader's FSM applies every entry at once,
// the follower's only its own writes and, on a read index, everything the
// leader has (it catches up).
type lagLog struct {
	mu               sync.Mutex
	leader, follower *fsm.FSM
	entries          [][]byte
	followerApplied  int
	readIndexes      int
}

func (l *lagLog) append(cmd []byte) (any, uint64) {
	l.entries = append(l.entries, cmd)
	idx := uint64(len(l.entries))
	return l.leader.Apply(fsm.Entry{Index: idx, Data: cmd}), idx
}

func (l *lagLog) catchUp() {
	for ; l.followerApplied < len(l.entries); l.followerApplied++ {
		i := l.followerApplied
		l.follower.Apply(fsm.Entry{Index: uint64(i + 1), Data: l.entries[i]})
	}
}

// elsewhere is the log as the other node sees it: its writes reach the
// follower only when it catches up.
type elsewhere struct{ *lagLog }

func (e elsewhere) Apply(_ context.Context, cmd []byte) (any, uint64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, idx := e.append(cmd)
	return r, idx, nil
}

func (e elsewhere) ReadIndex(context.Context) (uint64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return uint64(len(e.entries)), nil
}

// Apply is a write through the follower: forwarded, and applied locally
// (with everything before it) before it answers.
func (l *lagLog) Apply(_ context.Context, cmd []byte) (any, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.catchUp()
	_, idx := l.append(cmd)
	l.followerApplied++
	return l.follower.Apply(fsm.Entry{Index: idx, Data: cmd}), idx, nil
}

func (l *lagLog) ReadIndex(context.Context) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.readIndexes++
	l.catchUp()
	return uint64(len(l.entries)), nil
}

// A write on a follower validates against that follower's state, which
// may lag what another node already acknowledged. It must not fail on the
// lag: a key or grant created elsewhere (or a key enabled elsewhere) is
// looked up again on fresh state before the write answers NotFound or
// DisabledException. Found by the Jepsen harness (RevokeGrant answered
// NotFound for a grant created a moment before through another node).
func TestWritesOnALaggingFollowerDoNotFailOnTheLag(t *testing.T) {
	root := identity.NewContext(context.Background(), identity.RootPrincipal("111122223333"))
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, other *kms.Service) (keyID, grantID string)
		write func(svc *kms.Service, keyID, grantID string) error
	}{
		{name: "RevokeGrant of a grant created elsewhere", write: func(svc *kms.Service, k, g string) error {
			_, err := svc.RevokeGrant(root, &kmsv1.RevokeGrantRequest{KeyId: k, GrantId: g})
			return err
		}},
		{name: "RetireGrant of a grant created elsewhere", write: func(svc *kms.Service, k, g string) error {
			_, err := svc.RetireGrant(root, &kmsv1.RetireGrantRequest{KeyId: k, GrantId: g})
			return err
		}},
		{name: "CreateGrant on a key created elsewhere", write: func(svc *kms.Service, k, _ string) error {
			_, err := svc.CreateGrant(root, &kmsv1.CreateGrantRequest{KeyId: k, GranteePrincipal: "arn:aws:iam::111122223333:user/carol", Operations: []string{"Decrypt"}})
			return err
		}},
		{name: "CreateGrant on a key enabled elsewhere", setup: func(t *testing.T, other *kms.Service) (string, string) {
			ck, err := other.CreateKey(root, &kmsv1.CreateKeyRequest{})
			if err != nil {
				t.Fatal(err)
			}
			return ck.KeyMetadata.KeyId, ""
		}, write: func(svc *kms.Service, k, _ string) error {
			_, err := svc.CreateGrant(root, &kmsv1.CreateGrantRequest{KeyId: k, GranteePrincipal: "arn:aws:iam::111122223333:user/carol", Operations: []string{"Decrypt"}})
			return err
		}},
		{name: "UpdateKeyDescription of a key created elsewhere", write: func(svc *kms.Service, k, _ string) error {
			_, err := svc.UpdateKeyDescription(root, &kmsv1.UpdateKeyDescriptionRequest{KeyId: k, Description: "d"})
			return err
		}},
		{name: "DisableKey of a key created elsewhere", write: func(svc *kms.Service, k, _ string) error {
			_, err := svc.DisableKey(root, &kmsv1.DisableKeyRequest{KeyId: k})
			return err
		}},
		{name: "CreateAlias for a key created elsewhere", write: func(svc *kms.Service, k, _ string) error {
			_, err := svc.CreateAlias(root, &kmsv1.CreateAliasRequest{AliasName: "alias/here", TargetKeyId: k})
			return err
		}},
		{name: "UpdateAlias of an alias created elsewhere", write: func(svc *kms.Service, k, _ string) error {
			_, err := svc.UpdateAlias(root, &kmsv1.UpdateAliasRequest{AliasName: "alias/elsewhere", TargetKeyId: k})
			return err
		}},
		{name: "TagResource of a key created elsewhere", write: func(svc *kms.Service, k, _ string) error {
			_, err := svc.TagResource(root, &kmsv1.TagResourceRequest{KeyId: k, Tags: []*kmsv1.Tag{{TagKey: "team", TagValue: "trent"}}})
			return err
		}},
		{name: "UntagResource of a key created elsewhere", write: func(svc *kms.Service, k, _ string) error {
			_, err := svc.UntagResource(root, &kmsv1.UntagResourceRequest{KeyId: k, TagKeys: []string{"team"}})
			return err
		}},
		{name: "DeleteAlias of an alias created elsewhere", write: func(svc *kms.Service, _, _ string) error {
			_, err := svc.DeleteAlias(root, &kmsv1.DeleteAliasRequest{AliasName: "alias/elsewhere"})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, other, follower := lagServices(t)
			var keyID, grantID string
			if tc.setup != nil {
				// The follower has the key, disabled; the other node
				// enabled it since.
				keyID, _ = tc.setup(t, other)
				if _, err := other.DisableKey(root, &kmsv1.DisableKeyRequest{KeyId: keyID}); err != nil {
					t.Fatal(err)
				}
				l.mu.Lock()
				l.catchUp()
				l.mu.Unlock()
				if _, err := other.EnableKey(root, &kmsv1.EnableKeyRequest{KeyId: keyID}); err != nil {
					t.Fatal(err)
				}
			} else {
				ck, err := other.CreateKey(root, &kmsv1.CreateKeyRequest{})
				if err != nil {
					t.Fatal(err)
				}
				keyID = ck.KeyMetadata.KeyId
				g, err := other.CreateGrant(root, &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: "arn:aws:iam::111122223333:user/bob",
					Operations: []string{"Encrypt"}, RetiringPrincipal: "arn:aws:iam::111122223333:root"})
				if err != nil {
					t.Fatal(err)
				}
				grantID = g.GrantId
				if _, err := other.CreateAlias(root, &kmsv1.CreateAliasRequest{AliasName: "alias/elsewhere", TargetKeyId: keyID}); err != nil {
					t.Fatal(err)
				}
			}
			if err := tc.write(follower, keyID, grantID); err != nil {
				t.Fatalf("write on the lagging follower: %v", err)
			}
			if l.readIndexes == 0 {
				t.Fatal("the write never asked for fresh state")
			}
		})
	}

	t.Run("a grant that does not exist is still NotFound", func(t *testing.T) {
		e := newEnv(t)
		k := e.createKey(t)
		_, err := e.svc.RevokeGrant(e.root, &kmsv1.RevokeGrantRequest{KeyId: k.KeyId,
			GrantId: "0000000000000000000000000000000000000000000000000000000000000000"})
		wantType(t, err, wire.NotFound)
	})
}
