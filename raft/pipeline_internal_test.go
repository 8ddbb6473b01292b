package raft

import (
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
)

// flakyStore fails a share of its appends while on, as a disk that fills
// and is freed again and again does.
type flakyStore struct {
	hraft.LogStore
	on     atomic.Bool
	mu     sync.Mutex
	rnd    *rand.Rand
	failed atomic.Int64
}

func (s *flakyStore) StoreLogs(logs []*hraft.Log) error {
	if s.on.Load() {
		s.mu.Lock()
		fail := s.rnd.IntN(3) == 0
		s.mu.Unlock()
		if fail {
			s.failed.Add(1)
			return errDiskFull
		}
	}
	return s.LogStore.StoreLogs(logs)
}

func (s *flakyStore) StoreLog(l *hraft.Log) error { return s.StoreLogs([]*hraft.Log{l}) }

// A follower that refuses appends now and then while the leader is busy
// catches up once its disk works: the leader's replication to it never
// wedges. With hashicorp/raft's pipelined replication (MaxRPCsInFlight
// 2, its default) it did, in most runs of this test: the pipeline's
// decoder quits on the refusal while the sender waits on it forever, and
// heartbeats keep the follower from calling an election.
func TestARefusedAppendDoesNotWedgeReplication(t *testing.T) {
	logger := hclog.New(&hclog.LoggerOptions{Output: io.Discard})
	disk := &flakyStore{LogStore: hraft.NewInmemStore(), rnd: rand.New(rand.NewPCG(4227, 1))}
	var nodes []*hraft.Raft
	var servers []hraft.Server
	var transports []*hraft.NetworkTransport
	for _, id := range []string{"n1", "n2", "n3"} {
		tr, err := hraft.NewTCPTransportWithConfig("127.0.0.1:0", nil, transportConfig(nil, logger))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Close() })
		transports = append(transports, tr)
		servers = append(servers, hraft.Server{ID: hraft.ServerID(id), Address: tr.LocalAddr()})
	}
	for i, id := range []string{"n1", "n2", "n3"} {
		var logs hraft.LogStore = hraft.NewInmemStore()
		heartbeat := 5 * time.Second
		if id == "n1" {
			heartbeat = 500 * time.Millisecond // n1 is elected first and leads
		}
		if id == "n3" {
			logs = disk
		}
		nodes = append(nodes, newTestRaftOn(t, id, transports[i], heartbeat, logs))
	}
	if err := settle(nodes[0].BootstrapCluster(hraft.Configuration{Servers: servers})); err != nil {
		t.Fatal(err)
	}
	leader := nodes[0]
	awaitLeader(t, leader)

	disk.on.Store(true)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 200 {
				if err := settle(leader.Apply([]byte("w"), 5*time.Second)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	disk.on.Store(false)
	if disk.failed.Load() == 0 {
		t.Fatal("no append failed: the test proves nothing")
	}
	last := leader.Apply([]byte("last"), 5*time.Second)
	if err := settle(last); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n3 catches up", func() bool { return nodes[2].AppliedIndex() >= last.Index() })
}
