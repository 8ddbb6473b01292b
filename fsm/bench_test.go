package fsm

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"testing"
)

// Grants spread over keys as a busy account would: 100 keys with 10,000
// grants each (the per-key limit is 50,000).
const (
	benchKeys         = 100
	benchGrantsPerKey = 10_000
)

// buildGrants applies benchKeys keys and their grants through Apply, as
// replication would, with realistic ids, principals and a constraint.
func buildGrants(tb testing.TB) *FSM {
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
	for k := range benchKeys {
		keyID := fmt.Sprintf("1234abcd-12ab-34cd-56ef-%012d", k)
		apply(create(keyID))
		for g := range benchGrantsPerKey {
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
	f := buildGrants(b)
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
