package server

import (
	"fmt"
	"net/http"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"time"

	"github.com/trentkms/trent/audit"
)

// pprofPath is where --pprof serves the Go runtime's profiles on the API
// listener, to the admin only (pprofPolicy): /debug/pprof/profile (CPU,
// ?seconds=N, default 30), /debug/pprof/trace (execution trace,
// ?seconds=N, default 1) and the runtime's named profiles
// (/debug/pprof/heap, goroutine, allocs, block, mutex, threadcreate;
// ?debug=1 for text, never 2: a goroutine dump with call arguments). The paths and parameters are net/http/pprof's, so
// `go tool pprof` reads them, but the handlers are the node's own:
// importing net/http/pprof would register them on http.DefaultServeMux
// as a side effect, where anything that ever served that mux would expose
// them to anyone.
const pprofPath = "/debug/pprof/"

const (
	// pprofMaxSeconds caps a CPU profile or trace; pprofTimeout (the
	// route's deadline) leaves room to write it.
	pprofMaxSeconds = 120
	pprofTimeout    = (pprofMaxSeconds + 30) * time.Second
)

// pprofPolicy: only the admin account's root profiles the node, and every
// profile taken is recorded (it reveals the node's internals). Like
// /metrics it answers while the node does not serve: a stuck node is when
// a goroutine dump matters most.
func pprofPolicy() policy {
	return policy{source: audit.SourceAPI, callers: principals, admin: true, maxBytes: smallMaxBytes, timeout: pprofTimeout,
		audit: auditServed, peers: principals}
}

// servePprof is the pprof route's handler.
func servePprof(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "pprof: GET a profile", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, pprofPath)
	switch name {
	case "":
		serveProfileIndex(w)
	case "profile", "trace":
		serveTimed(w, r, name)
	default:
		p := pprof.Lookup(name)
		if p == nil {
			http.Error(w, fmt.Sprintf("pprof: no profile %q", name), http.StatusNotFound)
			return
		}
		debug, _ := strconv.Atoi(r.FormValue("debug"))
		if debug > 1 {
			// debug=2 dumps each goroutine's call arguments, words that may
			// be key material passed by value.
			http.Error(w, "pprof: debug must be 0 or 1 (debug=2 would print call arguments)", http.StatusBadRequest)
			return
		}
		if debug != 0 {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		}
		if err := p.WriteTo(w, debug); err != nil {
			http.Error(w, "pprof: "+err.Error(), http.StatusInternalServerError)
		}
	}
}

// serveProfileIndex lists the profiles.
func serveProfileIndex(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "profile?seconds=N\tCPU profile (default 30, at most %d)\ntrace?seconds=N\texecution trace (default 1, at most %d)\n",
		pprofMaxSeconds, pprofMaxSeconds)
	for _, p := range pprof.Profiles() {
		fmt.Fprintf(w, "%s\t%d\n", p.Name(), p.Count())
	}
}

// serveTimed records a CPU profile or an execution trace for ?seconds,
// or until the caller goes away.
func serveTimed(w http.ResponseWriter, r *http.Request, name string) {
	sec := 30
	if name == "trace" {
		sec = 1
	}
	if v := r.FormValue("seconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > pprofMaxSeconds {
			http.Error(w, fmt.Sprintf("pprof: seconds must be 1 to %d", pprofMaxSeconds), http.StatusBadRequest)
			return
		}
		sec = n
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	start, stop := pprof.StartCPUProfile, pprof.StopCPUProfile
	if name == "trace" {
		start, stop = trace.Start, trace.Stop
	}
	if err := start(w); err != nil {
		// Another profile or trace is running (the runtime allows one).
		http.Error(w, "pprof: "+err.Error(), http.StatusConflict)
		return
	}
	t := time.NewTimer(time.Duration(sec) * time.Second)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
	stop()
}
