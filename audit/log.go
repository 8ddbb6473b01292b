package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trentkms/trent/failpoint"
)

// DefaultMaxFileBytes is the size at which a log file is rotated when
// Options.MaxFileBytes is zero.
const DefaultMaxFileBytes = 64 << 20

// maxBatch bounds the records of one group commit.
const maxBatch = 1024

// maxSyncs bounds the fsyncs in flight at once. The writer does not wait
// for a group's fsync to end before writing the next group: a group is
// durable once an fsync that started after its write returns, and fsyncs
// of one file overlap in the kernel (on ext4 two in flight complete about
// twice as many per second as one, at the same latency). So a record
// waits for about one fsync, not for the rest of the one in flight and
// then its own. While both are in flight the queue fills, and the writer
// takes all of it as the next group (BenchmarkRecord: 32 callers, a 1 ms
// fsync, 2 in flight answer 1.3-1.8x the records per second of 1).
const maxSyncs = 2

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit log closed")

// Options configures a Log.
type Options struct {
	// Dir holds the log files; it is created if missing. Required.
	Dir string
	// NodeID is written as trent.servedBy. Required.
	NodeID string
	// Region is written as awsRegion. Required.
	Region string
	// MaxFileBytes rotates to a new file once the current one reaches it;
	// zero means DefaultMaxFileBytes.
	MaxFileBytes int64
	// Now is the clock for eventTime; nil means time.Now.
	Now func() time.Time
	// Rand draws event and request ids; nil means crypto/rand.
	Rand io.Reader
	// SyncInterval, when positive, trades durability for latency: a record
	// is acknowledged once written to the file (it survives a crash of the
	// process, not of the machine) and the file is fsynced at most this
	// long afterwards. Zero, the default, fsyncs every group before its
	// callers are answered.
	SyncInterval time.Duration
	// NoSync skips fsync (tests and benchmarks of the cost only).
	NoSync bool
	// Logger receives write failures; nil discards them.
	Logger *slog.Logger
	// Observer, if set, is told of the writer's work (metrics). The
	// writer and its fsyncs call it, concurrently: it must not block.
	Observer Observer

	// openFile opens a log file; nil means os.OpenFile (tests fake it).
	openFile func(name string, flag int, perm os.FileMode) (file, error)
}

// file is what the writer needs of a log file.
type file interface {
	io.Writer
	Sync() error
	Close() error
	Truncate(size int64) error
}

// Observer is told of the audit writer's work: the records of each group
// commit, each fsync's duration, and each write or fsync failure.
type Observer interface {
	AuditCommitted(records int)
	AuditSynced(d time.Duration)
	AuditFailed()
}

// Log is a node's audit log: a directory of files named
// audit-<first seq>.jsonl holding one hash chain. One goroutine writes;
// Record and Append are safe for concurrent use.
type Log struct {
	opts    Options
	queue   chan *pending
	resync  chan resync // SetSyncInterval to the writer
	closing chan struct{}
	done    chan struct{}
	once    sync.Once

	mu       sync.Mutex // guards headSeq, headHash, err, failing, refused, cut, closed, inflight
	headSeq  uint64
	headHash string
	err      error // sticky write failure
	failing  error // the last group commit's failure; nil after a success
	// refused counts the calls refused (CallRefused) while failing, told
	// when the log writes again.
	refused int
	closed  bool
	// inflight are the groups written and waiting for an fsync, in chain
	// order.
	inflight []*group
	// cut is set when an fsync failed: the file must be cut back to
	// cutAt (the end of the last durable group) before the next write.
	cut   bool
	cutAt int64

	// syncSlots holds a token per fsync in flight (at most maxSyncs), and
	// syncs counts them.
	syncSlots chan struct{}
	syncs     sync.WaitGroup

	// Owned by the writer goroutine.
	syncEvery time.Duration // the sync interval in force (Options.SyncInterval)
	f         file
	size      int64
	buf       []byte
	dirty     bool   // written but not fsynced (syncEvery > 0)
	wSeq      uint64 // the last record written (durable or not)
	wHash     string

	stats Stats // guarded by mu

	stamp atomic.Pointer[stamp] // the last event time formatted (eventTime)
}

