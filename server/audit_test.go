package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trentkms/trent/audit"
	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/server"
)

// auditRecords verifies the node's audit chain and returns its records.
func auditRecords(t *testing.T, dir string) []*audit.Record {
	t.Helper()
	files, err := audit.Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.VerifyFiles(files); err != nil {
		t.Fatal(err)
	}
	var recs []*audit.Record
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for line := range bytes.Lines(b) {
			r, err := audit.ParseLine(bytes.TrimSuffix(line, []byte("\n")))
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
	}
	return recs
}

// awsClient is an aws-sdk-go-v2 KMS client of s signing with the given key,
// without retries so that every call is one request.
func awsClient(t testing.TB, s *server.Server, dir, keyID, secret string) *awskms.Client {
	t.Helper()
	pool, _, err := identity.LoadCredentials(filepath.Join(dir, "admin"))
	if err != nil {
		t.Fatal(err)
	}
	return awskms.New(awskms.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("https://" + s.APIAddr()),
		HTTPClient:   httpClient(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}, nil
		}),
		Retryer: aws.NopRetryer{},
	})
}

// rawAWS sends a signed AWS JSON request and returns the error type.
func rawAWS(t *testing.T, s *server.Server, dir, target, body, keyID, secret string) string {
	t.Helper()
	pool, _, err := identity.LoadCredentials(filepath.Join(dir, "admin"))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodPost, "https://"+s.APIAddr()+"/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", target)
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret},
		r, hex.EncodeToString(sum[:]), "kms", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}).Do(r)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header.Get("X-Amzn-Errortype")
}

// rawConnect posts body to a Connect path with the admin certificate and
// returns the HTTP status.
func rawConnect(t *testing.T, s *server.Server, hc *http.Client, path, body string) int {
	t.Helper()
	resp, err := hc.Post("https://"+s.APIAddr()+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestAuditRecordsEveryCallOnce makes allowed, denied and failed calls over
// Connect (KMS and IAM) and the AWS endpoint and checks that each leaves
// exactly one record with the right name, source and error, and that no
// plaintext, ciphertext, data key, grant token or secret reaches the trail.
func TestAuditRecordsEveryCallOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		sync time.Duration
	}{{"fsync_before_answer", 0}, {"sync_interval", 10 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t.TempDir())
			cfg.AuditSyncInterval = server.Duration(tc.sync)
			testAuditRecordsEveryCallOnce(t, cfg)
		})
	}
}

