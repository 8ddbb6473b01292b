package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"
)

// fakeFile is a log file in memory whose fsyncs the test can hold: an
// fsync makes durable what was written when it started, once it returns.
type fakeFile struct {
	mu      sync.Mutex
	data    []byte
	durable int           // bytes made durable by fsyncs that returned
	hold    bool          // fsyncs wait for a token on release
	release chan error    // the result of a held fsync
	started chan struct{} // a held fsync has begun (its start is taken)
	syncs   int
}

func newFakeFile(hold bool) *fakeFile {
	return &fakeFile{hold: hold, release: make(chan error), started: make(chan struct{}, 64)}
}

func (f *fakeFile) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data = append(f.data, b...)
	return len(b), nil
}

func (f *fakeFile) Sync() error {
	f.mu.Lock()
	n := len(f.data)
	f.syncs++
	f.mu.Unlock()
	var err error
	if f.hold {
		f.started <- struct{}{}
		err = <-f.release
	}
	if err == nil {
		f.mu.Lock()
		f.durable = max(f.durable, n)
		f.mu.Unlock()
	}
	return err
}

func (f *fakeFile) Close() error { return nil }

func (f *fakeFile) Truncate(n int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data = f.data[:n]
	f.durable = min(f.durable, int(n))
	return nil
}

// durableSeq reports whether the record seq is in the durable bytes: the
// log starts empty and writes seq 1, 2, ... a line each (Verify checks
// the order at the end).
func (f *fakeFile) durableSeq(t *testing.T, seq uint64) bool {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	return uint64(bytes.Count(f.data[:f.durable], []byte("\n"))) >= seq
}

func openFake(t *testing.T, f *fakeFile) *Log {
	t.Helper()
	l, err := Open(Options{Dir: t.TempDir(), NodeID: "node1", Region: "us-east-1",
		openFile: func(string, int, os.FileMode) (file, error) { return f, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func testRecord(op string) *Record {
	return &Record{EventVersion: EventVersion, EventName: op, EventSource: SourceKMS, EventType: "AwsApiCall"}
}

// Every caller is answered only once its record is durable, the records
// are written in one chain in order, and groups share fsyncs.
func TestGroupCommitAnswersOnlyDurableRecords(t *testing.T) {
	f := newFakeFile(false)
	l := openFake(t, f)
	const callers, each = 32, 20
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range each {
				r := testRecord("Encrypt")
				if err := l.Append(context.Background(), r); err != nil {
					t.Error(err)
					return
				}
				if !f.durableSeq(t, r.Seq) {
					t.Errorf("record %d answered before it was durable", r.Seq)
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := Verify(bytes.NewReader(f.data))
	if err != nil {
		t.Fatalf("chain: %v", err)
	}
	if res.Records != callers*each {
		t.Errorf("%d records, want %d", res.Records, callers*each)
	}
	st := l.Stats()
	if st.Records != callers*each || st.Syncs != st.Commits || st.Commits >= callers*each {
		t.Errorf("stats %+v: want every record in a group, one fsync per group, fewer groups than records", st)
	}
}

// With two fsyncs in flight nobody is answered until one returns, and then
// only the records durable by it: a group is answered by its own fsync or
// by a later one (which started after its write), never by an earlier one.
func TestGroupCommitOverlappingSyncs(t *testing.T) {
	f := newFakeFile(true)
	l := openFake(t, f)
	defer func() {
		go func() {
			for range f.release { // let Close's fsyncs through
			}
		}()
		l.Close()
		close(f.release)
	}()
	done := make(chan *Record, 2)
	appendOne := func() {
		r := testRecord("Encrypt")
		go func() {
			if err := l.Append(context.Background(), r); err != nil {
				t.Error(err)
			}
			done <- r
		}()
	}
	appendOne()
	<-f.started // group 1 written, its fsync held
	appendOne()
	<-f.started // group 2 written, its fsync held too
	select {
	case r := <-done:
		t.Fatalf("record %d answered while both fsyncs are held", r.Seq)
	default:
	}
	f.release <- nil // one fsync returns: whichever, it started after group 1's write
	first := waitRecord(t, done)
	if !f.durableSeq(t, first.Seq) {
		t.Fatalf("record %d answered before it was durable", first.Seq)
	}
	f.release <- nil
	second := waitRecord(t, done)
	if first.Seq+second.Seq != 3 || !f.durableSeq(t, second.Seq) {
		t.Fatalf("answered %d then %d", first.Seq, second.Seq)
	}
	if seq, _ := l.Head(); seq != 2 {
		t.Errorf("head %d, want 2", seq)
	}
}

func waitRecord(t *testing.T, done <-chan *Record) *Record {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no caller answered")
		return nil
	}
}

// A failed fsync fails every group waiting, also one whose own fsync
// returns later without an error; the writer then cuts the file back to
// the last durable record and the next record continues the chain from
// there (a disk that works again), not from the failed records.
func TestGroupCommitFailedSyncFailsWaitingAndRecovers(t *testing.T) {
	f := newFakeFile(true)
	l := openFake(t, f)
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- l.Append(context.Background(), testRecord("Encrypt")) }()
		<-f.started
	}
	f.release <- errors.New("disk gone")
	for range 2 {
		select {
		case err := <-errs:
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte("fsync failed")) {
				t.Errorf("append: %v, want the fsync failure", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a waiting group was not failed")
		}
	}
	if l.Failing() == nil {
		t.Error("Failing is nil after a failed fsync")
	}
	if seq, _ := l.Head(); seq != 0 {
		t.Errorf("head %d after a failed fsync, want 0", seq)
	}
	f.release <- nil // the other fsync "succeeds" late: nothing changes
	go func() {
		for range f.started { // the cut's fsync and the next group's
			f.release <- nil
		}
	}()
	r := testRecord("Encrypt")
	if err := l.Append(context.Background(), r); err != nil {
		t.Fatalf("append after the disk works again: %v", err)
	}
	if r.Seq != 1 || l.Failing() != nil {
		t.Errorf("seq %d, failing %v: want seq 1 (the failed records cut) and no failure", r.Seq, l.Failing())
	}
	l.Close()
	close(f.started)
	f.mu.Lock()
	defer f.mu.Unlock()
	res, err := Verify(bytes.NewReader(f.data))
	if err != nil || res.Records != 1 {
		t.Fatalf("chain after the cut: %+v, %v; want one record", res, err)
	}
}
