package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/hsm/pkcs11"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/server"
	"github.com/trentkms/trent/wire"
)

func testConfig(dir string) server.Config {
	cfg := server.DefaultConfig()
	cfg.DataDir = dir
	cfg.APIAddr = "127.0.0.1:0"
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.GossipAddr = "127.0.0.1:0"
	cfg.Testing = &server.TestingKnobs{RaftTimeout: 100 * time.Millisecond, Stderr: io.Discard}
	cfg.LogLevel = "error"
	return cfg
}

func start(t *testing.T, dir string) *server.Server { return startB(t, dir) }

func startB(t testing.TB, dir string) *server.Server {
	t.Helper()
	s, err := server.Start(context.Background(), testConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// adminHTTP returns an HTTP/2 client holding the admin credential.
func adminHTTP(t *testing.T, dir string) *http.Client { return adminHTTPB(t, dir) }

func adminHTTPB(t testing.TB, dir string) *http.Client {
	t.Helper()
	pool, cert, err := identity.LoadCredentials(filepath.Join(dir, "admin"))
	if err != nil {
		t.Fatal(err)
	}
	return httpClient(identity.ClientTLSConfig(pool, cert))
}

func httpClient(cfg *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
}

func client(_ testing.TB, s *server.Server, hc *http.Client, opts ...connect.ClientOption) kmsv1connect.KeyManagementServiceClient {
	return kmsv1connect.NewKeyManagementServiceClient(hc, "https://"+s.APIAddr(), opts...)
}

func TestEndToEndOverEveryProtocol(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	defer s.Close()
	hc := adminHTTP(t, dir)
	ctx := context.Background()

	protocols := map[string][]connect.ClientOption{
		"connect":  nil,
		"grpc":     {connect.WithGRPC()},
		"grpc-web": {connect.WithGRPCWeb()},
	}
	for name, opts := range protocols {
		t.Run(name, func(t *testing.T) {
			c := client(t, s, hc, opts...)
			ck, err := c.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: name})
			if err != nil {
				t.Fatal(err)
			}
			ec := map[string]string{"customerID": "3369"}
			enc, err := c.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("hello"), EncryptionContext: ec})
			if err != nil {
				t.Fatal(err)
			}
			dec, err := c.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
			if err != nil {
				t.Fatal(err)
			}
			if string(dec.Plaintext) != "hello" || dec.KeyId != ck.KeyMetadata.Arn {
				t.Fatalf("decrypted %q under %s", dec.Plaintext, dec.KeyId)
			}
			_, err = c.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob})
			assertAWSError(t, err, connect.CodeInvalidArgument, "InvalidCiphertextException")
		})
	}
}

func assertAWSError(t *testing.T, err error, code connect.Code, awsType string) {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a connect error", err)
	}
	if ce.Code() != code || ce.Meta().Get(wire.ErrorTypeHeader) != awsType {
		t.Fatalf("got %v (%s=%q), want %v %s", ce.Code(), wire.ErrorTypeHeader, ce.Meta().Get(wire.ErrorTypeHeader), code, awsType)
	}
	var found bool
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if info, ok := v.(*kmsv1.ErrorInfo); ok && info.Type == awsType {
				found = true
			}
		}
	}
	if !found {
		t.Fatalf("no ErrorInfo detail with %s", awsType)
	}
}

// connectMessage returns the message of the connect error in err's chain,
// the text the client sees, or "" if there is none.
func connectMessage(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return ""
	}
	return ce.Message()
}

// errorType returns the AWS error name the connect error in err's chain
// carries in its Trent-Error-Type header, or "".
func errorType(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return ""
	}
	return ce.Meta().Get(wire.ErrorTypeHeader)
}