// Stats counts the writer's work since Open.
type Stats struct {
	// Records and Commits count records written and group commits (one
	// write and one fsync each); Records/Commits is the mean group size.
	Records, Commits uint64
	// Syncs counts fsyncs and SyncTime the time spent in them.
	Syncs    uint64
	SyncTime time.Duration
}

// QueueDepth returns how many records wait for the writer.
func (l *Log) QueueDepth() int { return len(l.queue) }

// Stats returns the writer's counters.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

type pending struct {
	rec  *Record
	done chan error
}

// group is one group commit: records written with one write, answered
// once an fsync makes them durable.
type group struct {
	batch  []*pending
	encErr []error // per record: it could not be encoded (it was not written)
	first  uint64  // seq of the first record written
	last   uint64  // seq of the last record written
	hash   string  // hash of record last
	start  int64   // the file's size before the group's write
}

// answer tells the group's callers: err, or a record's own encoding error.
func (g *group) answer(err error) {
	for i, p := range g.batch {
		if g.encErr[i] != nil {
			p.done <- g.encErr[i]
		} else {
			p.done <- err
		}
	}
}

// Open opens the log in opts.Dir, continuing the chain from its last
// record, and starts the writer. A torn last line (a write cut short by a
// crash; no record of it was acknowledged) is cut off; a corrupt complete
// last line is an error, so that a node never extends a broken chain.
func Open(opts Options) (*Log, error) {
	if opts.Dir == "" || opts.NodeID == "" || opts.Region == "" {
		return nil, errors.New("audit: Open needs Dir, NodeID and Region")
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = DefaultMaxFileBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit dir: %w", err)
	}
	if opts.openFile == nil {
		opts.openFile = func(name string, flag int, perm os.FileMode) (file, error) { return os.OpenFile(name, flag, perm) }
	}
	l := &Log{opts: opts, queue: make(chan *pending, maxBatch), resync: make(chan resync), closing: make(chan struct{}),
		done: make(chan struct{}), headHash: GenesisHash, syncEvery: max(opts.SyncInterval, 0), syncSlots: make(chan struct{}, maxSyncs)}
	if err := l.recover(); err != nil {
		return nil, err
	}
	l.wSeq, l.wHash = l.headSeq, l.headHash
	go l.run()
	return l, nil
}

// Files lists the log files of dir in chain order.
func Files(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type file struct {
		seq  uint64
		path string
	}
	var files []file
	for _, e := range entries {
		name := e.Name()
		num, ok := strings.CutPrefix(name, "audit-")
		num, ok2 := strings.CutSuffix(num, ".jsonl")
		if !ok || !ok2 || e.IsDir() {
			continue
		}
		seq, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			continue
		}
		files = append(files, file{seq, filepath.Join(dir, name)})
	}
	slices.SortFunc(files, func(a, b file) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.path
	}
	return paths, nil
}

func fileName(firstSeq uint64) string { return fmt.Sprintf("audit-%020d.jsonl", firstSeq) }

// recover finds the chain head in the newest non-empty file and opens that
// file for appending.
func (l *Log) recover() error {
	return l.recoverChain(failpoint.On("audit-recover-drop-tail"))
}

