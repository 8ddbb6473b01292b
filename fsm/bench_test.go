package fsm

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// Grants spread over keys as a busy account would: 100 keys with 10,000
// grants each (the per-key limit is 50,000).
const (
	benchKeys         = 100
	benchGrantsPerKey = 10_000
)

// buildGrants applies keys keys and perKey grants on each through Apply,
// as replication would, with realistic ids, principals and a constraint.
func buildGrants(tb testing.TB, keys, perKey int) *FSM {
	tb.Helper()
	f := New()
	idx := uint64(0)
	apply := func(c Command) {
		b, err := Encode(c)
		if err != nil {
			tb.Fatal(err)
		}
		idx++
		if r := f.Apply(Entry{Index: idx, Data: b}).(*Result); r.Err != nil {
			tb.Fatal(r.Err)
		}
	}
	for k := range keys {
		keyID := fmt.Sprintf("1234abcd-12ab-34cd-56ef-%012d", k)
		apply(create(keyID))
		for g := range perKey {
			apply(&CreateGrant{MaxGrantsPerKey: 50_000, Grant: Grant{
				ID:               fmt.Sprintf("%064x", uint64(k)<<32|uint64(g)),
				KeyID:            keyID,
				CreationDate:     1700000000000,
				GranteePrincipal: fmt.Sprintf("arn:aws:iam::111122223333:role/service-%d", g),
				Operations:       0b11,
				Subset:           map[string]string{"tenant": fmt.Sprintf("t-%d", g)},
				CreatedIndex:     idx + 1,
			}})
		}
	}
	return f
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMillionGrants reports the FSM's memory per grant and the time
// to snapshot and to restore a state holding a million grants.
//
//	go test -run '^$' -bench MillionGrants -benchtime 3x ./fsm
func BenchmarkMillionGrants(b *testing.B) {
	before := heapInUse()
	f := buildGrants(b, benchKeys, benchGrantsPerKey)
	after := heapInUse()
	n := benchKeys * benchGrantsPerKey
	var snap bytes.Buffer
	s, err := f.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Persist(&snap); err != nil {
		b.Fatal(err)
	}

	b.Run("memory", func(b *testing.B) {
		for b.Loop() {
		}
		b.ReportMetric(float64(after-before)/float64(n), "heap-B/grant")
		b.ReportMetric(float64(snap.Len())/float64(n), "snapshot-B/grant")
	})
	b.Run("snapshot", func(b *testing.B) {
		for b.Loop() {
			s, err := f.Snapshot()
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Persist(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("restore", func(b *testing.B) {
		for b.Loop() {
			g := New()
			if err := g.Restore(io.NopCloser(bytes.NewReader(snap.Bytes()))); err != nil {
				b.Fatal(err)
			}
		}
	})
	runtime.KeepAlive(f)
}

// BenchmarkStateSize is the state-size curve of docs/performance.md: for
// 10k, 100k and 1M grants (10,000 on each key) built through Apply, the
// time to snapshot the state to a file (Snapshot, Persist, fsync) and to
// restore a new FSM from that file, the snapshot's size, the live heap of
// the state and of the restored copy, and the process's peak RSS so far
// (the build's garbage included, so an upper bound). Each iteration
// snapshots and restores once; build time is not measured.
//
//	go test -run '^$' -bench StateSize -benchtime 1x -timeout 20m ./fsm
//
// With TRENT_BENCH_10M_GRANTS=1 it measures 10M grants only, as a node
// restarting from its snapshot sees them: the state is built, snapshotted
// and dropped before the restore, since the two copies (about 8 GB of
// heap each) would not fit in this machine's memory together. About 15
// minutes and 12 GB:
//
//	TRENT_BENCH_10M_GRANTS=1 go test -run '^$' -bench StateSize -benchtime 1x -timeout 60m ./fsm
func BenchmarkStateSize(b *testing.B) {
	if os.Getenv("TRENT_BENCH_10M_GRANTS") == "1" {
		benchRestart(b, 10_000_000)
		return
	}
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("grants=%d", n), func(b *testing.B) {
			base := heapInUse()
			f := buildGrants(b, n/10_000, 10_000)
			state := heapInUse() - base
			path := filepath.Join(b.TempDir(), "snapshot")
			var snap, restore time.Duration
			var size int64
			var restored uint64
			for b.Loop() {
				start := time.Now()
				size = persistTo(b, f, path)
				snap += time.Since(start)
				start = time.Now()
				g := restoreFrom(b, path)
				restore += time.Since(start)
				b.StopTimer()
				restored = heapInUse() - base - state
				runtime.KeepAlive(g)
				b.StartTimer()
			}
			reportState(b, snap, restore, size, state, restored)
			runtime.KeepAlive(f)
		})
	}
}

// benchRestart measures a state of n grants (10,000 on each key) as a
// node restarting from its snapshot sees it: built through Apply,
// snapshotted to a file, dropped, then restored into an empty FSM.
func benchRestart(b *testing.B, n int) {
	b.Run(fmt.Sprintf("grants=%d/restart", n), func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "snapshot")
		var snap, restore time.Duration
		var size int64
		var state, restored uint64
		for b.Loop() {
			b.StopTimer()
			base := heapInUse()
			start := time.Now()
			f := buildGrants(b, n/10_000, 10_000)
			b.Logf("built %d grants through Apply in %v", n, time.Since(start).Round(time.Second))
			state = heapInUse() - base
			b.StartTimer()
			start = time.Now()
			size = persistTo(b, f, path)
			snap += time.Since(start)
			b.StopTimer()
			f = nil
			runtime.GC()
			base = heapInUse()
			b.StartTimer()
			start = time.Now()
			g := restoreFrom(b, path)
			restore += time.Since(start)
			b.StopTimer()
			restored = heapInUse() - base
			runtime.KeepAlive(g)
			b.StartTimer()
		}
		reportState(b, snap, restore, size, state, restored)
	})
}

// reportState reports a state-size run: the mean snapshot and restore
// times over b.N iterations, the file's size, the heap of the state and of
// the restored copy, and the process's peak RSS.
func reportState(b *testing.B, snap, restore time.Duration, size int64, state, restored uint64) {
	iters := float64(b.N)
	b.ReportMetric(snap.Seconds()/iters, "snapshot-s")
	b.ReportMetric(restore.Seconds()/iters, "restore-s")
	b.ReportMetric(float64(size)/1e6, "file-MB")
	b.ReportMetric(float64(state)/1e6, "heap-MB")
	b.ReportMetric(float64(restored)/1e6, "restored-heap-MB")
	b.ReportMetric(maxRSS()/1e6, "peak-rss-MB")
}

// persistTo writes a snapshot of f to path, durably, and returns its size.
func persistTo(tb testing.TB, f *FSM, path string) int64 {
	tb.Helper()
	out, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer out.Close()
	s, err := f.Snapshot()
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Persist(out); err != nil {
		tb.Fatal(err)
	}
	if err := out.Sync(); err != nil {
		tb.Fatal(err)
	}
	st, err := out.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	return st.Size()
}

// restoreFrom returns a new FSM restored from the snapshot file at path.
func restoreFrom(tb testing.TB, path string) *FSM {
	tb.Helper()
	in, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	g := New()
	if err := g.Restore(in); err != nil {
		tb.Fatal(err)
	}
	return g
}

// maxRSS is the process's peak resident set in bytes (Linux reports
// kilobytes), or 0 where getrusage does not say.
func maxRSS() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) * 1024
}

