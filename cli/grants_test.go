package cli

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/wire"
)

// revokingKMS is the fake KMS with RevokeGrant.
type revokingKMS struct{ *fakeKMS }

func (f revokingKMS) RevokeGrant(_ context.Context, req *kmsv1.RevokeGrantRequest) (*kmsv1.RevokeGrantResponse, error) {
	f.count("RevokeGrant")
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.key(req.KeyId)
	if err != nil {
		return nil, err
	}
	for i, g := range f.grants {
		if g.KeyId == k.Arn && g.GrantId == req.GrantId {
			f.grants = slices.Delete(f.grants, i, i+1)
			return &kmsv1.RevokeGrantResponse{}, nil
		}
	}
	ce := connect.NewError(connect.CodeNotFound, fmt.Errorf("Grant ID %s not found", req.GrantId))
	ce.Meta().Set(wire.ErrorTypeHeader, "NotFoundException")
	return nil, ce
}

func (f *fakeKMS) grantIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, g := range f.grants {
		ids = append(ids, g.GrantId[60:])
	}
	return ids
}

func TestDuplicateGroups(t *testing.T) {
	t.Parallel()
	entry := func(id string, date float64, mod func(*kmsv1.GrantListEntry)) *kmsv1.GrantListEntry {
		e := &kmsv1.GrantListEntry{KeyId: "k", GrantId: id, CreationDate: date, Name: "n", GranteePrincipal: "p",
			Operations:  []string{"Encrypt", "Decrypt"},
			Constraints: &kmsv1.GrantConstraints{EncryptionContextSubset: map[string]string{"a": "1", "b": "2"}}}
		if mod != nil {
			mod(e)
		}
		return e
	}
	entries := []*kmsv1.GrantListEntry{
		entry("g5", 30, nil),
		entry("g2", 10, func(e *kmsv1.GrantListEntry) { e.Operations = []string{"Decrypt", "Encrypt"} }), // same set
		entry("g1", 10, func(e *kmsv1.GrantListEntry) {
			e.Constraints = &kmsv1.GrantConstraints{EncryptionContextSubset: map[string]string{"b": "2", "a": "1"}}
		}),
		entry("g3", 5, func(e *kmsv1.GrantListEntry) { e.Name = "other" }),
		entry("g4", 5, func(e *kmsv1.GrantListEntry) { e.GranteePrincipal = "q" }),
		entry("g6", 5, func(e *kmsv1.GrantListEntry) { e.RetiringPrincipal = "r" }),
		entry("g7", 5, func(e *kmsv1.GrantListEntry) { e.Operations = []string{"Encrypt"} }),
		entry("g8", 5, func(e *kmsv1.GrantListEntry) {
			e.Constraints = &kmsv1.GrantConstraints{EncryptionContextEquals: map[string]string{"a": "1", "b": "2"}}
		}),
		entry("g9", 5, func(e *kmsv1.GrantListEntry) { e.Constraints = nil }),
		entry("g10", 6, func(e *kmsv1.GrantListEntry) { e.Constraints = &kmsv1.GrantConstraints{} }), // no constraints, like g9
		entry("g11", 5, func(e *kmsv1.GrantListEntry) { e.KeyId = "other-key" }),
	}
	var got []string
	for _, gr := range duplicateGroups(entries) {
		var ids []string
		for _, e := range gr.grants {
			ids = append(ids, e.GrantId)
		}
		got = append(got, strings.Join(ids, ","))
	}
	if want := []string{"g1,g2,g5", "g9,g10"}; !slices.Equal(got, want) {
		t.Fatalf("groups %q, want %q", got, want)
	}
}

