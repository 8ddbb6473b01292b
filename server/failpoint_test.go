//go:build faultinject

package server_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trentkms/trent/failpoint"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
)

// A node whose disk fails refuses calls with a retryable error, says why
// in its readiness, and serves again by itself once the disk works.
func TestDiskFailureIsReportedAndHeals(t *testing.T) {
	ctl := filepath.Join(t.TempDir(), "failpoints")
	t.Setenv(failpoint.Env, ctl)
	dir := t.TempDir()
	s := start(t, dir)
	hc := noCertHTTP(t, dir)
	kms := client(t, s, adminHTTP(t, dir))
	ctx := context.Background()
	waitFor(t, "ready", 10*time.Second, func() error {
		if h := getHealth(t, hc, s.APIAddr(), "/v1/health/ready"); h.code != http.StatusOK {
			return fmt.Errorf("ready is %+v", h)
		}
		return nil
	})
	if _, err := kms.CreateKey(ctx, &kmsv1.CreateKeyRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ctl, []byte("audit-write=error\nraft-log-append=error\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := kms.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if typ := errorType(err); typ != "KMSInternalException" && typ != "DependencyTimeoutException" {
		t.Fatalf("CreateKey on a failing disk: %v (%s); want a retryable refusal", err, typ)
	}
	wantHealth(t, hc, s.APIAddr(), "node1", "serving", "the audit log cannot be written")
	if err := os.Remove(ctl); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "writes again", 15*time.Second, func() error {
		_, err := kms.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
		return err
	})
	waitFor(t, "ready again", 10*time.Second, func() error {
		if h := getHealth(t, hc, s.APIAddr(), "/v1/health/ready"); h.code != http.StatusOK {
			return fmt.Errorf("ready is %+v", h)
		}
		return nil
	})
}