// recoverChain is recover; dropTail is the crash canary's broken
// recovery (-tags faultinject), which cuts off the last complete record
// as if it were torn.
func (l *Log) recoverChain(dropTail bool) error {
	files, err := Files(l.opts.Dir)
	if err != nil {
		return fmt.Errorf("audit dir: %w", err)
	}
	for i := len(files) - 1; i >= 0; i-- {
		off, b, err := readTail(files[i])
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		end := bytes.LastIndexByte(b, '\n') + 1
		size := off + int64(end)
		if end < len(b) {
			l.opts.Logger.Warn("audit: cutting off a torn last line", "file", files[i], "bytes", len(b)-end)
			if err := os.Truncate(files[i], size); err != nil {
				return fmt.Errorf("audit: cut torn line: %w", err)
			}
		}
		if size == 0 { // nothing but a torn first write: start it afresh
			if err := os.Remove(files[i]); err != nil {
				return fmt.Errorf("audit: %w", err)
			}
			continue
		}
		start := bytes.LastIndexByte(b[:max(end-1, 0)], '\n') + 1
		if end == 0 || start == 0 && off > 0 {
			return fmt.Errorf("audit: the end of %s holds no complete record in its last %d bytes (run trent audit verify)", files[i], len(b))
		}
		if dropTail {
			if err := os.Truncate(files[i], off+int64(start)); err != nil {
				return fmt.Errorf("audit: %w", err)
			}
			return l.recoverChain(false)
		}
		r, err := ParseLine(b[start : end-1])
		if err != nil {
			return fmt.Errorf("audit: the last record of %s is corrupt (run trent audit verify): %w", files[i], err)
		}
		l.headSeq, l.headHash = r.Seq, r.Hash
		f, err := l.opts.openFile(files[i], os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		l.f, l.size = f, size
		return nil
	}
	return nil
}

// tailBytes is how much of a file's end recovery reads: more than the
// longest line plus the longest torn group commit.
const tailBytes = 4 * maxLine

// readTail returns the last tailBytes of path and their offset.
func readTail(path string) (int64, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, nil, err
	}
	off := max(st.Size()-tailBytes, 0)
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return 0, nil, err
	}
	return off, b, nil
}

// Head returns the seq and hash of the last durable record (0 and
// GenesisHash for an empty log).
func (l *Log) Head() (uint64, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.headSeq, l.headHash
}

