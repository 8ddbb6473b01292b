package fsm

import (
	"bytes"
	"io"
	"testing"
)

func createAlias(name, keyID string, date int64) *CreateAlias {
	return &CreateAlias{Account: testAccount, Name: name, ARN: "arn:aws:kms:us-east-1:" + testAccount + ":" + name,
		KeyID: keyID, Date: date, MaxAliasesPerKey: 2}
}

// A snapshot carries the aliases, and the restored state rebuilds the
// per-key counts the limit is enforced with.
func TestSnapshotRoundTripKeepsAliases(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f, create("k"), create("k2"), createAlias("alias/b", "k", 1), createAlias("alias/a", "k", 2),
		createAlias("alias/c", "k2", 3))
	want := snapshotBytes(t, f)
	g := New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(want))); err != nil {
		t.Fatal(err)
	}
	if got := snapshotBytes(t, g); !bytes.Equal(got, want) {
		t.Fatal("snapshot of restored FSM differs from the original snapshot")
	}
	if a, ok := g.Alias(testAccount, "alias/a"); !ok || a.KeyID != "k" || a.CreationDate != 2 {
		t.Fatalf("alias/a after restore: %+v", a)
	}
	if n := g.AliasCount("k"); n != 2 {
		t.Fatalf("k has %d aliases after restore, want 2", n)
	}
	r := g.Apply(Entry{Index: 99, Data: mustEncode(t, createAlias("alias/d", "k", 4))}).(*Result)
	if r.Err == nil || r.Err.Type != "LimitExceededException" {
		t.Fatalf("limit after restore: %+v", r)
	}
}

func TestListAliasesPaginatesAndFilters(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f, create("k"), create("k2"), createAlias("alias/a", "k", 1), createAlias("alias/b", "k2", 1),
		createAlias("alias/c", "k", 1))
	page, more := f.ListAliases(testAccount, "", "", 2)
	if len(page) != 2 || !more || page[0].Name != "alias/a" || page[1].Name != "alias/b" {
		t.Fatalf("first page %v more=%v", page, more)
	}
	page, more = f.ListAliases(testAccount, "alias/b", "", 2)
	if len(page) != 1 || more || page[0].Name != "alias/c" {
		t.Fatalf("second page %v more=%v", page, more)
	}
	page, more = f.ListAliases(testAccount, "", "k", 10)
	if len(page) != 2 || more || page[0].Name != "alias/a" || page[1].Name != "alias/c" {
		t.Fatalf("filtered %v more=%v", page, more)
	}
}

func mustEncode(t *testing.T, c Command) []byte {
	t.Helper()
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func keyOfSpec(id, spec, usage string) Command {
	k := testKey(id)
	k.KeySpec, k.KeyUsage = spec, usage
	return &CreateKey{Key: k}
}

// UpdateAlias keeps an alias on keys of one kind and key usage, decided
// against the key the alias points at when the command applies.
func TestUpdateAliasKeepsTheKindOfKey(t *testing.T) {
	t.Parallel()
	update := func(name, keyID string) *UpdateAlias {
		return &UpdateAlias{Account: testAccount, Name: name, ARN: "arn:aws:kms:us-east-1:" + testAccount + ":" + name,
			KeyID: keyID, Date: 9, MaxAliasesPerKey: 2}
	}
	tests := []struct {
		name     string
		from, to Command
		want     string
	}{
		{"symmetric to symmetric", create("a"), create("b"), ""},
		{"symmetric to HMAC", create("a"), keyOfSpec("b", "HMAC_256", "GENERATE_VERIFY_MAC"), "ValidationException"},
		{"HMAC to symmetric", keyOfSpec("a", "HMAC_256", "GENERATE_VERIFY_MAC"), create("b"), "ValidationException"},
		{"HMAC sizes are one kind", keyOfSpec("a", "HMAC_256", "GENERATE_VERIFY_MAC"), keyOfSpec("b", "HMAC_512", "GENERATE_VERIFY_MAC"), ""},
		{"symmetric to asymmetric encryption", create("a"), keyOfSpec("b", "RSA_2048", "ENCRYPT_DECRYPT"), "ValidationException"},
		{"asymmetric families are one kind", keyOfSpec("a", "RSA_2048", "SIGN_VERIFY"), keyOfSpec("b", "ECC_NIST_P256", "SIGN_VERIFY"), ""},
		{"asymmetric of another usage", keyOfSpec("a", "RSA_2048", "SIGN_VERIFY"), keyOfSpec("b", "RSA_2048", "ENCRYPT_DECRYPT"), "ValidationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := New()
			applyAll(t, f, tt.from, tt.to, createAlias("alias/x", "a", 1))
			r := applyAll(t, f, update("alias/x", "b"))[0]
			a, _ := f.Alias(testAccount, "alias/x")
			if tt.want == "" {
				if r.Err != nil || a.KeyID != "b" {
					t.Fatalf("refused: %v (alias on %s)", r.Err, a.KeyID)
				}
				return
			}
			if r.Err == nil || r.Err.Type != tt.want || a.KeyID != "a" || f.AliasCount("b") != 0 {
				t.Fatalf("got %v, alias on %s; want %s and no change", r.Err, a.KeyID, tt.want)
			}
		})
	}
}

