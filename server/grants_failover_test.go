package server_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
)

// CreateGrant retries with one Name, from many clients through both
// followers, while the leader is killed: every acknowledged answer names
// the same grant, and the key ends with exactly one grant of that Name.
func TestNameRetriesAcrossALeaderKillMakeOneGrant(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin := adminHTTP(t, c.adminDir)
	w := withHeaders(admin)
	ck, err := kmsVia(c.nodes[0], w).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// The followers may not have the key yet (bounded reads): the clients
	// read their write.
	afterKey := withHeaders(admin, "Trent-Min-Index", w.last().Get("Trent-Applied-Index"))
	keyID := ck.KeyMetadata.KeyId
	req := &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: "arn:aws:iam::111122223333:user/bob",
		Operations: []string{"Encrypt", "Decrypt"}, Name: "nightly-batch"}

	// Each client retries until it has two answers from after the kill, so
	// calls are in flight while the leader dies and the survivors elect.
	const clients = 8
	var (
		mu       sync.Mutex
		ids      = map[string]int{}
		acks     int
		retried  int
		killed   atomic.Bool
		firstAck = make(chan struct{})
		once     sync.Once
		wg       sync.WaitGroup
	)
	for i := range clients {
		via := kmsVia(c.nodes[1+i%2], afterKey)
		wg.Go(func() {
			for afterKill := 0; afterKill < 2; {
				for {
					sentAfterKill := killed.Load()
					resp, err := via.CreateGrant(ctx, req)
					if err == nil {
						mu.Lock()
						ids[resp.GrantId]++
						acks++
						mu.Unlock()
						once.Do(func() { close(firstAck) })
						if sentAfterKill {
							afterKill++
						}
						break
					}
					if code := connect.CodeOf(err); code != connect.CodeUnavailable && code != connect.CodeDeadlineExceeded || ctx.Err() != nil {
						t.Errorf("CreateGrant: %v", err)
						return
					}
					mu.Lock()
					retried++
					mu.Unlock()
				}
			}
		})
	}
	<-firstAck
	killed.Store(true)
	if err := c.nodes[0].Close(); err != nil { // the bootstrap node leads
		t.Fatal(err)
	}
	wg.Wait()
	if len(ids) != 1 {
		t.Fatalf("acknowledged grant ids %v, want exactly one", ids)
	}
	t.Logf("%d acknowledged calls, %d retried after errors", acks, retried)

	list, err := kmsVia(c.nodes[1], withHeaders(admin, "Trent-Consistency", "linearizable")).
		ListGrants(ctx, &kmsv1.ListGrantsRequest{KeyId: keyID})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Grants) != 1 || list.Grants[0].Name != "nightly-batch" || ids[list.Grants[0].GrantId] == 0 {
		t.Fatalf("grants on the key after the failover: %v", list.Grants)
	}
}
