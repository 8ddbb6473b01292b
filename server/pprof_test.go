package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trentkms/trent/server"
	"github.com/trentkms/trent/wire"
)

// get returns a GET's status, Trent-Error-Type and body.
func get(t *testing.T, hc *http.Client, url string) (int, string, []byte) {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get(wire.ErrorTypeHeader), body
}

// gzipped reports whether b starts as a gzip stream does (a pprof
// profile is gzipped protobuf).
func gzipped(b []byte) bool { return bytes.HasPrefix(b, []byte{0x1f, 0x8b}) }

// TestPprofIsOffByDefault: a node started with the default configuration
// serves no profile, not even to the admin.
func TestPprofIsOffByDefault(t *testing.T) {
	if server.DefaultConfig().Pprof {
		t.Fatal("--pprof is on by default")
	}
	dir := t.TempDir()
	s := start(t, dir)
	defer s.Close()
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=1"} {
		status, _, body := get(t, adminHTTP(t, dir), "https://"+s.APIAddr()+p)
		if status == http.StatusOK || gzipped(body) || strings.Contains(string(body), "goroutine") {
			t.Fatalf("%s answered the admin %d: %.80q", p, status, body)
		}
	}
}

// TestPprofIsForTheAdmin: with --pprof the admin account's root gets the
// profiles, each recorded in the audit trail; every other caller is
// refused as on /metrics.
func TestPprofIsForTheAdmin(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Pprof = true
	s, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "https://" + s.APIAddr() + "/debug/pprof/"
	admin := adminHTTP(t, dir)
	t.Run("admin", func(t *testing.T) {
		for _, tc := range []struct {
			path   string
			status int
			want   func([]byte) bool
		}{
			{"", http.StatusOK, func(b []byte) bool { return bytes.Contains(b, []byte("heap")) }},
			{"heap", http.StatusOK, gzipped},
			{"profile?seconds=1", http.StatusOK, gzipped},
			{"goroutine?debug=1", http.StatusOK, func(b []byte) bool { return bytes.Contains(b, []byte("servePprof")) }},
			{"trace?seconds=1", http.StatusOK, func(b []byte) bool { return bytes.HasPrefix(b, []byte("go 1.")) }},
			{"profile?seconds=0", http.StatusBadRequest, func([]byte) bool { return true }},
			{"goroutine?debug=2", http.StatusBadRequest, func(b []byte) bool { return !bytes.Contains(b, []byte("goroutine 1 [")) }},
			{"nosuch", http.StatusNotFound, func([]byte) bool { return true }},
		} {
			t.Run(tc.path, func(t *testing.T) {
				before := len(auditRecords(t, filepath.Join(dir, "audit")))
				status, _, body := get(t, admin, base+tc.path)
				if status != tc.status || !tc.want(body) {
					t.Fatalf("answered %d: %.80q", status, body)
				}
				recs := auditRecords(t, filepath.Join(dir, "audit"))[before:]
				name := strings.TrimSuffix(strings.SplitN(tc.path, "?", 2)[0], "/")
				if name == "" {
					name = "pprof"
				}
				if len(recs) != 1 || recs[0].EventName != name {
					t.Fatalf("want one record of %s, got %s", name, recordsJSON(recs))
				}
			})
		}
	})
	for _, tc := range nonAdmins(t, s, dir) {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range []string{"", "heap", "goroutine?debug=2", "profile?seconds=1"} {
				status, typ, body := get(t, tc.hc, base+p)
				if status != tc.status || typ != tc.typ {
					t.Fatalf("%s answered %d (%s), want %d %s", p, status, typ, tc.status, tc.typ)
				}
				if gzipped(body) || bytes.Contains(body, []byte("goroutine")) {
					t.Fatalf("the refusal of %s carries a profile", p)
				}
			}
		})
	}
}
