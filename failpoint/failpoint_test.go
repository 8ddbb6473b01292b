package failpoint_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/trentkms/trent/failpoint"
)

func TestPoints(t *testing.T) {
	if !failpoint.Enabled {
		// The normal build: every point is off whatever the file says.
		t.Setenv(failpoint.Env, writeControl(t, "p=error\ns=on\nn=7\n"))
		if err := failpoint.Hit("p"); err != nil || failpoint.On("s") {
			t.Fatalf("a normal build has no fault points: Hit %v, On %v", err, failpoint.On("s"))
		}
		if _, ok := failpoint.Int("n"); ok {
			t.Fatal("a normal build has no settings")
		}
		return
	}
	path := writeControl(t, "# a comment\np=error\ns = on # trailing\nn=7\nq=bogus\n")
	t.Setenv(failpoint.Env, path)
	for _, tc := range []struct {
		name     string
		wantErr  bool
		wantOn   bool
		wantN    int64
		wantNSet bool
	}{
		{name: "p", wantErr: true},
		{name: "s", wantOn: true},
		{name: "n", wantN: 7, wantNSet: true},
		{name: "q"},
		{name: "absent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := failpoint.Hit(tc.name)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Hit = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, syscall.EIO) {
				t.Fatalf("Hit = %v, want it to wrap EIO", err)
			}
			if got := failpoint.On(tc.name); got != tc.wantOn {
				t.Fatalf("On = %v, want %v", got, tc.wantOn)
			}
			if n, ok := failpoint.Int(tc.name); n != tc.wantN || ok != tc.wantNSet {
				t.Fatalf("Int = %d, %v; want %d, %v", n, ok, tc.wantN, tc.wantNSet)
			}
		})
	}
	// A rewrite takes effect; a removed file turns every point off.
	later := time.Now().Add(time.Second)
	if err := os.WriteFile(path, []byte("p=off\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(path, later, later)
	if err := failpoint.Hit("p"); err != nil {
		t.Fatalf("after the rewrite Hit = %v", err)
	}
	if err := os.WriteFile(path, []byte("p=error\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(path, later.Add(time.Second), later.Add(time.Second))
	if err := failpoint.Hit("p"); err == nil {
		t.Fatal("the point set again does not fail")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := failpoint.Hit("p"); err != nil {
		t.Fatalf("without a file Hit = %v", err)
	}
}

func writeControl(t *testing.T, s string) string {
	path := filepath.Join(t.TempDir(), "failpoints")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
