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
	"time"

	"github.com/trentkms/trent/failpoint"
)

// DefaultMaxFileBytes is the size at which a log file is rotated when
// Options.MaxFileBytes is zero.
const DefaultMaxFileBytes = 64 << 20

// maxBatch bounds the records of one group commit.
const maxBatch = 1024

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
	// writer goroutine calls it: it must not block.
	Observer Observer
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

	mu       sync.Mutex // guards headSeq, headHash, err, closed
	headSeq  uint64
	headHash string
	err      error // sticky write failure
	failing  error // the last group commit's failure; nil after a success
	closed   bool

	// Owned by the writer goroutine.
	syncEvery time.Duration // the sync interval in force (Options.SyncInterval)
	f         *os.File
	size      int64
	buf       []byte
	dirty     bool // written but not fsynced (syncEvery > 0)

	stats Stats // guarded by mu
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
	l := &Log{opts: opts, queue: make(chan *pending, maxBatch), resync: make(chan resync), closing: make(chan struct{}),
		done: make(chan struct{}), headHash: GenesisHash, syncEvery: max(opts.SyncInterval, 0)}
	if err := l.recover(); err != nil {
		return nil, err
	}
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
		f, err := os.OpenFile(files[i], os.O_WRONLY|os.O_APPEND, 0o600)
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

// run is the writer: it takes every record waiting, writes them with one
// write and one fsync, then answers their callers.
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
						l.commit(batch)
						batch = batch[:0]
					}
				default:
					l.commit(batch)
					return
				}
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case p := <-l.queue:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		l.commit(batch)
	}
}

// commit writes one group of records.
func (l *Log) commit(batch []*pending) {
	if len(batch) == 0 {
		return
	}
	l.mu.Lock()
	seq, prev, err := l.headSeq, l.headHash, l.err
	l.mu.Unlock()
	stuck := err != nil // an earlier failure, already reported
	// A record that cannot be encoded fails alone and takes no seq.
	encErr := make([]error, len(batch))
	var first uint64
	if err == nil {
		l.buf = l.buf[:0]
		for i, p := range batch {
			p.rec.Seq, p.rec.PrevHash = seq+1, prev
			n := len(l.buf)
			var eerr error
			if l.buf, eerr = appendLine(l.buf, p.rec); eerr != nil {
				l.buf, encErr[i] = l.buf[:n], eerr
				continue
			}
			l.buf = append(l.buf, '\n')
			seq, prev = seq+1, p.rec.Hash
			if first == 0 {
				first = seq
			}
		}
	}
	var undone bool // failed, and the file is back at the last good record
	if err == nil && first != 0 {
		undone, err = l.write(first, l.buf)
	}
	if o := l.opts.Observer; o != nil {
		switch {
		case err == nil && first != 0:
			o.AuditCommitted(int(seq - first + 1))
		case err != nil && !stuck:
			o.AuditFailed()
		}
	}
	l.mu.Lock()
	if err == nil && first != 0 {
		l.stats.Records += seq - first + 1
		l.stats.Commits++
	}
	switch {
	case err == nil:
		l.headSeq, l.headHash = seq, prev
		if l.failing != nil && first != 0 {
			l.opts.Logger.Info("audit log writes again", "after", l.failing)
			l.failing = nil
		}
	case undone:
		// Nothing of the group stays in the file: its callers are
		// refused, and the next group tries again (a full disk that
		// frees up, a passing I/O error).
		if l.failing == nil {
			l.opts.Logger.Error("audit log write failed; calls are refused until a write succeeds", "err", err)
		}
		l.failing = fmt.Errorf("audit log write failed: %w", err)
		err = l.failing
		if failpoint.On("audit-ack-on-error") { // the canary: a record lost, its call answered
			err = nil
		}
	case l.err == nil:
		l.err = fmt.Errorf("audit log write failed: %w", err)
		l.failing = l.err
		l.opts.Logger.Error("audit log write failed and the file could not be restored; calls will be refused", "err", err)
	}
	if l.err != nil {
		err = l.err
	}
	l.mu.Unlock()
	for i, p := range batch {
		if encErr[i] != nil {
			p.done <- encErr[i]
		} else {
			p.done <- err
		}
	}
}

// write appends b, whose first record has seq first, rotating first if
// the current file is full, and syncs it unless syncs are deferred. If
// that fails, it cuts the file back to where it was before (and syncs
// the cut), so that no record of the group stays behind to fork the
// chain, and reports undone; a failure it cannot undo leaves the log
// failed for good.
func (l *Log) write(first uint64, b []byte) (undone bool, err error) {
	if l.f == nil || l.size > 0 && l.size+int64(len(b)) > l.opts.MaxFileBytes {
		if err := l.rotate(first); err != nil {
			return l.f == nil, err
		}
	}
	start := l.size
	if err = failpoint.Hit("audit-write"); err == nil {
		var n int
		n, err = l.f.Write(b)
		l.size += int64(n)
	}
	if err == nil && !l.opts.NoSync {
		// Written, not yet durable, not acknowledged.
		if err = failpoint.Hit("audit-commit"); err == nil {
			if l.syncEvery > 0 {
				l.dirty = true
				return false, nil
			}
			err = l.sync()
		}
	}
	if err == nil {
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

// sync fsyncs the current file and counts it.
func (l *Log) sync() error {
	start := time.Now()
	err := failpoint.Hit("audit-fsync")
	if err == nil {
		err = l.f.Sync()
	}
	d := time.Since(start)
	if o := l.opts.Observer; o != nil && err == nil {
		o.AuditSynced(d)
	}
	l.mu.Lock()
	l.stats.Syncs++
	l.stats.SyncTime += d
	l.mu.Unlock()
	l.dirty = false
	return err
}

// syncDirty fsyncs deferred writes. A failure is sticky like a write
// failure: records already acknowledged may be lost, and no more are
// accepted.
func (l *Log) syncDirty() {
	if !l.dirty || l.f == nil {
		return
	}
	if err := l.sync(); err != nil {
		l.mu.Lock()
		if l.err == nil {
			l.err = fmt.Errorf("audit log fsync failed: %w", err)
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
		if l.dirty {
			if err := l.sync(); err != nil {
				return err
			}
		}
		if err := l.f.Close(); err != nil {
			return err
		}
		l.f = nil
	}
	path := filepath.Join(l.opts.Dir, fileName(first))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
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