// BenchmarkDeleteKey measures the apply of a DeleteKey, which holds the
// state lock, for the largest key: 50,000 grants (the per-key limit) and
// 50 aliases, in an account with 100,000 aliases on other keys (deleting
// a key scans its account's aliases). Run with -benchtime=5x: each
// iteration rebuilds the state.
func BenchmarkDeleteKey(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		f := New()
		var cmds []Command
		cmds = append(cmds, create("doomed"), create("other"))
		for g := range 50_000 {
			cmds = append(cmds, &CreateGrant{MaxGrantsPerKey: 50_000, Grant: Grant{ID: fmt.Sprintf("%064x", g), KeyID: "doomed",
				GranteePrincipal: fmt.Sprintf("arn:aws:iam::111122223333:role/r-%d", g%100), Operations: 1}})
		}
		for a := range 100_050 {
			target := "other"
			if a < 50 {
				target = "doomed"
			}
			cmds = append(cmds, &CreateAlias{Account: testAccount, Name: fmt.Sprintf("alias/a-%06d", a), ARN: "arn", KeyID: target, MaxAliasesPerKey: 200_000})
		}
		cmds = append(cmds, &ScheduleKeyDeletion{KeyID: "doomed", DeletionDate: 1, PendingWindowInDays: 7})
		for i, c := range cmds {
			e, _ := Encode(c)
			f.Apply(Entry{Index: uint64(i + 1), Data: e})
		}
		e, _ := Encode(&DeleteKey{KeyID: "doomed", Now: 1})
		idx := uint64(len(cmds) + 1)
		runtime.GC() // not the setup's garbage
		b.StartTimer()
		if r := f.Apply(Entry{Index: idx, Data: e}).(*Result); r.Err != nil {
			b.Fatal(r.Err)
		}
		b.StopTimer()
		if f.GrantCount("doomed") != 0 || f.AliasCount("doomed") != 0 || f.AliasCount("other") != 100_000 {
			b.Fatal("DeleteKey left grants or aliases, or took others")
		}
		b.StartTimer()
	}
}
