package awsapi_test

import (
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trentkms/trent/awsapi"
)

// TestServeForAWSCLI serves a throwaway endpoint for scripts/awscli-e2e.sh
// when TRENT_AWSAPI_SERVE is a duration, for example
//
//	TRENT_AWSAPI_SERVE=2m TRENT_AWSAPI_SERVE_DIR=/tmp/awsapi go test -run TestServeForAWSCLI ./awsapi/
//
// It writes ca.pem and an env file (TRENT_AWS_ENDPOINT, AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_CA_BUNDLE) to TRENT_AWSAPI_SERVE_DIR, then
// serves on loopback until the duration ends. Otherwise it is skipped.
func TestServeForAWSCLI(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("TRENT_AWSAPI_SERVE"))
	if err != nil {
		t.Skip("set TRENT_AWSAPI_SERVE=<duration> to serve an endpoint for scripts/awscli-e2e.sh")
	}
	dir := os.Getenv("TRENT_AWSAPI_SERVE_DIR")
	if dir == "" {
		t.Fatal("TRENT_AWSAPI_SERVE_DIR is not set")
	}
	srv := newServer(t, newService(t), awsapi.Options{})
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	env := fmt.Sprintf("TRENT_AWS_ENDPOINT=%s\nAWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nAWS_CA_BUNDLE=%s\n",
		srv.URL, rootKeyID, rootSecret, ca)
	if err := os.WriteFile(filepath.Join(dir, "env"), []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	t.Logf("served %d requests", srv.requests.Load())
}
