package raft

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"

	hraft "github.com/hashicorp/raft"
)

// recorder is a StateMachine that records what it is given.
type recorder struct {
	entries  []Entry
	snapErr  error // returned by the snapshot's Persist
	restored []byte
	released bool
}

func (r *recorder) ApplyBatch(entries []Entry) []any {
	r.entries = append(r.entries, entries...)
	out := make([]any, len(entries))
	for i, e := range entries {
		out[i] = e.Index
	}
	return out
}

func (r *recorder) Snapshot() (Snapshot, error) { return recorderSnapshot{r}, nil }

func (r *recorder) Restore(rd io.Reader) error {
	b, err := io.ReadAll(rd)
	r.restored = b
	return err
}

type recorderSnapshot struct{ r *recorder }

func (s recorderSnapshot) Persist(w io.Writer) error {
	if _, err := io.WriteString(w, "state"); err != nil {
		return err
	}
	return s.r.snapErr
}

func (s recorderSnapshot) Release() { s.r.released = true }

// testSink is a snapshot store's sink that records how it ended.
type testSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *testSink) ID() string    { return "test" }
func (s *testSink) Close() error  { s.closed = true; return nil }
func (s *testSink) Cancel() error { s.cancelled = true; return nil }

func kicked(s *stream) bool {
	select {
	case <-s.kick:
		return true
	default:
		return false
	}
}

// The state machine sees commands with their data and configuration
// changes as such, answers one response per entry, and the stream learns
// of a committed configuration change.
func TestMachineApplyBatch(t *testing.T) {
	r := &recorder{}
	s := &stream{kick: make(chan struct{}, 1)}
	m := machine{r, s}
	out := m.ApplyBatch([]*hraft.Log{
		{Index: 3, Type: hraft.LogCommand, Data: []byte("a")},
		{Index: 4, Type: hraft.LogCommand, Data: []byte("b")},
	})
	want := []Entry{{Index: 3, Data: []byte("a")}, {Index: 4, Data: []byte("b")}}
	if !slices.EqualFunc(r.entries, want, entryEqual) || !slices.Equal(out, []any{uint64(3), uint64(4)}) {
		t.Fatalf("applied %+v, answered %v", r.entries, out)
	}
	if kicked(s) {
		t.Fatal("commands alone told the stream the configuration changed")
	}
	r.entries = nil
	out = m.ApplyBatch([]*hraft.Log{
		{Index: 5, Type: hraft.LogConfiguration, Data: []byte("raft's own")},
		{Index: 6, Type: hraft.LogCommand, Data: []byte("c")},
	})
	want = []Entry{{Index: 5, Configuration: true}, {Index: 6, Data: []byte("c")}}
	if !slices.EqualFunc(r.entries, want, entryEqual) || len(out) != 2 {
		t.Fatalf("applied %+v, answered %v", r.entries, out)
	}
	if !kicked(s) {
		t.Fatal("a configuration change did not reach the stream")
	}
	if got := m.Apply(&hraft.Log{Index: 7, Type: hraft.LogCommand, Data: []byte("d")}); got != uint64(7) {
		t.Fatalf("Apply answered %v", got)
	}
}

func entryEqual(a, b Entry) bool {
	return a.Index == b.Index && bytes.Equal(a.Data, b.Data) && a.Configuration == b.Configuration
}

// A snapshot that persists closes the sink; one that fails cancels it, so
// the store discards it.
func TestMachineSnapshotSink(t *testing.T) {
	for _, fail := range []bool{false, true} {
		r := &recorder{}
		if fail {
			r.snapErr = errors.New("disk full")
		}
		m := machine{r, &stream{kick: make(chan struct{}, 1)}}
		snap, err := m.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var sink testSink
		err = snap.Persist(&sink)
		snap.Release()
		if !errors.Is(err, r.snapErr) || sink.String() != "state" || sink.closed == fail || sink.cancelled != fail || !r.released {
			t.Fatalf("fail=%v: %v, sink %q closed %v cancelled %v, released %v",
				fail, err, sink.String(), sink.closed, sink.cancelled, r.released)
		}
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// Restore hands the snapshot to the state machine, closes it and tells
// the stream: the configuration comes with the snapshot.
func TestMachineRestore(t *testing.T) {
	r := &recorder{}
	s := &stream{kick: make(chan struct{}, 1)}
	rc := &closeRecorder{Reader: bytes.NewReader([]byte("state"))}
	if err := (machine{r, s}).Restore(rc); err != nil {
		t.Fatal(err)
	}
	if string(r.restored) != "state" || !rc.closed || !kicked(s) {
		t.Fatalf("restored %q, closed %v", r.restored, rc.closed)
	}
}
