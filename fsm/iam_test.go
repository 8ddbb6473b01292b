package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

const testAccount = "111122223333"

func testUser(name, id string) User {
	return User{Account: testAccount, Name: name, Path: "/", ID: id,
		ARN: "arn:aws:iam::" + testAccount + ":user/" + name, CreateDate: 1700000000000}
}

func createUser(name, id string) Command {
	return &CreateUser{User: testUser(name, id)}
}

func deleteUser(name string) Command {
	return &DeleteUser{Account: testAccount, Name: name}
}

// userKey is an access key of the user name (created by createUser).
func userKey(id, name string) Command {
	return &CreateAccessKey{MaxKeysPerOwner: 2, Key: AccessKey{
		ID: id, Owner: "arn:aws:iam::" + testAccount + ":user/" + name, Account: testAccount, UserName: name,
		Status: AccessKeyActive, CreateDate: 1700000000000,
	}}
}

func rootKey(id string) Command {
	return &CreateAccessKey{MaxKeysPerOwner: 2, Key: AccessKey{
		ID: id, Owner: "arn:aws:iam::" + testAccount + ":root", Account: testAccount,
		Status: AccessKeyActive, CreateDate: 1700000000000,
	}}
}

func deleteKey(id, owner string) Command {
	return &DeleteAccessKey{ID: id, Owner: owner}
}

func TestUserLookupIgnoresCase(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f, createUser("Bob", "AIDA1"))
	for _, name := range []string{"Bob", "bob", "BOB"} {
		u, ok := f.User(testAccount, name)
		if !ok || u.Name != "Bob" || u.ARN != "arn:aws:iam::"+testAccount+":user/Bob" {
			t.Errorf("User(%q) = %+v, %v", name, u, ok)
		}
	}
	if _, ok := f.User("444455556666", "Bob"); ok {
		t.Error("found a user of another account")
	}
}

func TestListUsersPaginatesByAccount(t *testing.T) {
	t.Parallel()
	f := New()
	names := []string{"dave", "Alice", "carol", "Bob", "eve"}
	for i, n := range names {
		applyAll(t, f, createUser(n, fmt.Sprintf("AIDA%d", i)))
	}
	other := testUser("aaron", "AIDA9")
	other.Account = "444455556666"
	applyAll(t, f, &CreateUser{User: other})

	var got []string
	after, pages := "", 0
	for {
		users, more := f.ListUsers(testAccount, after, 2)
		pages++
		for _, u := range users {
			got = append(got, u.Name)
		}
		if !more {
			break
		}
		after = users[len(users)-1].Name
	}
	if want := "Alice Bob carol dave eve"; strings.Join(got, " ") != want || pages != 3 {
		t.Fatalf("pages=%d got %v, want %s", pages, got, want)
	}
}

func TestPublishedUsersAndKeysAreImmutable(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f, createUser("bob", "AIDA1"), userKey("AKIA1", "bob"))
	u, _ := f.User(testAccount, "bob")
	k, _ := f.AccessKey("AKIA1")
	applyAll(t, f, deleteUser("bob"))
	if u.ID != "AIDA1" || k.Owner == "" {
		t.Fatal("Apply modified a value already handed to a reader")
	}
	if _, ok := f.AccessKey("AKIA1"); ok {
		t.Fatal("the deleted user's key is still there")
	}
}

// iamLog is a history that touches every IAM command and every table.
func iamLog() []Command {
	return []Command{
		create("k1"), createUser("bob", "AIDA1"), createUser("Alice", "AIDA2"),
		userKey("AKIA1", "bob"), userKey("AKIA2", "bob"), rootKey("AKIA3"), userKey("AKIA4", "Alice"),
		deleteKey("AKIA2", "arn:aws:iam::"+testAccount+":user/bob"), createUser("carol", "AIDA3"),
		deleteUser("Alice"), userKey("AKIA5", "carol"), &Noop{},
	}
}

func TestIAMApplyIsDeterministic(t *testing.T) {
	t.Parallel()
	a, b := New(), New()
	applyAll(t, a, iamLog()...)
	applyAll(t, b, iamLog()...)
	if !bytes.Equal(snapshotBytes(t, a), snapshotBytes(t, b)) {
		t.Fatal("same log, different state")
	}
}