func testAuditRecordsEveryCallOnce(t *testing.T, cfg server.Config) {
	dir := cfg.DataDir
	s, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	auditDir := filepath.Join(dir, "audit")
	hc := adminHTTP(t, dir)
	c := client(t, s, hc)
	grpcC := client(t, s, hc, connect.WithGRPC())
	iamC := iamv1connect.NewIdentityServiceClient(hc, "https://"+s.APIAddr())
	pool, _, _ := identity.LoadCredentials(filepath.Join(dir, "admin"))
	noCert := client(t, s, httpClient(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	noCertGRPC := client(t, s, httpClient(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}), connect.WithGRPC())

	const plaintext = "audit-canary-plaintext-3f9c1e"
	const awsPlaintext = "aws-canary-plaintext-77d2a0"
	var secrets [][]byte // must never appear in the trail
	secret := func(b []byte) {
		secrets = append(secrets, b, []byte(base64.StdEncoding.EncodeToString(b)), []byte(base64.RawStdEncoding.EncodeToString(b)))
	}
	secret([]byte(plaintext))
	secret([]byte(awsPlaintext))

	var keyID string
	var blob []byte
	var grantToken string
	var rootKey, bobKey *iamv1.AccessKey
	ec := map[string]string{"tenant": "acme"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	wantErr := func(err error) {
		t.Helper()
		if err == nil {
			t.Fatal("the call succeeded; want an error")
		}
	}

	steps := []struct {
		name, source, op, errCode string
		async                     bool // recorded after the response (rejected before the interceptor)
		call                      func()
	}{
		{"connect CreateKey", audit.SourceKMS, "CreateKey", "", false, func() {
			r, err := c.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "audited"})
			must(err)
			keyID = r.KeyMetadata.KeyId
		}},
		{"connect Encrypt", audit.SourceKMS, "Encrypt", "", false, func() {
			r, err := c.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte(plaintext), EncryptionContext: ec})
			must(err)
			blob = r.CiphertextBlob
			secret(blob)
		}},
		{"connect Decrypt", audit.SourceKMS, "Decrypt", "", false, func() {
			_, err := c.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: blob, EncryptionContext: ec})
			must(err)
		}},
		{"grpc GenerateDataKey", audit.SourceKMS, "GenerateDataKey", "", false, func() {
			r, err := grpcC.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: keyID, NumberOfBytes: proto32(32)})
			must(err)
			secret(r.Plaintext)
			secret(r.CiphertextBlob)
		}},
		{"connect CreateGrant", audit.SourceKMS, "CreateGrant", "", false, func() {
			r, err := c.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: "arn:aws:iam::111122223333:user/carol",
				Operations: []string{"Decrypt"}})
			must(err)
			grantToken = r.GrantToken
			secret([]byte(grantToken))
		}},
		{"connect Encrypt with a grant token", audit.SourceKMS, "Encrypt", "", false, func() {
			r, err := c.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte(plaintext), GrantTokens: []string{grantToken}})
			must(err)
			secret(r.CiphertextBlob)
		}},
		{"connect failed call", audit.SourceKMS, "DescribeKey", "NotFoundException", false, func() {
			_, err := c.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: "11111111-2222-3333-4444-555555555555"})
			wantErr(err)
		}},
		{"connect invalid ciphertext", audit.SourceKMS, "Decrypt", "InvalidCiphertextException", false, func() {
			_, err := c.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: blob})
			wantErr(err)
		}},
		{"connect unauthenticated", audit.SourceKMS, "ListKeys", "UnrecognizedClientException", true, func() {
			_, err := noCert.ListKeys(ctx, &kmsv1.ListKeysRequest{})
			wantErr(err)
		}},
		{"grpc unauthenticated", audit.SourceKMS, "ListKeys", "UnrecognizedClientException", true, func() {
			_, err := noCertGRPC.ListKeys(ctx, &kmsv1.ListKeysRequest{})
			wantErr(err)
		}},
		{"connect unknown procedure", audit.SourceKMS, "NoSuchOperation", "UnknownOperationException", true, func() {
			if code := rawConnect(t, s, hc, "/trent.kms.v1.KeyManagementService/NoSuchOperation", "{}"); code != http.StatusNotFound {
				t.Fatalf("status %d", code)
			}
		}},
		{"connect malformed body", audit.SourceKMS, "Encrypt", "SerializationException", true, func() {
			if code := rawConnect(t, s, hc, "/trent.kms.v1.KeyManagementService/Encrypt", `{"plaintext": "`+plaintext); code == http.StatusOK {
				t.Fatal("malformed body accepted")
			}
		}},
		{"iam CreateUser", audit.SourceIAM, "CreateUser", "", false, func() {
			_, err := iamC.CreateUser(ctx, &iamv1.CreateUserRequest{UserName: "bob"})
			must(err)
		}},
		{"iam CreateAccessKey for root", audit.SourceIAM, "CreateAccessKey", "", false, func() {
			r, err := iamC.CreateAccessKey(ctx, &iamv1.CreateAccessKeyRequest{})
			must(err)
			rootKey = r.AccessKey
			secret([]byte(rootKey.SecretAccessKey))
		}},
		{"iam CreateAccessKey for bob", audit.SourceIAM, "CreateAccessKey", "", false, func() {
			r, err := iamC.CreateAccessKey(ctx, &iamv1.CreateAccessKeyRequest{UserName: "bob"})
			must(err)
			bobKey = r.AccessKey
			secret([]byte(bobKey.SecretAccessKey))
		}},
		{"iam failed call", audit.SourceIAM, "GetUser", "NoSuchEntity", false, func() {
			_, err := iamC.GetUser(ctx, &iamv1.GetUserRequest{UserName: "nobody"})
			wantErr(err)
		}},
		{"aws Encrypt", audit.SourceKMS, "Encrypt", "", false, func() {
			r, err := awsClient(t, s, dir, rootKey.AccessKeyId, rootKey.SecretAccessKey).Encrypt(ctx,
				&awskms.EncryptInput{KeyId: &keyID, Plaintext: []byte(awsPlaintext), EncryptionContext: ec})
			must(err)
			blob = r.CiphertextBlob
			secret(blob)
		}},
		{"aws Decrypt", audit.SourceKMS, "Decrypt", "", false, func() {
			_, err := awsClient(t, s, dir, rootKey.AccessKeyId, rootKey.SecretAccessKey).Decrypt(ctx,
				&awskms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec})
			must(err)
		}},
		{"aws denied", audit.SourceKMS, "CreateKey", "AccessDeniedException", false, func() {
			_, err := awsClient(t, s, dir, bobKey.AccessKeyId, bobKey.SecretAccessKey).CreateKey(ctx, &awskms.CreateKeyInput{})
			wantErr(err)
		}},
		{"aws wrong secret", audit.SourceKMS, "ListKeys", "InvalidSignatureException", false, func() {
			_, err := awsClient(t, s, dir, rootKey.AccessKeyId, strings.Repeat("x", 40)).ListKeys(ctx, &awskms.ListKeysInput{})
			wantErr(err)
		}},
		{"aws unknown operation", audit.SourceKMS, "NoSuchOperation", "UnknownOperationException", false, func() {
			if typ := rawAWS(t, s, dir, "TrentService.NoSuchOperation", "{}", rootKey.AccessKeyId, rootKey.SecretAccessKey); typ != "UnknownOperationException" {
				t.Fatalf("error type %q", typ)
			}
		}},
		{"aws malformed JSON", audit.SourceKMS, "Encrypt", "SerializationException", false, func() {
			body := `{"KeyId": "` + keyID + `", "Plaintext": "` + awsPlaintext + `!"`
			if typ := rawAWS(t, s, dir, "TrentService.Encrypt", body, rootKey.AccessKeyId, rootKey.SecretAccessKey); typ != "SerializationException" {
				t.Fatalf("error type %q", typ)
			}
		}},
	}
	before := len(auditRecords(t, auditDir))
	for _, st := range steps {
		st.call()
		recs := auditRecords(t, auditDir)
		if st.async { // written after the response, which no apply announces
			waitFor(t, st.name+"'s record", 5*time.Second, func() error {
				if recs = auditRecords(t, auditDir); len(recs) == before {
					return errNotYet
				}
				return nil
			})
		}
		if len(recs) != before+1 {
			t.Fatalf("%s: %d records, want exactly one more than %d", st.name, len(recs), before)
		}
		before = len(recs)
		r := recs[len(recs)-1]
		if r.EventSource != st.source || r.EventName != st.op || r.ErrorCode != st.errCode || r.Trent.ServedBy != "node1" {
			t.Fatalf("%s: record %s %s error %q served by %q, want %s %s %q", st.name, r.EventSource, r.EventName, r.ErrorCode,
				r.Trent.ServedBy, st.source, st.op, st.errCode)
		}
	}

	// What the records say about the caller and the key.
	recs := auditRecords(t, auditDir)
	first := recs[0]
	if first.UserIdentity.Type != "Root" || first.ReadOnly || first.Trent.AppliedIndex == 0 || len(first.Resources) != 1 ||
		!strings.HasSuffix(first.Resources[0].ARN, ":key/"+keyID) || first.Trent.Protocol != "connect" {
		t.Errorf("CreateKey record: %+v", first)
	}
	if enc := recs[1]; !enc.ReadOnly || !bytes.Contains(enc.RequestParameters, []byte(`"encryptionContext":{"tenant":"acme"}`)) {
		t.Errorf("Encrypt record: %s", enc.RequestParameters)
	}
	for _, r := range recs {
		if r.Trent.Protocol == audit.ProtocolAWSJSON && r.UserIdentity.AccessKeyID == "" {
			t.Errorf("AWS record without the access key id: %+v", r.UserIdentity)
		}
		// A successful KMS call reports how it was served, on both endpoints.
		if r.EventSource == audit.SourceKMS && r.ErrorCode == "" &&
			(r.Trent.Consistency == "" || r.Trent.StalenessBound == "" || r.Trent.AppliedIndex == 0) {
			t.Errorf("%s over %s: record without consistency metadata: %+v", r.EventName, r.Trent.Protocol, r.Trent)
		}
	}

	// Nothing secret anywhere in the files.
	files, _ := audit.Files(auditDir)
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, sec := range secrets {
			if len(sec) > 0 && bytes.Contains(b, sec) {
				t.Errorf("%s contains %q", f, sec)
			}
		}
	}
}

