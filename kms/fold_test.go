package kms_test

import (
	"strings"
	"testing"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/wire"
)

// wantAmbiguous checks that err is AccessDenied and says that the
// context's keys differ only by case.
func wantAmbiguous(t *testing.T, err error) {
	t.Helper()
	wantType(t, err, wire.AccessDenied)
	if !strings.Contains(message(t, err), "keys that differ only by case") {
		t.Fatalf("message %q does not say what is wrong", err)
	}
}

// TestGrantConstraintsFoldOneWay drives the constraint fold through the
// service: ASCII case is ignored, Unicode look-alikes are other keys, and
// a context with two spellings of a key is refused, with a message.
func TestGrantConstraintsFoldOneWay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	bob := as(t, bobARN)
	e.grant(t, e.root, &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: bobARN,
		Operations: []string{"Encrypt", "Decrypt"}, Constraints: subset("Tenant", "A")})
	encrypt := func(ec map[string]string) error {
		_, err := e.svc.Encrypt(bob, &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("x"), EncryptionContext: ec})
		return err
	}
	wantType(t, encrypt(map[string]string{"TENANT": "A"}), "")
	wantType(t, encrypt(map[string]string{"Tenant": "A", "\u017ftenant": "B"}), "")
	// The exact-match-first lookup found "Tenant" and let the second
	// spelling through.
	wantAmbiguous(t, encrypt(map[string]string{"Tenant": "A", "tenant": "B"}))
	wantAmbiguous(t, encrypt(map[string]string{"Tenant": "A", "x": "1", "X": "2"}))
	ex, err := e.svc.ExplainAuthorization(e.root, principalOf(t, bobARN), "kms:Encrypt", m.KeyId, map[string]string{"Tenant": "A", "tenant": "A"})
	if err != nil || ex.Decision.Allowed || !strings.Contains(ex.Text, "differ only by case") {
		t.Fatalf("ExplainAuthorization = %+v, %v", ex, err)
	}
}

// TestGrantDelegationFoldsOneWay: under a parent Subset{s:A}, a child
// Subset{ſ:A} (U+017F) would allow {s:B, ſ:A}, which the parent refuses.
func TestGrantDelegationFoldsOneWay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	bob := as(t, bobARN)
	e.grant(t, e.root, &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: bobARN,
		Operations: []string{"Encrypt", "Decrypt", "CreateGrant"}, Constraints: subset("s", "A")})
	tests := []struct {
		name string
		c    *kmsv1.GrantConstraints
		want string
	}{
		{"ASCII case variant of the key", subset("S", "A"), ""},
		{"long s for s", subset("\u017f", "A"), wire.AccessDenied},
		{"equals with a long s for s", &kmsv1.GrantConstraints{EncryptionContextEquals: map[string]string{"\u017f": "A"}}, wire.AccessDenied},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			_, err := e.svc.CreateGrant(bob, &kmsv1.CreateGrantRequest{KeyId: m.KeyId, GranteePrincipal: carolARN,
				Operations: []string{"Encrypt"}, Constraints: tt.c})
			wantType(t, err, tt.want)
		})
	}
}

// TestPolicyRefusesAmbiguousContext: a kms:EncryptionContext: condition
// cannot tell {Tenant:A, TENANT:B} from {tenant:A}; the old multi-valued
// lookup let an Allow on tenant=A match and a Deny unless tenant=A lapse.
func TestPolicyRefusesAmbiguousContext(t *testing.T) {
	t.Parallel()
	const (
		allowIfA = `{"Sid":"Bob","Effect":"Allow","Principal":{"AWS":"` + bobARN + `"},"Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"A"}}}`
		allowBob = `{"Sid":"Bob","Effect":"Allow","Principal":{"AWS":"` + bobARN + `"},"Action":"kms:Encrypt","Resource":"*"}`
		denyNotA = `{"Sid":"OnlyA","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{"StringNotEquals":{"kms:EncryptionContext:tenant":"A"}}}`
	)
	tests := []struct {
		name, policy string
		explicit     bool
	}{
		{"allow on the key", kp(rootAll, allowIfA), false},
		{"deny unless on the key", kp(rootAll, allowBob, denyNotA), true},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.apply(t, userCmd(acct, "bob"))
			m := e.createKey(t)
			e.apply(t, keyPolicyCmd(m.KeyId, tt.policy))
			encrypt := func(ec map[string]string) error {
				_, err := e.svc.Encrypt(as(t, bobARN), &kmsv1.EncryptRequest{KeyId: m.KeyId, Plaintext: []byte("x"), EncryptionContext: ec})
				return err
			}
			wantType(t, encrypt(map[string]string{"Tenant": "A"}), "")
			err := encrypt(map[string]string{"Tenant": "A", "TENANT": "B"})
			wantAmbiguous(t, err)
			if got := strings.Contains(message(t, err), "explicit deny"); got != tt.explicit {
				t.Fatalf("message %q: explicit deny %v, want %v", err, got, tt.explicit)
			}
		})
	}
}
