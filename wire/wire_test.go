package wire_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/trentkms/trent/wire"
)

// TestHeaderNames pins the header names: clients (the cli, the jepsen
// client, scripts) match them byte for byte.
func TestHeaderNames(t *testing.T) {
	for got, want := range map[string]string{
		wire.ConsistencyHeader:    "Trent-Consistency",
		wire.MaxStalenessHeader:   "Trent-Max-Staleness",
		wire.MinIndexHeader:       "Trent-Min-Index",
		wire.StalenessBoundHeader: "Trent-Staleness-Bound",
		wire.AppliedIndexHeader:   "Trent-Applied-Index",
		wire.ServedByHeader:       "Trent-Served-By",
		wire.LeaderHeader:         "Trent-Leader",
		wire.ErrorTypeHeader:      "Trent-Error-Type",
		wire.RequestIDHeader:      "Trent-Request-Id",
	} {
		if got != want {
			t.Errorf("header %q, want %q", got, want)
		}
	}
}

func TestError(t *testing.T) {
	err := fmt.Errorf("propose: %w", wire.Errorf(wire.NotFound, "Key '%s' does not exist", "k"))
	if got, want := err.Error(), "propose: NotFoundException: Key 'k' does not exist"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := wire.TypeOf(err); got != wire.NotFound {
		t.Errorf("TypeOf = %q, want %q", got, wire.NotFound)
	}
	if got := wire.TypeOf(errors.New("disk on fire")); got != wire.KMSInternal {
		t.Errorf("TypeOf(other) = %q, want %q", got, wire.KMSInternal)
	}
	for typ, want := range map[string]bool{wire.DependencyTimeout: true, wire.ServiceUnavailable: true, wire.Validation: false, wire.NotFound: false} {
		if got := (&wire.Error{Type: typ}).Retryable(); got != want {
			t.Errorf("%s Retryable = %v, want %v", typ, got, want)
		}
	}
}

func TestCallInfo(t *testing.T) {
	wire.SetAppliedIndex(context.Background(), 7) // no CallInfo: ignored
	var info wire.CallInfo
	ctx := wire.WithCallInfo(context.Background(), &info)
	wire.SetAppliedIndex(ctx, 7)
	wire.SetReadIndex(ctx, 9)
	if info != (wire.CallInfo{AppliedIndex: 7, ReadIndex: 9}) {
		t.Errorf("info = %+v", info)
	}
}

// TestLeaf checks that the package imports nothing of Trent's, so that
// every service and transport may import it.
func TestLeaf(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/trentkms/trent/wire").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != "github.com/trentkms/trent/wire" {
			t.Errorf("wire imports %s; it may import only the standard library", dep)
		}
	}
}
