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
