package fsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

func testKey(id string) Key {
	return Key{
		ID: id, ARN: "arn:aws:kms:us-east-1:111122223333:key/" + id, Account: "111122223333",
		CreationDate: 1700000000000, KeySpec: "SYMMETRIC_DEFAULT", KeyUsage: "ENCRYPT_DECRYPT",
		Origin: "AWS_KMS", State: Enabled,
		Versions: []KeyVersion{{ID: "00112233445566778899aabbccddeeff", EKT: []byte{1, 2, 3}, Created: 1700000000000}},
	}
}

// applyAll applies commands at consecutive indexes starting at 1.
func applyAll(t *testing.T, f *FSM, cmds ...Command) []*Result {
	t.Helper()
	var out []*Result
	for _, c := range cmds {
		b, err := Encode(c)
		if err != nil {
			t.Fatalf("Encode(%s): %v", c.Op(), err)
		}
		r := f.Apply(Entry{Index: f.AppliedIndex() + 1, Data: b}).(*Result)
		out = append(out, r)
	}
	return out
}

func create(id string) Command {
	return &CreateKey{Key: testKey(id)}
}

func setEnabled(id string, on bool) Command {
	return &SetKeyEnabled{KeyID: id, Enabled: on}
}

func TestPublishedKeysAreImmutable(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f, create("k"))
	k1, _ := f.Key("k")
	applyAll(t, f, setEnabled("k", false))
	if k1.State != Enabled {
		t.Fatal("Apply modified a key value already handed to a reader")
	}
}

func TestListKeysPaginatesByAccount(t *testing.T) {
	t.Parallel()
	f := New()
	for i := range 7 {
		applyAll(t, f, create(fmt.Sprintf("k%d", i)))
	}
	other := testKey("a-other")
	other.Account = "444455556666"
	applyAll(t, f, &CreateKey{Key: other})

	var got []string
	after := ""
	pages := 0
	for {
		keys, more := f.ListKeys("111122223333", after, 3)
		pages++
		for _, k := range keys {
			got = append(got, k.ID)
		}
		if !more {
			break
		}
		after = keys[len(keys)-1].ID
	}
	if pages != 3 || len(got) != 7 || got[0] != "k0" || got[6] != "k6" {
		t.Fatalf("pages=%d got=%v", pages, got)
	}
}

func TestSnapshotRoundTripIsExact(t *testing.T) {
	t.Parallel()
	f := New()
	for i := range 50 {
		applyAll(t, f, create(fmt.Sprintf("key-%03d", i)))
	}
	applyAll(t, f, setEnabled("key-007", false))
	want := snapshotBytes(t, f)

	g := New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(want))); err != nil {
		t.Fatal(err)
	}
	if got := snapshotBytes(t, g); !bytes.Equal(got, want) {
		t.Fatal("snapshot of restored FSM differs from the original snapshot")
	}
	if g.AppliedIndex() != f.AppliedIndex() {
		t.Fatalf("applied %d, want %d", g.AppliedIndex(), f.AppliedIndex())
	}
}

func TestRestoreRejectsBadSnapshotsAndKeepsState(t *testing.T) {
	t.Parallel()
	src := New()
	applyAll(t, src, create("a"), create("b"))
	good := snapshotBytes(t, src)
	badVersion := bytes.Clone(good)
	badVersion[11] = 9
	tests := map[string][]byte{
		"empty":           nil,
		"bad magic":       append([]byte("NOTTRENT"), good[8:]...),
		"unknown version": badVersion,
		"truncated":       good[:len(good)-15],
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := New()
			applyAll(t, f, create("keep"))
			err := f.Restore(io.NopCloser(bytes.NewReader(data)))
			if !errors.Is(err, ErrSnapshotFormat) {
				t.Fatalf("got %v, want ErrSnapshotFormat", err)
			}
			if _, ok := f.Key("keep"); !ok || f.KeyCount() != 1 {
				t.Fatal("failed restore changed the state")
			}
		})
	}
}

func TestApplyIsDeterministic(t *testing.T) {
	t.Parallel()
	cmds := []Command{create("x"), create("y"), setEnabled("x", false), &Noop{},
		&UpdateKeyDescription{KeyID: "y", Description: "d"}}
	a, b := New(), New()
	applyAll(t, a, cmds...)
	applyAll(t, b, cmds...)
	if !bytes.Equal(snapshotBytes(t, a), snapshotBytes(t, b)) {
		t.Fatal("same log, different state")
	}
}

func TestWaitApplied(t *testing.T) {
	t.Parallel()
	f := New()
	done := make(chan error, 1)
	go func() { done <- f.WaitApplied(context.Background(), 2) }()
	applyAll(t, f, create("a"))
	select {
	case err := <-done:
		t.Fatalf("returned before index 2 applied: %v", err)
	default:
	}
	applyAll(t, f, create("b"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := f.WaitApplied(ctx, 100); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want deadline exceeded", err)
	}
}

func TestMalformedCommandIsRejectedNotApplied(t *testing.T) {
	t.Parallel()
	f := New()
	r := f.Apply(Entry{Index: 1, Data: []byte("garbage")}).(*Result)
	if r.Err == nil || f.KeyCount() != 0 || f.AppliedIndex() != 1 {
		t.Fatalf("got %+v", r)
	}
}

func FuzzDecode(f *testing.F) {
	for _, c := range []Command{create("k"), setEnabled("k", true), &Noop{}} {
		b, _ := Encode(c)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(data)
		if err != nil {
			return
		}
		b, err := Encode(c)
		if err != nil {
			t.Fatalf("decoded command does not re-encode: %v", err)
		}
		if _, err := Decode(b); err != nil {
			t.Fatalf("re-encoded command does not decode: %v", err)
		}
		// Applying any decodable command must not panic.
		g := New()
		g.Apply(Entry{Index: 1, Data: b})
	})
}

func snapshotBytes(t *testing.T, f *FSM) []byte {
	t.Helper()
	s, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := s.Persist(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// stripApplied drops the header record (which holds the applied index).
func stripApplied(b []byte) []byte {
	i := bytes.IndexByte(b[12:], '\n')
	return b[12+i:]
}