// grantSetup makes two keys with duplicate and distinct grants:
// grants 1, 3 and 5 are one group on key 1 (5 has its operations in
// another order), 2 and 4 differ, and 6 and 7 are a group on key 2.
func grantSetup(t *testing.T, fx *fixture) {
	t.Helper()
	cmds := [][]string{
		{"kms", "create-key"},
		{"kms", "create-key"},
		{"kms", "create-grant", "--key-id", key1, "--grantee-principal", "arn:aws:iam::111122223333:role/app",
			"--operations", "Decrypt", "Encrypt", "--constraints", "EncryptionContextSubset={team=kms}"},
		{"kms", "create-grant", "--key-id", key1, "--grantee-principal", "arn:aws:iam::111122223333:role/app",
			"--operations", "Decrypt", "Encrypt", "--constraints", "EncryptionContextSubset={team=other}"},
		{"kms", "create-grant", "--key-id", key1, "--grantee-principal", "arn:aws:iam::111122223333:role/app",
			"--operations", "Decrypt", "Encrypt", "--constraints", "EncryptionContextSubset={team=kms}"},
		{"kms", "create-grant", "--key-id", key1, "--grantee-principal", "arn:aws:iam::111122223333:role/ops",
			"--operations", "Decrypt", "Encrypt", "--constraints", "EncryptionContextSubset={team=kms}"},
		{"kms", "create-grant", "--key-id", key1, "--grantee-principal", "arn:aws:iam::111122223333:role/app",
			"--operations", "Encrypt", "Decrypt", "--constraints", "EncryptionContextSubset={team=kms}"},
		{"kms", "create-grant", "--key-id", key2, "--grantee-principal", "arn:aws:iam::111122223333:user/bob",
			"--operations", "Sign", "--name", "signer"},
		{"kms", "create-grant", "--key-id", key2, "--grantee-principal", "arn:aws:iam::111122223333:user/bob",
			"--operations", "Sign", "--name", "signer"},
	}
	for _, args := range cmds {
		if code, _, stderr := fx.run(t, args...); code != 0 {
			t.Fatalf("setup %v: exit %d: %s", args, code, stderr)
		}
	}
	// Grant 1 is the newest of its group: oldest-first is by date, not id.
	fx.fake.mu.Lock()
	fx.fake.grants[0].CreationDate += 10
	fx.fake.mu.Unlock()
}

func TestFindDuplicatesGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		args      []string
		remaining []string // last 4 hex digits of the grants left
	}{
		{"grants-find-duplicates", []string{"grants", "find-duplicates"}, []string{"0001", "0002", "0003", "0004", "0005", "0006", "0007"}},
		{"grants-find-duplicates-one-key", []string{"grants", "find-duplicates", "--key-id", key2}, []string{"0001", "0002", "0003", "0004", "0005", "0006", "0007"}},
		{"grants-retire-extras-yes", []string{"grants", "find-duplicates", "--retire-extras", "--yes"}, []string{"0002", "0003", "0004", "0006"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fx := newServerFixture(t, newFakeKMS())
			grantSetup(t, fx)
			code, stdout, stderr := fx.run(t, tt.args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			checkGolden(t, tt.name, stdout)
			if got := fx.fake.grantIDs(); !slices.Equal(got, tt.remaining) {
				t.Fatalf("grants left %v, want %v", got, tt.remaining)
			}
		})
	}
}

func TestFindDuplicatesNone(t *testing.T) {
	t.Parallel()
	fx := newServerFixture(t, newFakeKMS())
	fx.run(t, "kms", "create-key")
	code, stdout, stderr := runWithStdin(t, fx, "", "grants", "find-duplicates", "--retire-extras")
	if code != 0 || stderr != "" || stdout != "{\n    \"DuplicateGroups\": [],\n    \"RevokedGrants\": []\n}\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestRetireExtrasAsks(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		answer string
		code   int
		left   int
	}{
		{"", exitError, 7},
		{"n\n", exitError, 7},
		{"yes please\n", exitError, 7},
		{"y\n", exitOK, 4},
		{"YES\n", exitOK, 4},
	} {
		t.Run(fmt.Sprintf("%q", tt.answer), func(t *testing.T) {
			t.Parallel()
			fx := newServerFixture(t, newFakeKMS())
			grantSetup(t, fx)
			code, stdout, stderr := runWithStdin(t, fx, tt.answer, "grants", "find-duplicates", "--retire-extras")
			if code != tt.code || len(fx.fake.grantIDs()) != tt.left {
				t.Fatalf("exit %d, %d grants left; want %d, %d\nstderr: %s", code, len(fx.fake.grantIDs()), tt.code, tt.left, stderr)
			}
			if !strings.Contains(stderr, "revoke "+fmt.Sprintf("%064x", 5)+", "+fmt.Sprintf("%064x", 1)) ||
				!strings.Contains(stderr, "Revoke 3 grant(s), keeping the oldest of each of 2 group(s)? [y/N] ") {
				t.Fatalf("prompt:\n%s", stderr)
			}
			if tt.code == exitOK {
				if !strings.Contains(stdout, `"RevokedGrants": [`) || strings.Count(stdout, `"GrantId"`) != 3 {
					t.Fatalf("stdout does not list the 3 revoked grants:\n%s", stdout)
				}
			} else if stdout != "" || !strings.Contains(stderr, "aborted; no grant was revoked") {
				t.Fatalf("stdout %q, stderr %q", stdout, stderr)
			}
		})
	}
}

// runWithStdin runs trent against fx with stdin as standard input.
func runWithStdin(tb testing.TB, fx *fixture, stdin string, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	var out, errOut bytes.Buffer
	c := &command{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		lookupEnv: func(string) (string, bool) { return "", false }}
	code = c.run(context.Background(), append([]string{"--endpoint", fx.url, "--data-dir", fx.creds.dir}, args...))
	return code, out.String(), errOut.String()
}