func TestIAMSnapshotRoundTripIsExact(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f, iamLog()...)
	want := snapshotBytes(t, f)
	for _, rec := range []string{`{"user":`, `{"access_key":`} {
		if !bytes.Contains(want, []byte(rec)) {
			t.Fatalf("snapshot has no %s record", rec)
		}
	}

	g := New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(want))); err != nil {
		t.Fatal(err)
	}
	if got := snapshotBytes(t, g); !bytes.Equal(got, want) {
		t.Fatalf("snapshot of restored FSM differs from the original:\n%s\nwant:\n%s", got, want)
	}
	// The derived owner index was rebuilt: the restored FSM lists and
	// applies like the original.
	bob := "arn:aws:iam::" + testAccount + ":user/bob"
	if keys := g.ListAccessKeys(bob); len(keys) != 1 || keys[0].ID != "AKIA1" {
		t.Fatalf("restored keys of bob: %+v", keys)
	}
	more := []Command{userKey("AKIA6", "bob"), userKey("AKIA7", "bob"), deleteUser("carol")}
	ra, rb := applyAll(t, f, more...), applyAll(t, g, more...)
	for i := range ra {
		if (ra[i].Err == nil) != (rb[i].Err == nil) {
			t.Fatalf("command %d: original %v, restored %v", i, ra[i].Err, rb[i].Err)
		}
	}
	if !bytes.Equal(snapshotBytes(t, f), snapshotBytes(t, g)) {
		t.Fatal("original and restored FSMs diverged")
	}
	if _, ok := g.AccessKey("AKIA5"); ok {
		t.Fatal("deleting carol after a restore left her key")
	}
}

func TestRestoreRejectsBadIAMRecords(t *testing.T) {
	t.Parallel()
	src := New()
	applyAll(t, src, createUser("bob", "AIDA1"), userKey("AKIA1", "bob"))
	good := snapshotBytes(t, src)
	lines := bytes.SplitAfter(good, []byte("\n"))
	var userLine, keyLine []byte
	for _, l := range lines {
		switch {
		case bytes.HasPrefix(l, []byte(`{"user":`)):
			userLine = l
		case bytes.HasPrefix(l, []byte(`{"access_key":`)):
			keyLine = l
		}
	}
	dup := func(line []byte) []byte {
		return bytes.Replace(good, line, append(bytes.Clone(line), line...), 1)
	}
	tests := map[string][]byte{
		"duplicate user":       dup(userLine),
		"duplicate access key": dup(keyLine),
		"empty user":           bytes.Replace(good, userLine, []byte("{\"user\":{}}\n"), 1),
	}
	for name, data := range tests {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			f := New()
			applyAll(t, f, createUser("keep", "AIDA9"))
			if err := f.Restore(io.NopCloser(bytes.NewReader(data))); !errors.Is(err, ErrSnapshotFormat) {
				t.Fatalf("got %v, want ErrSnapshotFormat", err)
			}
			if _, ok := f.User(testAccount, "keep"); !ok {
				t.Fatal("failed restore changed the state")
			}
		})
	}
}

// TestSnapshotWithoutIAMRecordsRestores: snapshots written before IAM
// existed (format version 1, keys and grants only) still restore, with no
// users and no access keys.
func TestSnapshotWithoutIAMRecordsRestores(t *testing.T) {
	t.Parallel()
	old := "TRENTFSM\x00\x00\x00\x01" + `{"applied":3}` + "\n" +
		`{"key":{"id":"k","arn":"arn:aws:kms:us-east-1:111122223333:key/k","account":"111122223333","creation_date":1,"description":"","key_spec":"SYMMETRIC_DEFAULT","key_usage":"ENCRYPT_DECRYPT","origin":"AWS_KMS","state":"Enabled","versions":null}}` + "\n" +
		`{"end":true}` + "\n"
	f := New()
	if err := f.Restore(io.NopCloser(strings.NewReader(old))); err != nil {
		t.Fatal(err)
	}
	if users, _ := f.ListUsers(testAccount, "", 10); len(users) != 0 || f.KeyCount() != 1 || f.AppliedIndex() != 3 {
		t.Fatalf("users %v, keys %d, applied %d", users, f.KeyCount(), f.AppliedIndex())
	}
	applyAll(t, f, createUser("bob", "AIDA1"))
	if _, ok := f.User(testAccount, "bob"); !ok {
		t.Fatal("cannot add users after restoring an old snapshot")
	}
}

// FuzzApplyIAM applies any decodable command to a state holding users,
// keys and an issued certificate: it must not panic, and the state must
// still snapshot and restore exactly.
func FuzzApplyIAM(f *testing.F) {
	seeds := append(iamLog(), createUser("", "AIDA9"), userKey("", "bob"), deleteKey("", ""),
		recordCert("b1", bobARN, "AIDA1"), recordCert("0", bobARN, "AIDA1"), revokeAs("b1", testAccount, false), revokeAs("b1", "", false))
	for _, c := range seeds {
		if b, err := Encode(c); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(data)
		if err != nil {
			return
		}
		g := New()
		applyAll(t, g, createUser("bob", "AIDA1"), userKey("AKIA1", "bob"), rootKey("AKIA2"), recordCert("a1", bobARN, "AIDA1"))
		applyAll(t, g, c)
		want := snapshotBytes(t, g)
		h := New()
		if err := h.Restore(io.NopCloser(bytes.NewReader(want))); err != nil {
			t.Fatalf("state after %s does not restore: %v", c.Op(), err)
		}
		if !bytes.Equal(snapshotBytes(t, h), want) {
			t.Fatalf("state after %s does not round-trip", c.Op())
		}
	})
}
