package server

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// warmHandlers runs each request's handler on one of a set of long-lived
// goroutines instead of the goroutine the HTTP server starts for it (one
// per HTTP/2 stream). A call travels through the gate, Connect, the
// interceptors, the audit and the KMS layer, tens of KiB of stack deep; a
// new goroutine starts with a few KiB and grows its stack by copying it,
// walking every frame each time, several times per call. A worker's stack
// stays grown between the calls it serves (the runtime halves an idle
// stack at a GC, so a worker grows it again at most once per GC cycle).
//
// It never queues a call: a call no idle worker takes starts a new worker,
// and once there are max workers, runs where it arrived, as it would
// without the pool. The arriving goroutine waits for its call to end, so
// the handler uses the ResponseWriter and Request exactly as before; a
// handler's panic is raised again on the arriving goroutine, where the
// HTTP server deals with it as with any handler's, and so is a handler's
// runtime.Goexit. A handler must not leave goroutine-local state behind
// (pprof labels, a locked OS thread): the next call on its worker would
// inherit it.
type warmHandlers struct {
	next  http.Handler
	max   int32
	calls chan *warmCall // unbuffered: a send succeeds only to an idle worker
	quit  chan struct{}
	once  sync.Once
	live  atomic.Int32
	spare sync.Pool // *warmCall
}

// warmCall is one call handed to a worker; done carries nil when the
// handler returned, what it panicked with, or errGoexit.
type warmCall struct {
	w    http.ResponseWriter
	r    *http.Request
	done chan any
}

// handlerPanic carries a handler's panic from its worker to the goroutine
// the call arrived on, with the worker's stack at the panic.
type handlerPanic struct {
	value any
	stack []byte
}

// errGoexit is sent for a handler that called runtime.Goexit.
var errGoexit = new(handlerPanic)

func (p *handlerPanic) String() string {
	return fmt.Sprintf("%v\n\nworker stack:\n%s", p.value, p.stack)
}

// maxWarmWorkers bounds the pool: beyond it a call runs where it arrived.
// Four connections' worth of concurrent streams; an idle worker's stack
// shrinks back to a few KiB.
const maxWarmWorkers = 4 * maxConcurrentStreams

func newWarmHandlers(next http.Handler, max int) *warmHandlers {
	p := &warmHandlers{next: next, max: int32(max), calls: make(chan *warmCall), quit: make(chan struct{})}
	p.spare.New = func() any { return &warmCall{done: make(chan any, 1)} }
	return p
}

func (p *warmHandlers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := p.spare.Get().(*warmCall)
	c.w, c.r = w, r
	select {
	case p.calls <- c:
	default:
		if !p.start(c) {
			c.w, c.r = nil, nil
			p.spare.Put(c)
			p.next.ServeHTTP(w, r)
			return
		}
	}
	v := <-c.done
	c.w, c.r = nil, nil
	p.spare.Put(c)
	if v == errGoexit {
		runtime.Goexit()
	}
	if v != nil {
		if hp, ok := v.(*handlerPanic); ok && hp.value == http.ErrAbortHandler {
			panic(http.ErrAbortHandler)
		}
		panic(v)
	}
}

// start starts a worker with c as its first call, unless the pool is full
// or closed.
func (p *warmHandlers) start(c *warmCall) bool {
	select {
	case <-p.quit:
		return false
	default:
	}
	for {
		n := p.live.Load()
		if n >= p.max {
			return false
		}
		if p.live.CompareAndSwap(n, n+1) {
			break
		}
	}
	go p.work(c)
	return true
}

func (p *warmHandlers) work(c *warmCall) {
	defer p.live.Add(-1)
	for {
		p.serve(c)
		select {
		case c = <-p.calls:
		case <-p.quit:
			return
		}
	}
}

// serve runs one call and reports how it ended. A handler that calls
// runtime.Goexit ends its worker, and the goroutine its call arrived on
// calls it too (the HTTP server then ends the response as broken).
func (p *warmHandlers) serve(c *warmCall) {
	returned := false
	defer func() {
		switch v := recover(); {
		case v != nil:
			c.done <- &handlerPanic{value: v, stack: debug.Stack()}
		case !returned:
			c.done <- errGoexit
		default:
			c.done <- nil
		}
	}()
	p.next.ServeHTTP(c.w, c.r)
	returned = true
}

// close lets the workers end: each idle one at once, each busy one when
// its call returns. Calls arriving afterwards run where they arrive.
func (p *warmHandlers) close() { p.once.Do(func() { close(p.quit) }) }