// The per-key index behind kms:ResourceAliases follows creates, updates,
// deletes and a snapshot restore.
func TestKeyAliasesIndex(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f, create("k"), create("k2"), createAlias("alias/b", "k", 1), createAlias("alias/a", "k", 1),
		&UpdateAlias{Account: testAccount, Name: "alias/b", ARN: "arn:aws:kms:us-east-1:" + testAccount + ":alias/b", KeyID: "k2", Date: 2},
		createAlias("alias/c", "k", 3))
	published := f.KeyAliases("k")
	applyAll(t, f, &DeleteAlias{Account: testAccount, Name: "alias/a", ARN: "arn:aws:kms:us-east-1:" + testAccount + ":alias/a"})
	if got := f.KeyAliases("k"); len(got) != 1 || got[0] != "alias/c" {
		t.Fatalf("k's aliases %v", got)
	}
	if len(published) != 2 || published[0] != "alias/a" || published[1] != "alias/c" {
		t.Fatalf("a slice handed out changed: %v", published)
	}
	g := New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, f)))); err != nil {
		t.Fatal(err)
	}
	if got := g.KeyAliases("k2"); len(got) != 1 || got[0] != "alias/b" {
		t.Fatalf("k2's aliases after restore %v", got)
	}
}

// An UpdateAlias or DeleteAlias expecting the alias on one key is refused,
// changing nothing, when it points at another by the time it applies.
func TestAliasChangesExpectTheirKey(t *testing.T) {
	t.Parallel()
	arn := "arn:aws:kms:us-east-1:" + testAccount + ":alias/x"
	for _, c := range []Command{
		&UpdateAlias{Account: testAccount, Name: "alias/x", ARN: arn, KeyID: "k3", Date: 5, ExpectKeyID: "k"},
		&DeleteAlias{Account: testAccount, Name: "alias/x", ARN: arn, ExpectKeyID: "k"},
	} {
		t.Run(string(c.Op()), func(t *testing.T) {
			f := New()
			applyAll(t, f, create("k"), create("k2"), create("k3"), createAlias("alias/x", "k", 1),
				&UpdateAlias{Account: testAccount, Name: "alias/x", ARN: arn, KeyID: "k2", Date: 2, ExpectKeyID: "k"})
			r := applyAll(t, f, c)[0]
			if r.Err == nil || r.Err.Type != AliasMoved {
				t.Fatalf("got %+v, want %s", r, AliasMoved)
			}
			if a, ok := f.Alias(testAccount, "alias/x"); !ok || a.KeyID != "k2" || a.LastUpdatedDate != 2 {
				t.Fatalf("alias changed: %+v", a)
			}
		})
	}
}
