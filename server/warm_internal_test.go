package server

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"testing/synctest"
)

func serveWarm(p *warmHandlers) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/x", nil))
	return w
}

func TestWarmHandlersReuseAWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var seen int
		p := newWarmHandlers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen++
			w.WriteHeader(http.StatusTeapot)
		}), 4)
		defer p.close()
		for i := range 5 {
			if got := serveWarm(p).Code; got != http.StatusTeapot {
				t.Fatalf("call %d answered %d, want the handler's %d", i, got, http.StatusTeapot)
			}
			synctest.Wait() // the worker is idle again
			if n := p.live.Load(); n != 1 {
				t.Fatalf("after call %d: %d workers, want the one reused", i, n)
			}
		}
		if seen != 5 {
			t.Fatalf("handler ran %d times, want 5", seen)
		}
	})
}

// TestWarmHandlersNeverQueue: with every worker busy, a call runs where it
// arrived instead of waiting for one.
func TestWarmHandlersNeverQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		p := newWarmHandlers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/block" {
				<-release
			}
		}), 1)
		defer p.close()
		blocked := make(chan struct{})
		go func() {
			defer close(blocked)
			p.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/block", nil))
		}()
		synctest.Wait() // the only worker is blocked in /block
		if n := p.live.Load(); n != 1 {
			t.Fatalf("%d workers, want 1", n)
		}
		serveWarm(p) // returns although no worker is free
		if n := p.live.Load(); n != 1 {
			t.Fatalf("%d workers, want the pool's 1: a call beyond it runs where it arrived", n)
		}
		close(release)
		<-blocked
	})
}

func TestWarmHandlersRaisePanicsWhereTheCallArrived(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name  string
		value any
		check func(t *testing.T, got any)
	}{
		{"value", boom, func(t *testing.T, got any) {
			hp, ok := got.(*handlerPanic)
			if !ok || hp.value != boom || len(hp.stack) == 0 {
				t.Fatalf("recovered %#v, want the handler's panic with the worker's stack", got)
			}
		}},
		{"abort", http.ErrAbortHandler, func(t *testing.T, got any) {
			if got != http.ErrAbortHandler {
				t.Fatalf("recovered %#v, want http.ErrAbortHandler itself (the server logs nothing for it)", got)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newWarmHandlers(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(tc.value) }), 2)
				defer p.close()
				got := func() (v any) {
					defer func() { v = recover() }()
					serveWarm(p)
					return nil
				}()
				tc.check(t, got)
				synctest.Wait()
				if n := p.live.Load(); n != 1 {
					t.Fatalf("%d workers after the panic, want the worker kept", n)
				}
			})
		})
	}
}

// A handler's runtime.Goexit ends its worker and, as without the pool,
// the goroutine the call arrived on: the HTTP server sees a broken call,
// not a complete response.
func TestWarmHandlersGoexitEndsTheArrivingGoroutineToo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newWarmHandlers(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { runtime.Goexit() }), 2)
		defer p.close()
		returned, ended := false, make(chan struct{})
		go func() {
			defer close(ended)
			serveWarm(p)
			returned = true
		}()
		<-ended
		if returned {
			t.Fatal("ServeHTTP returned normally from a handler that called runtime.Goexit")
		}
		synctest.Wait()
		if n := p.live.Load(); n != 0 {
			t.Fatalf("%d workers, want 0: the worker ended with its handler", n)
		}
	})
}

// A worker busy when the pool closes finishes its call, then ends.
func TestWarmHandlersCloseLetsABusyWorkerFinish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		p := newWarmHandlers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-release
			w.WriteHeader(http.StatusAccepted)
		}), 2)
		code := make(chan int)
		go func() { code <- serveWarm(p).Code }()
		synctest.Wait() // the worker is busy
		p.close()
		close(release)
		if got := <-code; got != http.StatusAccepted {
			t.Fatalf("the call busy at close answered %d, want %d", got, http.StatusAccepted)
		}
		synctest.Wait()
		if n := p.live.Load(); n != 0 {
			t.Fatalf("%d workers after the busy one finished, want 0", n)
		}
	})
}

func TestWarmHandlersClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		served := 0
		p := newWarmHandlers(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served++ }), 2)
		serveWarm(p)
		p.close()
		synctest.Wait()
		if n := p.live.Load(); n != 0 {
			t.Fatalf("%d workers after close, want 0", n)
		}
		serveWarm(p) // still served, where it arrived
		synctest.Wait()
		if n := p.live.Load(); n != 0 || served != 2 {
			t.Fatalf("after close: %d workers, %d calls served; want 0 and 2", n, served)
		}
		p.close() // idempotent
	})
}
