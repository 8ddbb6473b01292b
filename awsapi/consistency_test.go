package awsapi_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/trentkms/trent/awsapi"
	"github.com/trentkms/trent/consistency"
	"github.com/trentkms/trent/wire"
)

// admitter is a fake consistency gate: it records what each call asked
// for, and serves with a fixed bound or refuses.
type admitter struct {
	mu     sync.Mutex
	asked  []consistency.Request
	refuse bool
}

func (a *admitter) Admit(_ context.Context, r consistency.Request) (consistency.Served, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = append(a.asked, r)
	if a.refuse {
		return consistency.Served{}, &wire.Error{Type: "DependencyTimeoutException",
			Message: "Node node-1 cannot serve this read within the staleness bound of 1s."}
	}
	return consistency.Served{Mode: r.Mode, StalenessBound: 7 * time.Millisecond, AppliedIndex: 99}, nil
}

func (a *admitter) calls() []consistency.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]consistency.Request(nil), a.asked...)
}

func TestConsistencyHeaders(t *testing.T) {
	t.Parallel()
	gate := &admitter{}
	srv := newServer(t, newService(t), awsapi.Options{Reads: gate, LeaderHint: func() string { return "127.0.0.1:7710" }})
	now := time.Now()
	call := func(target, body string, headers ...string) *response {
		t.Helper()
		r := srv.rawRequest(t, target, body, rootKeyID, rootSecret, now)
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1]) // not signed, like any extra header
		}
		return srv.do(t, r)
	}
	wantMeta := func(t *testing.T, resp *response, mode, staleness, index string) {
		t.Helper()
		if resp.status != http.StatusOK {
			t.Fatalf("%d %s", resp.status, resp.body)
		}
		h := resp.header
		if h.Get("Trent-Consistency") != mode || h.Get("Trent-Staleness-Bound") != staleness ||
			(index != "" && h.Get("Trent-Applied-Index") != index) || h.Get("Trent-Served-By") != nodeID {
			t.Fatalf("headers %v; want consistency %s, bound %s, index %s", h, mode, staleness, index)
		}
	}

	t.Run("bounded by default", func(t *testing.T) {
		wantMeta(t, call("TrentService.ListKeys", "{}"), "bounded", "7ms", "99")
		if got := gate.calls(); got[len(got)-1] != (consistency.Request{Mode: consistency.Bounded, Account: "111122223333"}) {
			t.Fatalf("asked %+v", got[len(got)-1])
		}
	})
	t.Run("headers reach the gate", func(t *testing.T) {
		wantMeta(t, call("TrentService.ListKeys", "{}", "Trent-Consistency", "linearizable", "Trent-Min-Index", "12"), "linearizable", "7ms", "99")
		// The caller's account reaches the gate too (a simulated
		// propagation delay may be aimed at some accounts).
		want := consistency.Request{Mode: consistency.Linearizable, MinIndex: 12, Account: "111122223333"}
		if got := gate.calls(); got[len(got)-1] != want {
			t.Fatalf("asked %+v, want %+v", got[len(got)-1], want)
		}
	})
	var keyID string
	t.Run("a write reports the index at which it applied", func(t *testing.T) {
		resp := call("TrentService.CreateKey", "{}")
		wantMeta(t, resp, "leader", "0s", "")
		if resp.header.Get("Trent-Applied-Index") == "" || resp.header.Get("Trent-Applied-Index") == "99" {
			t.Fatalf("write index %q", resp.header.Get("Trent-Applied-Index"))
		}
		keyID = resp.json["KeyMetadata"].(map[string]any)["KeyId"].(string)
	})
	t.Run("malformed header", func(t *testing.T) {
		resp := call("TrentService.ListKeys", "{}", "Trent-Max-Staleness", "soon")
		msg := resp.wantError(t, http.StatusBadRequest, "ValidationException")
		if resp.header.Get("Trent-Leader") != "" {
			t.Fatal("a leader hint on a client error")
		}
		if msg != `Trent-Max-Staleness must be a non-negative duration such as 250ms, not "soon".` {
			t.Fatalf("message %q", msg)
		}
	})
	t.Run("a grant token makes the call linearizable in the service", func(t *testing.T) {
		before := len(gate.calls())
		resp := call("TrentService.Encrypt", `{"KeyId":"`+keyID+`","Plaintext":"eA==","GrantTokens":["not-a-token"]}`)
		resp.wantError(t, http.StatusBadRequest, "InvalidGrantTokenException")
		if len(gate.calls()) != before {
			t.Fatal("the gate was asked about a call with a grant token")
		}
	})
	t.Run("refused", func(t *testing.T) {
		gate.mu.Lock()
		gate.refuse = true
		gate.mu.Unlock()
		resp := call("TrentService.ListKeys", "{}")
		msg := resp.wantError(t, http.StatusServiceUnavailable, "DependencyTimeoutException")
		if resp.header.Get("Trent-Leader") != "127.0.0.1:7710" {
			t.Fatalf("leader hint %q", resp.header.Get("Trent-Leader"))
		}
		if msg != "Node node-1 cannot serve this read within the staleness bound of 1s." {
			t.Fatalf("message %q", msg)
		}
	})
}