func proto32(n int32) *int32 { return &n }

// TestAuditChainSurvivesRestart checks that a restarted node continues its
// chain from the last record, in the directory --audit-dir names.
func TestAuditChainSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	auditDir := filepath.Join(t.TempDir(), "trail")
	cfg := testConfig(dir)
	cfg.AuditDir = auditDir
	ctx := context.Background()
	for run := range 2 {
		s, err := server.Start(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client(t, s, adminHTTP(t, dir)).ListKeys(ctx, &kmsv1.ListKeysRequest{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		recs := auditRecords(t, auditDir)
		if len(recs) != run+1 || recs[run].Seq != uint64(run+1) {
			t.Fatalf("run %d: %d records", run, len(recs))
		}
		if run == 1 && recs[1].PrevHash != recs[0].Hash {
			t.Fatal("the restarted node did not continue the chain")
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "audit")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("records written to the default dir despite --audit-dir: %v", err)
	}
}

func TestAuditFlags(t *testing.T) {
	cfg, err := server.ParseArgs([]string{"--audit-dir", "/var/log/trent", "--audit-sync-interval", "10ms"}, io.Discard)
	if err != nil || cfg.AuditDir != "/var/log/trent" || time.Duration(cfg.AuditSyncInterval) != 10*time.Millisecond {
		t.Fatalf("got %q %v, %v", cfg.AuditDir, cfg.AuditSyncInterval, err)
	}
	for _, bad := range []string{"-1s", "2m"} {
		if _, err := server.ParseArgs([]string{"--audit-sync-interval", bad}, io.Discard); err == nil || !strings.Contains(err.Error(), "audit-sync-interval") {
			t.Errorf("--audit-sync-interval %s: %v", bad, err)
		}
	}
}