// Append chains rec (it sets Seq, PrevHash and Hash) and returns once it
// is durable, or with the error that kept it from being written (the
// next group tries again; only a failure the writer could not undo makes
// every later Append fail too). The record is queued even if
// ctx has ended (a call that happened is recorded); if ctx ends while it
// waits, Append returns ctx's error and the record is still written.
func (l *Log) Append(ctx context.Context, rec *Record) error {
	l.mu.Lock()
	closed, err := l.closed, l.err
	l.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if err != nil {
		return err
	}
	p := &pending{rec: rec, done: make(chan error, 1)}
	select {
	case l.queue <- p:
	case <-l.closing:
		return ErrClosed
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close writes what is queued and stops the writer.
func (l *Log) Close() error {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		close(l.closing)
		<-l.done
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		err := l.f.Close()
		l.f = nil
		return err
	}
	return nil
}

// SetSyncInterval changes Options.SyncInterval while the log runs (a
// configuration reload). Going to zero fsyncs the records written since
// the last fsync before it returns; from then on every group is fsynced
// before its callers are answered.
func (l *Log) SetSyncInterval(d time.Duration) {
	r := resync{every: max(d, 0), done: make(chan struct{})}
	select {
	case l.resync <- r:
		<-r.done
	case <-l.done:
	}
}

// resync is a new sync interval for the writer, which closes done once it
// is in force.
type resync struct {
	every time.Duration
	done  chan struct{}
}

// run is the writer: it takes every record waiting and writes them with
// one write; an fsync started after that write answers their callers
// (see maxSyncs), while the writer goes on to the next group.
func (l *Log) run() {
	defer close(l.done)
	var ticker *time.Ticker
	var tick <-chan time.Time
	pace := func() {
		if ticker != nil {
			ticker.Stop()
			ticker, tick = nil, nil
		}
		if l.syncEvery > 0 {
			ticker = time.NewTicker(l.syncEvery)
			tick = ticker.C
		}
	}
	pace()
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
		l.waitSyncs()
		l.syncDirty()
	}()
	batch := make([]*pending, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case p := <-l.queue:
			batch = append(batch, p)
		case <-tick:
			l.syncDirty()
			continue
		case r := <-l.resync:
			l.syncEvery = r.every
			if r.every == 0 {
				l.syncDirty()
			}
			pace()
			close(r.done)
			continue
		case <-l.closing:
			// Drain what was queued before Close.
			for {
				select {
				case p := <-l.queue:
					batch = append(batch, p)
					if len(batch) == maxBatch {
						l.commit(batch, l.acquire())
						batch = batch[:0]
					}
				default:
					l.commit(batch, l.acquire())
					return
				}
			}
		}
		// Wait for an fsync slot before taking the rest of the queue, so
		// that what arrives meanwhile joins this group.
		held := l.acquire()
	fill:
		for len(batch) < maxBatch {
			select {
			case p := <-l.queue:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		l.commit(batch, held)
	}
}

// acquire takes an fsync slot if groups are fsynced before they are
// answered; it returns whether it took one.
func (l *Log) acquire() bool {
	if l.syncEvery > 0 || l.opts.NoSync {
		return false
	}
	l.syncSlots <- struct{}{}
	return true
}

// commit writes one group of records and has them answered once durable.
// held says that the writer holds an fsync slot (acquire) for it.
func (l *Log) commit(batch []*pending, held bool) {
	if len(batch) == 0 {
		if held {
			<-l.syncSlots
		}
		return
	}
	l.mu.Lock()
	err, cut := l.err, l.cut
	l.mu.Unlock()
	stuck := err != nil // an earlier failure, already reported
	if err == nil && cut {
		err = l.cutBack()
	}
	// A record that cannot be encoded fails alone and takes no seq.
	g := &group{batch: slices.Clone(batch), encErr: make([]error, len(batch))}
	seq, prev := l.wSeq, l.wHash
	if err == nil {
		l.buf = l.buf[:0]
		for i, p := range g.batch {
			p.rec.Seq, p.rec.PrevHash = seq+1, prev
			n := len(l.buf)
			var eerr error
			if l.buf, eerr = appendLine(l.buf, p.rec); eerr != nil {
				l.buf, g.encErr[i] = l.buf[:n], eerr
				continue
			}
			l.buf = append(l.buf, '\n')
			seq, prev = seq+1, p.rec.Hash
			if g.first == 0 {
				g.first = seq
			}
		}
	}
	g.last, g.hash = seq, prev
	var undone bool // failed, and the file is back at the last good record
	if err == nil && g.first != 0 {
		g.start = l.size
		undone, err = l.write(g.first, l.buf)
	}
	if err != nil {
		if o := l.opts.Observer; o != nil && !stuck {
			o.AuditFailed()
		}
		if held {
			<-l.syncSlots
		}
		if undone {
			g.answer(l.refuse(fmt.Errorf("audit log write failed: %w", err)))
			return
		}
		g.answer(l.fail(fmt.Errorf("audit log write failed: %w", err), "audit log write failed and the file could not be restored; calls will be refused", err))
		return
	}
	if g.first == 0 { // nothing written
		if held {
			<-l.syncSlots
		}
		g.answer(nil)
		return
	}
	l.wSeq, l.wHash = g.last, g.hash
	if !held {
		l.durable(g)
		return
	}
	l.mu.Lock()
	if l.cut {
		// An fsync failed while this group was written: the cut takes
		// it too, so it fails with the groups it is chained to.
		failing := l.failing
		l.mu.Unlock()
		<-l.syncSlots
		g.answer(l.canary(failing))
		return
	}
	l.inflight = append(l.inflight, g)
	l.mu.Unlock()
	l.syncs.Add(1)
	go l.syncGroup(l.f, g)
}

// refuse records err as why the log refuses records until a group is
// durable again (nothing of the failed group stays in the file, so the
// next group tries again: a full disk that frees up, a passing I/O
// error), and returns what the group's callers are answered.
func (l *Log) refuse(err error) error {
	l.mu.Lock()
	if l.failing == nil {
		l.opts.Logger.Error("audit log write failed; calls are refused until a write succeeds", "err", err)
	}
	l.failing = err
	l.mu.Unlock()
	return l.canary(err)
}

// canary is err, except in the canary build (-tags faultinject with
// audit-ack-on-error), which answers a lost record as written so that the
// harness's audit checker must find the call missing from the trail.
func (l *Log) canary(err error) error {
	if failpoint.On("audit-ack-on-error") {
		return nil
	}
	return err
}

// fail makes err the sticky failure, if there is none yet, logging msg
// once, and returns the sticky failure.
func (l *Log) fail(err error, msg string, cause error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = err
		l.failing = err
		l.opts.Logger.Error(msg, "err", cause)
	}
	return l.err
}

// durable counts g as written (and durable, as far as the sync mode
// promises) and answers its callers.
func (l *Log) durable(g *group) {
	l.mu.Lock()
	l.advance(g)
	l.mu.Unlock()
	if o := l.opts.Observer; o != nil {
		o.AuditCommitted(int(g.last - g.first + 1))
	}
	g.answer(nil)
}

