package kms_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/hsm/soft"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/kms"
	"github.com/trentkms/trent/wire"
)

// A Decrypt on a follower that lags must not refuse a genuine ciphertext
// because the key or key version it names has not reached the follower
// yet: it looks again on fresh state. Found by the Jepsen harness under
// slow links (a Decrypt 25 ms after an Encrypt under a just-rotated key
// answered InvalidCiphertextException).
func TestDecryptOnALaggingFollowerDoesNotFailOnTheLag(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rotate bool // the key is on the follower; its new version is not
	}{
		{"a key version made elsewhere", true},
		{"a key made elsewhere", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, other, follower := lagServices(t)
			root := identity.NewContext(context.Background(), identity.RootPrincipal("111122223333"))
			ck, err := other.CreateKey(root, &kmsv1.CreateKeyRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.rotate {
				l.mu.Lock()
				l.catchUp()
				l.mu.Unlock()
				if _, err := other.RotateKeyOnDemand(root, &kmsv1.RotateKeyOnDemandRequest{KeyId: ck.KeyMetadata.KeyId}); err != nil {
					t.Fatal(err)
				}
			}
			enc, err := other.Encrypt(root, &kmsv1.EncryptRequest{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("p")})
			if err != nil {
				t.Fatal(err)
			}
			dec, err := follower.Decrypt(root, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob})
			if err != nil || string(dec.Plaintext) != "p" {
				t.Fatalf("Decrypt on the lagging follower = %v, %v", dec, err)
			}
			if l.readIndexes == 0 {
				t.Fatal("the Decrypt never asked for fresh state")
			}
			// What is not a ciphertext of the cluster is still refused.
			bad := append([]byte(nil), enc.CiphertextBlob...)
			bad[len(bad)-1] ^= 1
			_, err = follower.Decrypt(root, &kmsv1.DecryptRequest{CiphertextBlob: bad})
			wantType(t, err, wire.InvalidCiphertext)
		})
	}
}

// lagServices returns a two-node log and a service on each node's FSM:
// other (its writes reach the follower only when it catches up) and
// follower. They share one HSM, as the nodes of a cluster share keys.
func lagServices(t *testing.T) (l *lagLog, other, follower *kms.Service) {
	t.Helper()
	dir := t.TempDir()
	h, err := soft.Create(filepath.Join(dir, "state"), soft.InsecureDevKeyFile(filepath.Join(dir, "key"), true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	l = &lagLog{leader: fsm.New(), follower: fsm.New()}
	svc := func(store *fsm.FSM, log interface {
		kms.Log
		kms.ReadIndexer
	}) *kms.Service {
		s, err := kms.New(kms.Config{Region: "us-east-1", Store: store, Log: log, Reads: log, HSM: h})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return l, svc(l.leader, elsewhere{l}), svc(l.follower, l)
}
