package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trentkms/trent/audit"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/identity"
)

// fixedClock is the injected clock of these tests.
func fixedClock() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }

// counterRand is a deterministic id source.
type counterRand struct {
	mu sync.Mutex
	n  byte
}

func (r *counterRand) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range p {
		r.n++
		p[i] = r.n
	}
	return len(p), nil
}

func openLog(t testing.TB, dir string, maxFile int64) *audit.Log {
	t.Helper()
	l, err := audit.Open(audit.Options{Dir: dir, NodeID: "node1", Region: "us-east-1", MaxFileBytes: maxFile,
		Now: fixedClock, Rand: &counterRand{}})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func root() identity.Principal { return identity.RootPrincipal("111122223333") }

func encryptCall(i int) *audit.Call {
	return &audit.Call{
		Source: audit.SourceKMS, Operation: "Encrypt", Protocol: "connect", Principal: root(), SourceIP: "127.0.0.1:5555",
		Input: &kmsv1.EncryptRequest{KeyId: "1234abcd-12ab-34cd-56ef-1234567890ab", Plaintext: []byte("secret"),
			EncryptionContext: map[string]string{"n": fmt.Sprint(i)}},
	}
}

// readAll returns every line of the log's files, verifying the chain.
func readAll(t testing.TB, dir string) (audit.Result, []*audit.Record) {
	t.Helper()
	files, err := audit.Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := audit.VerifyFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	var recs []*audit.Record
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for line := range bytes.Lines(b) {
			r, err := audit.ParseLine(bytes.TrimSuffix(line, []byte("\n")))
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
	}
	return res, recs
}

func TestConcurrentRecordsFormOneChain(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			if err := l.Record(context.Background(), encryptCall(i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	res, recs := readAll(t, dir)
	if res.Records != 200 || res.FirstSeq != 1 || res.HeadSeq != 200 || len(recs) != 200 {
		t.Fatalf("result %+v, %d records", res, len(recs))
	}
	seen := map[string]bool{}
	for _, r := range recs {
		seen[string(r.RequestParameters)] = true
	}
	if len(seen) != 200 {
		t.Fatalf("%d distinct records, want 200", len(seen))
	}
	if seq, hash := l.Head(); seq != 200 || hash != res.HeadHash {
		t.Fatalf("Head() = %d %s, verifier says %d %s", seq, hash, res.HeadSeq, res.HeadHash)
	}
}

func TestChainContinuesAcrossRestartAndRotation(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for run := range 3 {
		l := openLog(t, dir, 2000) // a few records per file
		for i := range 10 {
			if err := l.Record(ctx, encryptCall(run*10+i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := audit.Files(dir)
	if len(files) < 3 {
		t.Fatalf("%d files, want rotation into several", len(files))
	}
	res, recs := readAll(t, dir)
	if res.Records != 30 || res.HeadSeq != 30 {
		t.Fatalf("result %+v", res)
	}
	for _, f := range files {
		// Each file is named after its first record's seq.
		b, _ := os.ReadFile(f)
		first, err := audit.ParseLine(bytes.TrimSuffix(bytes.SplitAfterN(b, []byte("\n"), 2)[0], []byte("\n")))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("audit-%020d.jsonl", first.Seq); filepath.Base(f) != want {
			t.Fatalf("file %s starts with seq %d", f, first.Seq)
		}
	}
	_ = recs
}

func TestOpenCutsATornLastLine(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l := openLog(t, dir, 0)
	for i := range 3 {
		if err := l.Record(ctx, encryptCall(i)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	files, _ := audit.Files(dir)
	f, _ := os.OpenFile(files[len(files)-1], os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"eventVersion":"1.08","userIden`) // a crash mid-write
	f.Close()
	_, err := audit.VerifyFiles(files)
	var ce *audit.ChainError
	if !errors.As(err, &ce) || ce.Reason != "the last line is incomplete (torn write or truncated file)" || ce.Pos.Line != 4 {
		t.Fatalf("verify of a torn file: %v, want a ChainError at line 4 saying it is incomplete", err)
	}

	l = openLog(t, dir, 0)
	if err := l.Record(ctx, encryptCall(3)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if res, _ := readAll(t, dir); res.HeadSeq != 4 {
		t.Fatalf("head %d after recovery, want 4", res.HeadSeq)
	}
}

func TestOpenRemovesAFileHoldingOnlyATornWrite(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l := openLog(t, dir, 0)
	if err := l.Record(ctx, encryptCall(0)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	// A crash right after rotating to audit-2, in its first write.
	os.WriteFile(filepath.Join(dir, fmt.Sprintf("audit-%020d.jsonl", 2)), []byte(`{"eventVer`), 0o600)
	l = openLog(t, dir, 1) // rotate on the next write: to audit-2 again
	if err := l.Record(ctx, encryptCall(1)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if res, _ := readAll(t, dir); res.HeadSeq != 2 {
		t.Fatalf("head %d", res.HeadSeq)
	}
}

func TestARecordThatCannotBeEncodedFailsAlone(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	ctx := context.Background()
	if err := l.Append(ctx, &audit.Record{RequestParameters: []byte("{not json")}); err == nil {
		t.Fatal("an unencodable record was accepted")
	}
	for i := range 2 {
		if err := l.Record(ctx, encryptCall(i)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	if res, _ := readAll(t, dir); res.Records != 2 || res.HeadSeq != 2 {
		t.Fatalf("result %+v", res)
	}
}

func TestOpenRefusesACorruptLastRecord(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	if err := l.Record(context.Background(), encryptCall(0)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	files, _ := audit.Files(dir)
	b, _ := os.ReadFile(files[0])
	os.WriteFile(files[0], bytes.Replace(b, []byte(`"Encrypt"`), []byte(`"Decrypt"`), 1), 0o600)
	if _, err := audit.Open(audit.Options{Dir: dir, NodeID: "node1", Region: "us-east-1"}); !errors.Is(err, audit.ErrTampered) {
		t.Fatalf("Open on a modified last record: %v, want ErrTampered", err)
	}
}

func TestRecordAfterCloseFails(t *testing.T) {
	l := openLog(t, t.TempDir(), 0)
	l.Close()
	if err := l.Record(context.Background(), encryptCall(0)); !errors.Is(err, audit.ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}
}

// blockedRotation opens a log in dir that rotates to a new file at every
// group (with opts' Logger), writes one record, and makes the next
// rotation fail: the next file's name is taken by a directory. unblock
// removes it.
func blockedRotation(t *testing.T, dir string, opts audit.Options) (l *audit.Log, unblock func()) {
	t.Helper()
	l, err := audit.Open(audit.Options{Dir: dir, NodeID: "node1", Region: "us-east-1", MaxFileBytes: 1,
		Now: fixedClock, Rand: &counterRand{}, Logger: opts.Logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Record(context.Background(), encryptCall(0)); err != nil {
		t.Fatal(err)
	}
	blocker := filepath.Join(dir, fmt.Sprintf("audit-%020d.jsonl", 2))
	if err := os.Mkdir(blocker, 0o700); err != nil {
		t.Fatal(err)
	}
	return l, func() {
		if err := os.Remove(blocker); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWriteFailureRefusesUntilAWriteSucceeds(t *testing.T) {
	dir := t.TempDir()
	l, unblock := blockedRotation(t, dir, audit.Options{})
	ctx := context.Background()
	for i := 1; i <= 2; i++ {
		if err := l.Record(ctx, encryptCall(i)); err == nil {
			t.Fatal("a record that could not be written was acknowledged")
		}
		if l.Failing() == nil {
			t.Fatal("Failing does not say why records are refused")
		}
	}
	// The disk is fine again: the next record is written, and continues
	// the chain from the last one acknowledged.
	unblock()
	if err := l.Record(ctx, encryptCall(3)); err != nil {
		t.Fatalf("the log did not recover once writes work again: %v", err)
	}
	if err := l.Failing(); err != nil {
		t.Fatalf("Failing = %v after a successful write", err)
	}
	l.Close()
	res, recs := readAll(t, dir)
	if res.Records != 2 || len(recs) != 2 || recs[1].Seq != 2 {
		t.Fatalf("got %d records (%+v), want the first and the last, seqs 1 and 2", res.Records, res)
	}
}

// logLines keeps the level and message of every log line, with its
// refused_calls attribute if it has one.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (h *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (h *logLines) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logLines) WithGroup(string) slog.Handler            { return h }
func (h *logLines) Handle(_ context.Context, r slog.Record) error {
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "refused_calls" {
			line += fmt.Sprintf(" refused_calls=%v", a.Value)
		}
		return true
	})
	h.mu.Lock()
	h.lines = append(h.lines, line)
	h.mu.Unlock()
	return nil
}

func (h *logLines) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	lines := h.lines
	h.lines = nil
	return lines
}

// A trail that cannot write says so once, not once per call it refuses,
// and counts the refused calls when it writes again.
func TestCallRefusedLogsAFailingTrailOnce(t *testing.T) {
	lines := &logLines{}
	logger := slog.New(lines)
	dir := t.TempDir()
	l, unblock := blockedRotation(t, dir, audit.Options{Logger: logger})
	ctx := context.Background()
	refuse := func(i int) {
		t.Helper()
		err := l.Record(ctx, encryptCall(i))
		if err == nil {
			t.Fatal("a record that could not be written was acknowledged")
		}
		l.CallRefused(ctx, logger, err, "audit record not written", "op", "Encrypt")
	}
	for i := 1; i <= 3; i++ {
		refuse(i)
	}
	want := []string{"ERROR audit log write failed; calls are refused until a write succeeds",
		"DEBUG audit record not written", "DEBUG audit record not written", "DEBUG audit record not written"}
	if got := lines.take(); !slices.Equal(got, want) {
		t.Fatalf("while failing, the log got\n%q\nwant\n%q", got, want)
	}
	// A refusal for another reason during the failure is an error.
	l.CallRefused(ctx, logger, audit.ErrClosed, "audit record not written", "op", "Encrypt")
	if got, want := lines.take(), []string{"ERROR audit record not written"}; !slices.Equal(got, want) {
		t.Fatalf("another refusal while failing: the log got %q, want %q", got, want)
	}
	unblock()
	if err := l.Record(ctx, encryptCall(4)); err != nil {
		t.Fatal(err)
	}
	if got, want := lines.take(), []string{"INFO audit log writes again refused_calls=3"}; !slices.Equal(got, want) {
		t.Fatalf("once writing again, the log got %q, want %q", got, want)
	}
	// A second failure counts its own refusals.
	blocker := filepath.Join(dir, fmt.Sprintf("audit-%020d.jsonl", 3))
	if err := os.Mkdir(blocker, 0o700); err != nil {
		t.Fatal(err)
	}
	refuse(5)
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if err := l.Record(ctx, encryptCall(6)); err != nil {
		t.Fatal(err)
	}
	want = []string{"ERROR audit log write failed; calls are refused until a write succeeds",
		"DEBUG audit record not written", "INFO audit log writes again refused_calls=1"}
	if got := lines.take(); !slices.Equal(got, want) {
		t.Fatalf("a second failure: the log got\n%q\nwant\n%q", got, want)
	}
	// After Close, a refusal is an error of its own.
	l.Close()
	refuse(7)
	if got, want := lines.take(), []string{"ERROR audit record not written"}; !slices.Equal(got, want) {
		t.Fatalf("after Close, the log got %q, want %q", got, want)
	}
}

func TestRecordShape(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	ctx := context.Background()
	bob, _ := identity.ParsePrincipal("arn:aws:iam::111122223333:user/bob")
	calls := []*audit.Call{
		{Source: audit.SourceKMS, Operation: "Encrypt", Protocol: "grpc", Principal: root(), SourceIP: "127.0.0.1:40000",
			UserAgent: "grpc-go/1", RequestID: "req-1",
			Input: &kmsv1.EncryptRequest{KeyId: "alias/app", Plaintext: []byte("hunter2"), GrantTokens: []string{"tok-secret"},
				EncryptionContext: map[string]string{"b": "2", "a": "1"}},
			Output: &kmsv1.EncryptResponse{CiphertextBlob: []byte("blob-secret"),
				KeyId: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", EncryptionAlgorithm: "SYMMETRIC_DEFAULT"}},
		{Source: audit.SourceKMS, Operation: "CreateGrant", Protocol: audit.ProtocolAWSJSON, Principal: bob, AccessKeyID: "AKIABOB",
			SourceIP: "[::1]:443", RequestID: "req-2", ErrorCode: "AccessDeniedException", ErrorMessage: "denied",
			Input: &kmsv1.CreateGrantRequest{KeyId: "1234abcd-12ab-34cd-56ef-1234567890ab", GranteePrincipal: "arn:aws:iam::111122223333:user/alice",
				Operations: []string{"Decrypt"}, Constraints: &kmsv1.GrantConstraints{EncryptionContextSubset: map[string]string{"k": "v"}},
				GrantTokens: []string{"tok-secret"}, Name: "g1"}},
		{Source: audit.SourceKMS, Operation: "ListKeys", Protocol: audit.ProtocolAWSJSON, AccessKeyID: "AKIAUNKNOWN",
			SourceIP: "10.0.0.1:1", RequestID: "req-3", ErrorCode: "SerializationException", ErrorMessage: `bad "Plaintext": "hunter2"`},
		{Source: audit.SourceKMS, Operation: "CreateKey", Protocol: "connect", Principal: root(), SourceIP: "127.0.0.1:1",
			RequestID: "req-4", AppliedIndex: 42, Consistency: "linearizable",
			Input: &kmsv1.CreateKeyRequest{Description: "d"},
			Output: &kmsv1.CreateKeyResponse{KeyMetadata: &kmsv1.KeyMetadata{KeyId: "k1", Arn: "arn:aws:kms:us-east-1:111122223333:key/k1",
				KeyState: "Enabled", Enabled: true, CreationDate: 1.7e9}}},
	}
	for _, c := range calls {
		if err := l.Record(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	files, _ := audit.Files(dir)
	got, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "records.jsonl", got)
	for _, secret := range []string{"hunter2", "tok-secret", "blob-secret", "aHVudGVyMg"} {
		if bytes.Contains(got, []byte(secret)) {
			t.Errorf("the records contain %q", secret)
		}
	}
}

func TestSyncIntervalAcknowledgesBeforeFsync(t *testing.T) {
	dir := t.TempDir()
	l, err := audit.Open(audit.Options{Dir: dir, NodeID: "node1", Region: "us-east-1", SyncInterval: time.Hour,
		Now: fixedClock, Rand: &counterRand{}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := l.Record(context.Background(), encryptCall(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Acknowledged and in the file (a process crash now loses nothing),
	// but not yet fsynced.
	if st := l.Stats(); st.Records != 3 || st.Syncs != 0 {
		t.Fatalf("stats %+v, want 3 records and no fsync yet", st)
	}
	if res, _ := readAll(t, dir); res.HeadSeq != 3 {
		t.Fatalf("head %d before fsync", res.HeadSeq)
	}
	l.Close()
	if st := l.Stats(); st.Syncs != 1 {
		t.Fatalf("stats %+v: Close must fsync what is pending", st)
	}
}

// SetSyncInterval changes the sync interval of a running log: from an hour
// to zero fsyncs what was deferred at once and then every group; back to
// an hour defers again.
func TestSetSyncIntervalWhileRunning(t *testing.T) {
	l := openLog(t, t.TempDir(), 0)
	defer l.Close()
	l.SetSyncInterval(time.Hour)
	for i := range 3 {
		if err := l.Record(context.Background(), encryptCall(i)); err != nil {
			t.Fatal(err)
		}
	}
	if st := l.Stats(); st.Records != 3 || st.Syncs != 0 {
		t.Fatalf("stats %+v under an hour's interval, want 3 records and no fsync", st)
	}
	l.SetSyncInterval(0)
	if st := l.Stats(); st.Syncs != 1 {
		t.Fatalf("stats %+v: going to zero must fsync what was deferred", st)
	}
	if err := l.Record(context.Background(), encryptCall(3)); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Syncs != 2 {
		t.Fatalf("stats %+v: under zero every group is fsynced", st)
	}
	l.SetSyncInterval(time.Hour)
	if err := l.Record(context.Background(), encryptCall(4)); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Syncs != 2 {
		t.Fatalf("stats %+v: an hour's interval defers again", st)
	}
}

func TestDefaultFsyncsEveryGroup(t *testing.T) {
	l := openLog(t, t.TempDir(), 0)
	for i := range 3 {
		if err := l.Record(context.Background(), encryptCall(i)); err != nil {
			t.Fatal(err)
		}
	}
	if st := l.Stats(); st.Records != 3 || st.Syncs != st.Commits || st.Commits == 0 {
		t.Fatalf("stats %+v, want one fsync per group commit", st)
	}
	l.Close()
}

// The service's own actions are AwsServiceEvent records invoked by
// kms.amazonaws.com, in the same chain as the calls.
func TestServiceEventShape(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	ctx := context.Background()
	arn := "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for _, e := range []audit.ServiceEvent{
		{Operation: "RotateKey", KeyARN: arn, Account: "111122223333", AppliedIndex: 7},
		{Operation: "DeleteKey", KeyARN: arn, Account: "111122223333", AppliedIndex: 9},
	} {
		if err := l.RecordServiceEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Record(ctx, encryptCall(1)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	_, recs := readAll(t, dir)
	files, _ := audit.Files(dir)
	got, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "service-events.jsonl", got)
	if len(recs) != 3 || recs[0].EventType != "AwsServiceEvent" || recs[1].EventName != "DeleteKey" ||
		recs[1].UserIdentity.InvokedBy != "kms.amazonaws.com" || recs[2].EventType != "AwsApiCall" {
		t.Fatalf("records %+v", recs)
	}
}