// advance moves the durable head to g; l.mu is held.
func (l *Log) advance(g *group) {
	l.stats.Records += g.last - g.first + 1
	l.stats.Commits++
	if g.last > l.headSeq {
		l.headSeq, l.headHash = g.last, g.hash
	}
	if l.failing != nil && l.err == nil {
		l.opts.Logger.Info("audit log writes again", "after", l.failing, "refused_calls", l.refused)
		l.failing, l.refused = nil, 0
	}
}

// syncGroup fsyncs f after g was written to it. On success every group
// written before g (still waiting for its own fsync) is durable too and
// is answered with g. If it fails, every group waiting fails, whatever
// its own fsync returns (after a failed fsync the kernel may have dropped
// pages, and a later fsync need not say so), and the writer cuts the file
// back to the end of the last durable group before it writes again.
func (l *Log) syncGroup(f file, g *group) {
	defer func() {
		<-l.syncSlots
		l.syncs.Done()
	}()
	err := l.sync(f)
	l.mu.Lock()
	if err != nil && !l.cut && l.err == nil && len(l.inflight) > 0 {
		failing := fmt.Errorf("audit log fsync failed: %w", err)
		if l.failing == nil {
			l.opts.Logger.Error("audit log fsync failed; calls are refused until a write succeeds", "err", err)
		}
		l.failing, l.cut, l.cutAt = failing, true, l.inflight[0].start
		if o := l.opts.Observer; o != nil {
			o.AuditFailed()
		}
	}
	failed, sticky := l.err, l.err != nil
	if failed == nil && l.cut {
		failed = l.failing
	}
	n := 0
	for n < len(l.inflight) && (failed != nil || l.inflight[n].last <= g.last) {
		n++
	}
	done := slices.Clone(l.inflight[:n])
	l.inflight = slices.Delete(l.inflight, 0, n)
	if failed == nil {
		for _, d := range done {
			l.advance(d)
		}
	}
	l.mu.Unlock()
	for _, d := range done {
		if sticky {
			d.answer(failed)
			continue
		}
		if failed != nil {
			d.answer(l.canary(failed))
			continue
		}
		if o := l.opts.Observer; o != nil {
			o.AuditCommitted(int(d.last - d.first + 1))
		}
		d.answer(nil)
	}
}

// cutBack cuts the file back to the end of the last durable group after
// a failed fsync, once the fsyncs in flight are done, and continues the
// chain from there. A cut that fails leaves the log failed for good.
func (l *Log) cutBack() error {
	l.waitSyncs()
	l.mu.Lock()
	at := l.cutAt
	l.mu.Unlock()
	err := l.f.Truncate(at)
	if err == nil && !l.opts.NoSync {
		err = l.f.Sync()
	}
	if err != nil {
		return l.fail(fmt.Errorf("audit log could not be cut back after a failed fsync: %w", err),
			"audit log could not be cut back after a failed fsync; calls will be refused", err)
	}
	l.size, l.dirty = at, false
	l.mu.Lock()
	l.cut = false
	l.wSeq, l.wHash = l.headSeq, l.headHash
	l.mu.Unlock()
	return nil
}

// waitSyncs waits for the fsyncs in flight; only the writer calls it.
func (l *Log) waitSyncs() { l.syncs.Wait() }

// errCutPending refuses a rotation while the current file still has to
// be cut back after a failed fsync.
var errCutPending = errors.New("a failed fsync is not undone yet")

// write appends b, whose first record has seq first, rotating first if
// the current file is full; the caller syncs it. If the write fails, it
// cuts the file back to where it was before (and syncs the cut), so that
// no record of the group stays behind to fork the chain, and reports
// undone; a failure it cannot undo leaves the log failed for good.
func (l *Log) write(first uint64, b []byte) (undone bool, err error) {
	if l.f == nil || l.size > 0 && l.size+int64(len(b)) > l.opts.MaxFileBytes {
		if err := l.rotate(first); err != nil {
			return l.f == nil || errors.Is(err, errCutPending), err
		}
	}
	start := l.size
	if err = failpoint.Hit("audit-write"); err == nil {
		var n int
		n, err = l.f.Write(b)
		l.size += int64(n)
	}
	if err == nil {
		// Written, not yet durable, not acknowledged.
		err = failpoint.Hit("audit-commit")
	}
	if err == nil {
		if l.syncEvery > 0 && !l.opts.NoSync {
			l.dirty = true
		}
		return false, nil
	}
	if terr := l.f.Truncate(start); terr != nil {
		return false, errors.Join(err, terr)
	}
	l.size = start
	if !l.opts.NoSync && l.syncEvery == 0 {
		if serr := l.f.Sync(); serr != nil {
			return false, errors.Join(err, serr)
		}
	}
	return true, err
}