func TestErrorsAndMetadata(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	defer s.Close()
	c := client(t, s, adminHTTP(t, dir))
	ctx := context.Background()

	_, err := c.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: "11111111-2222-3333-4444-555555555555"})
	assertAWSError(t, err, connect.CodeNotFound, "NotFoundException")

	_, err = c.CreateKey(ctx, &kmsv1.CreateKeyRequest{KeySpec: "SM2", KeyUsage: "SIGN_VERIFY"})
	assertAWSError(t, err, connect.CodeUnimplemented, "UnsupportedOperationException")
	if !strings.Contains(connectMessage(err), "SM2") {
		t.Fatalf("unsupported message does not name the key spec: %v", err)
	}

	// Headers: call through the generic client to see them.
	raw := connect.NewClient[kmsv1.CreateKeyRequest, kmsv1.CreateKeyResponse](adminHTTP(t, dir),
		"https://"+s.APIAddr()+kmsv1connect.KeyManagementServiceCreateKeyProcedure)
	resp, err := raw.CallUnary(ctx, connect.NewRequest(&kmsv1.CreateKeyRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header().Get(wire.ServedByHeader) != "node1" || resp.Header().Get(wire.AppliedIndexHeader) == "" {
		t.Fatalf("headers %v", resp.Header())
	}
}

func TestAuthentication(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	defer s.Close()
	pool, _, err := identity.LoadCredentials(filepath.Join(dir, "admin"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// No client certificate: Unauthenticated.
	noCert := client(t, s, httpClient(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	_, err = noCert.ListKeys(ctx, &kmsv1.ListKeysRequest{})
	assertAWSError(t, err, connect.CodeUnauthenticated, "UnrecognizedClientException")

	// A certificate from another CA fails the handshake.
	other, err := identity.NewCA("other", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, _ := identity.NewKeyPair()
	der, err := other.IssueClient(identity.RootPrincipal("111122223333"), key.Public(), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forged := client(t, s, httpClient(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}))
	if _, err = forged.ListKeys(ctx, &kmsv1.ListKeysRequest{}); err == nil {
		t.Fatal("a certificate from another CA was accepted")
	}

	// The node's own certificate is not a principal.
	nodeCert, err := tls.LoadX509KeyPair(filepath.Join(dir, "node", "cert.pem"), filepath.Join(dir, "node", "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	asNode := client(t, s, httpClient(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{nodeCert}}))
	_, err = asNode.ListKeys(ctx, &kmsv1.ListKeysRequest{})
	assertAWSError(t, err, connect.CodeUnauthenticated, "UnrecognizedClientException")

	// Another principal of the account is denied until policies land.
	asBob := client(t, s, clientForPrincipal(t, s, dir, "arn:aws:iam::111122223333:user/bob"))
	_, err = asBob.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	assertAWSError(t, err, connect.CodePermissionDenied, "AccessDeniedException")
}

func mustRead(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRestartKeepsKeysAndDecrypts(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	c := client(t, s, adminHTTP(t, dir))
	ctx := context.Background()
	ck, err := c.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var blobs [][]byte
	for i := range 5 {
		enc, err := c.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte{byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, enc.CiphertextBlob)
	}
	if _, err := c.DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: ck.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	acked := s.AppliedIndex()
	caBefore := mustRead(t, dir, "admin/ca.pem")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := start(t, dir)
	defer s2.Close()
	// A node serves nothing before its state reflects every acknowledged write.
	if got := s2.AppliedIndex(); got < acked {
		t.Fatalf("restarted node serves at applied index %d, below the acknowledged %d", got, acked)
	}
	if !bytes.Equal(caBefore, mustRead(t, dir, "admin/ca.pem")) {
		t.Fatal("restart replaced the cluster CA")
	}
	c2 := client(t, s2, adminHTTP(t, dir))
	// The disable was acknowledged before the restart, so it must hold after.
	d, err := c2.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: ck.KeyMetadata.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if d.KeyMetadata.KeyState != "Disabled" {
		t.Fatalf("state after restart %s", d.KeyMetadata.KeyState)
	}
	if _, err := c2.EnableKey(ctx, &kmsv1.EnableKeyRequest{KeyId: ck.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	for i, b := range blobs {
		dec, err := c2.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: b})
		if err != nil {
			t.Fatalf("blob %d after restart: %v", i, err)
		}
		if !bytes.Equal(dec.Plaintext, []byte{byte(i)}) {
			t.Fatalf("blob %d decrypted to %v", i, dec.Plaintext)
		}
	}
}

func TestBadStart(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	defer s.Close()

	// A second node on the same data dir refuses clearly.
	_, err := server.Start(context.Background(), testConfig(dir))
	if !errors.Is(err, server.ErrDataDirInUse) {
		t.Fatalf("got %v, want an in-use error", err)
	}
	// The data dir belongs to node1.
	cfg := testConfig(t.TempDir())
	cfg.DataDir = dir
	cfg.NodeID = "node2"
	if _, err := server.Start(context.Background(), cfg); !errors.Is(err, server.ErrDataDirOwner) {
		t.Fatalf("got %v", err)
	}
	// A data dir that is a file.
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o600)
	if _, err := server.Start(context.Background(), testConfig(file)); err == nil {
		t.Fatal("started on a file as data dir")
	}
}

func TestParseArgs(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "trent.json")
	os.WriteFile(cfgFile, []byte(`{"data_dir":"/from/file","region":"eu-west-1"}`), 0o600)
	durFile := filepath.Join(t.TempDir(), "dur.json")
	os.WriteFile(durFile, []byte(`{"max_staleness":"250ms","snapshot_interval":"30s"}`), 0o600)
	badDurFile := filepath.Join(t.TempDir(), "baddur.json")
	os.WriteFile(badDurFile, []byte(`{"max_staleness":250}`), 0o600)
	badFile := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(badFile, []byte(`{"nope":1}`), 0o600)
	knobFile := filepath.Join(t.TempDir(), "knobs.json")
	os.WriteFile(knobFile, []byte(`{"testing":{"AuditOff":true}}`), 0o600)
	// A binary without the PKCS#11 backend refuses --hsm pkcs11 up front.
	pkcs11Missing := ""
	if !pkcs11.Compiled {
		pkcs11Missing = "--hsm pkcs11: the pkcs11 HSM backend is not compiled into this binary"
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(server.Config) bool
	}{
		{"defaults", nil, "", func(c server.Config) bool {
			return c.DataDir == "./trent-data" && c.APIAddr == "127.0.0.1:7700" && c.RaftAddr == "127.0.0.1:7701" && c.Region == "us-east-1"
		}},
		{"flags", []string{"--data-dir", "/d", "--node-id", "n2", "--region", "eu-west-1", "--account-id", "444455556666"}, "", func(c server.Config) bool {
			return c.DataDir == "/d" && c.NodeID == "n2" && c.Region == "eu-west-1" && c.AccountID == "444455556666"
		}},
		{"config file", []string{"--config", cfgFile}, "", func(c server.Config) bool { return c.DataDir == "/from/file" && c.Region == "eu-west-1" }},
		{"flag beats file", []string{"--config", cfgFile, "--region", "ap-south-1"}, "", func(c server.Config) bool { return c.Region == "ap-south-1" && c.DataDir == "/from/file" }},
		{"unknown field in file", []string{"--config", badFile}, "unknown field", nil},
		{"bad account", []string{"--account-id", "123"}, "12 digits", nil},
		{"bad region", []string{"--region", "Mars"}, "region", nil},
		{"bad address", []string{"--api-addr", "7700"}, "host:port", nil},
		{"bad node id", []string{"--node-id", "a b"}, "node-id", nil},
		{"unknown flag", []string{"--nope"}, "not defined", nil},
		{"stray argument", []string{"extra"}, "unexpected argument", nil},
		{"read and snapshot flags", []string{"--max-staleness", "250ms", "--snapshot-interval", "30s", "--snapshot-threshold", "100", "--trailing-logs", "50"}, "", func(c server.Config) bool {
			return time.Duration(c.MaxStaleness) == 250*time.Millisecond && time.Duration(c.SnapshotInterval) == 30*time.Second &&
				c.SnapshotThreshold == 100 && c.TrailingLogs == 50 && !c.UnsafeSkipFreshness
		}},
		{"default max staleness", nil, "", func(c server.Config) bool { return time.Duration(c.MaxStaleness) == time.Second }},
		{"durations in the config file", []string{"--config", durFile}, "", func(c server.Config) bool {
			return time.Duration(c.MaxStaleness) == 250*time.Millisecond && time.Duration(c.SnapshotInterval) == 30*time.Second
		}},
		{"duration in the config file must be text", []string{"--config", badDurFile}, "a duration must be a string", nil},
		{"max staleness too small", []string{"--max-staleness", "1ms"}, "--max-staleness 1ms must be between 10ms and 1h", nil},
		{"simulated propagation", []string{"--max-staleness", "5s", "--simulated-propagation", "2s", "--simulated-propagation-jitter", "1s"}, "", func(c server.Config) bool {
			return time.Duration(c.SimulatedPropagation) == 2*time.Second && time.Duration(c.SimulatedPropagationJitter) == time.Second
		}},
		{"simulated propagation past the bound", []string{"--simulated-propagation", "2s"}, "--simulated-propagation 2s plus --simulated-propagation-jitter 0s must be between 0 and --max-staleness 1s", nil},
		{"cert renew fraction", []string{"--cert-renew-fraction", "0.5"}, "", func(c server.Config) bool { return c.CertRenewFraction == 0.5 }},
		{"cert renew fraction too large", []string{"--cert-renew-fraction", "0.95"}, "--cert-renew-fraction 0.95 must be between 0.05 and 0.9", nil},
		{"cert renew fraction too small", []string{"--cert-renew-fraction", "0.01"}, "--cert-renew-fraction 0.01 must be between 0.05 and 0.9", nil},
		{"max staleness not a duration", []string{"--max-staleness", "soon"}, "max-staleness", nil},
		{"snapshot interval too small", []string{"--snapshot-interval", "1ms"}, "--snapshot-interval 1ms must be at least 10ms", nil},
		{"hidden unsafe flag", []string{"--unsafe-skip-freshness"}, "", func(c server.Config) bool { return c.UnsafeSkipFreshness }},
		{"a day is 24h by default", nil, "", func(c server.Config) bool { return c.UnsafeLifecycleDay == 0 }},
		{"hidden lifecycle day", []string{"--unsafe-lifecycle-day", "2s"}, "", func(c server.Config) bool {
			return time.Duration(c.UnsafeLifecycleDay) == 2*time.Second
		}},
		{"lifecycle day out of range", []string{"--unsafe-lifecycle-day", "48h"}, "--unsafe-lifecycle-day 48h must be between 1ms and 24h", nil},
		{"soft HSM by default", nil, "", func(c server.Config) bool { return c.HSM == "soft" && c.Testing == nil }},
		{"soft HSM", []string{"--hsm", "soft"}, "", func(c server.Config) bool { return c.HSM == "soft" }},
		{"unknown HSM", []string{"--hsm", "hsm9"}, `--hsm "hsm9" is not a backend: use "soft" or "pkcs11"`, nil},
		{"pkcs11 needs a module and a token", []string{"--hsm", "pkcs11"}, "--hsm pkcs11 needs --pkcs11-module and --pkcs11-token-label", nil},
		{"pkcs11 HSM", []string{"--hsm", "pkcs11", "--pkcs11-module", "/m.so", "--pkcs11-token-label", "n1", "--pkcs11-pin-file", "/pin"}, pkcs11Missing,
			func(c server.Config) bool {
				return c.PKCS11Module == "/m.so" && c.PKCS11TokenLabel == "n1" && c.PKCS11PINFile == "/pin"
			}},
		{"no testing knobs from a file", []string{"--config", knobFile}, "unknown field", nil},
		{"no testing knobs from flags", []string{"--audit-off"}, "not defined", nil},
		{"text logs by default", nil, "", func(c server.Config) bool { return c.LogFormat == "text" }},
		{"json logs", []string{"--log-format", "json"}, "", func(c server.Config) bool { return c.LogFormat == "json" }},
		{"unknown log format", []string{"--log-format", "xml"}, `--log-format "xml" must be text or json`, nil},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			cfg, err := server.ParseArgs(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(cfg) {
				t.Fatalf("got %+v, %v", cfg, err)
			}
		})
	}
}

func TestHelpHidesTheUnsafeFlag(t *testing.T) {
	var out strings.Builder
	if _, err := server.ParseArgs([]string{"--help"}, &out); !errors.Is(err, server.ErrHelp) {
		t.Fatalf("got %v, want ErrHelp", err)
	}
	if strings.Contains(out.String(), "unsafe") || !strings.Contains(out.String(), "-max-staleness") {
		t.Fatalf("help:\n%s", out.String())
	}
}