// Failing returns why the last group commit failed, or nil once one
// succeeds again (readiness and status report it).
func (l *Log) Failing() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failing
}

// CallRefused logs, through logger, msg and args about a call answered
// with an internal error because Record refused its record with err. A
// refusal for the failure the log is in, which it logged once when it
// began and logs again, with the number of calls refused meanwhile, when
// it writes again, is at debug level: a full disk would otherwise get a
// line for every call it refuses, perhaps on the very disk that is full.
// Any other refusal is an error: the log closed, a record that could not
// be encoded, and a failure the log cannot undo, which refuses every call
// until the node restarts.
func (l *Log) CallRefused(ctx context.Context, logger *slog.Logger, err error, msg string, args ...any) {
	l.mu.Lock()
	passing := l.err == nil && l.failing != nil && errors.Is(err, l.failing)
	if passing {
		l.refused++
	}
	l.mu.Unlock()
	level := slog.LevelError
	if passing {
		level = slog.LevelDebug
	}
	logger.Log(ctx, level, msg, append(args, "err", err)...)
}

// sync fsyncs the current file and counts it. The writer's fsyncs of
// groups (syncGroup) may run at once with each other and with the writer's
// own (syncDirty, rotate, cuts), never with a rotation (waitSyncs).
func (l *Log) sync(f file) error {
	start := time.Now()
	err := failpoint.Hit("audit-fsync")
	if err == nil {
		err = f.Sync()
	}
	d := time.Since(start)
	if o := l.opts.Observer; o != nil && err == nil {
		o.AuditSynced(d)
	}
	l.mu.Lock()
	l.stats.Syncs++
	l.stats.SyncTime += d
	l.mu.Unlock()
	return err
}

// syncDirty fsyncs deferred writes. A failure is sticky like a write
// failure: records already acknowledged may be lost, and no more are
// accepted.
func (l *Log) syncDirty() {
	if !l.dirty || l.f == nil {
		return
	}
	l.dirty = false
	if err := l.sync(l.f); err != nil {
		l.mu.Lock()
		if l.err == nil {
			l.err = fmt.Errorf("audit log fsync failed: %w", err)
			l.failing = l.err // readiness names it, as for any other failure
			l.opts.Logger.Error("audit log fsync failed; acknowledged records may be lost and calls will be refused", "err", err)
			if o := l.opts.Observer; o != nil {
				o.AuditFailed()
			}
		}
		l.mu.Unlock()
	}
}

// rotate closes the current file and starts audit-<first>.jsonl.
func (l *Log) rotate(first uint64) error {
	if l.f != nil {
		l.waitSyncs() // the groups' fsyncs use l.f
		l.mu.Lock()
		cut := l.cut
		l.mu.Unlock()
		if cut {
			return errCutPending // the next group cuts this file first
		}
		if l.dirty {
			l.dirty = false
			if err := l.sync(l.f); err != nil {
				return err
			}
		}
		if err := l.f.Close(); err != nil {
			return err
		}
		l.f = nil
	}
	path := filepath.Join(l.opts.Dir, fileName(first))
	f, err := l.opts.openFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := l.syncDir(); err != nil {
		// Not durably there: remove it, so that the next group makes it again.
		f.Close()
		os.Remove(path)
		return err
	}
	l.f, l.size = f, 0
	return nil
}

// syncDir makes a new file's name durable.
func (l *Log) syncDir() error {
	if err := failpoint.Hit("audit-rotate"); err != nil || l.opts.NoSync {
		return err
	}
	d, err := os.Open(l.opts.Dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
