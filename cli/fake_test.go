package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/wire"
)

const (
	fakeAccount = "111122223333"
	fakeDate    = 1700000000.123
)

// fakeKMS is an in-memory KeyManagementService with deterministic IDs,
// dates and a reversible "encryption", so outputs can be golden files.
type fakeKMS struct {
	kmsv1connect.UnimplementedKeyManagementServiceHandler

	mu     sync.Mutex // guards the following fields
	keys   []*kmsv1.KeyMetadata
	grants []*kmsv1.GrantListEntry
	// aliases in creation order.
	aliases []*kmsv1.AliasListEntry
	// tags by key id, in the order set.
	tags  map[string][]*kmsv1.Tag
	calls map[string]int
	// rotation by key id, made on first use (rotation_test.go).
	rotation map[string]*fakeRotation
}

var _ kmsv1connect.KeyManagementServiceHandler = (*fakeKMS)(nil)

func newFakeKMS() *fakeKMS {
	return &fakeKMS{calls: make(map[string]int), tags: make(map[string][]*kmsv1.Tag)}
}

func fakeKeyID(n int) string { return fmt.Sprintf("1234abcd-12ab-34cd-56ef-%012d", n) }

func fakeKeyARN(id string) string { return "arn:aws:kms:local:" + fakeAccount + ":key/" + id }

func notFound(keyID string) error {
	arn := keyID
	if !strings.HasPrefix(arn, "arn:") {
		arn = fakeKeyARN(keyID)
	}
	err := connect.NewError(connect.CodeNotFound, fmt.Errorf("Key '%s' does not exist", arn))
	err.Meta().Set(wire.ErrorTypeHeader, "NotFoundException")
	return err
}

func (f *fakeKMS) count(op string) {
	f.mu.Lock()
	f.calls[op]++
	f.mu.Unlock()
}

// key finds a key by ID or ARN; the caller holds f.mu.
func (f *fakeKMS) key(keyID string) (*kmsv1.KeyMetadata, error) {
	for _, k := range f.keys {
		if k.KeyId == keyID || k.Arn == keyID {
			return k, nil
		}
	}
	return nil, notFound(keyID)
}

func (f *fakeKMS) CreateKey(_ context.Context, req *kmsv1.CreateKeyRequest) (*kmsv1.CreateKeyResponse, error) {
	f.count("CreateKey")
	if req.Description == "no quorum" { // a follower that cannot reach the leader
		ce := connect.NewError(connect.CodeUnavailable, errors.New("The service could not reach a quorum in time; retry the request."))
		ce.Meta().Set("Trent-Error-Type", "DependencyTimeoutException")
		ce.Meta().Set("Trent-Leader", "127.0.0.1:7710")
		return nil, ce
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := fakeKeyID(len(f.keys) + 1)
	spec := req.KeySpec
	if spec == "" {
		spec = "SYMMETRIC_DEFAULT"
	}
	usage := req.KeyUsage
	if usage == "" {
		usage = "ENCRYPT_DECRYPT"
	}
	md := &kmsv1.KeyMetadata{
		AwsAccountId:          fakeAccount,
		KeyId:                 id,
		Arn:                   fakeKeyARN(id),
		CreationDate:          fakeDate,
		Enabled:               true,
		Description:           req.Description,
		KeyUsage:              usage,
		KeyState:              "Enabled",
		Origin:                "AWS_KMS",
		KeyManager:            "CUSTOMER",
		CustomerMasterKeySpec: spec,
		KeySpec:               spec,
		EncryptionAlgorithms:  []string{"SYMMETRIC_DEFAULT"},
		MultiRegion:           false,
	}
	f.keys = append(f.keys, md)
	return &kmsv1.CreateKeyResponse{KeyMetadata: md}, nil
}

func (f *fakeKMS) DescribeKey(_ context.Context, req *kmsv1.DescribeKeyRequest) (*kmsv1.DescribeKeyResponse, error) {
	f.count("DescribeKey")
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.key(req.KeyId)
	if err != nil {
		return nil, err
	}
	return &kmsv1.DescribeKeyResponse{KeyMetadata: k}, nil
}

func (f *fakeKMS) EnableKey(_ context.Context, req *kmsv1.EnableKeyRequest) (*kmsv1.EnableKeyResponse, error) {
	f.count("EnableKey")
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.key(req.KeyId)
	if err != nil {
		return nil, err
	}
	k.Enabled, k.KeyState = true, "Enabled"
	return &kmsv1.EnableKeyResponse{}, nil
}

func (f *fakeKMS) ListKeys(_ context.Context, req *kmsv1.ListKeysRequest) (*kmsv1.ListKeysResponse, error) {
	f.count("ListKeys")
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &kmsv1.ListKeysResponse{}
	for _, k := range f.keys {
		resp.Keys = append(resp.Keys, &kmsv1.KeyListEntry{KeyId: k.KeyId, KeyArn: k.Arn})
	}
	return resp, nil
}

// fakeSeal "encrypts": key ID, a colon, the plaintext XOR 0x5a.
func fakeSeal(keyID string, plaintext []byte) []byte {
	out := append([]byte(keyID+":"), plaintext...)
	for i := len(keyID) + 1; i < len(out); i++ {
		out[i] ^= 0x5a
	}
	return out
}

func fakeOpen(blob []byte) (keyID string, plaintext []byte, ok bool) {
	i := bytes.IndexByte(blob, ':')
	if i < 0 {
		return "", nil, false
	}
	plaintext = bytes.Clone(blob[i+1:])
	for j := range plaintext {
		plaintext[j] ^= 0x5a
	}
	return string(blob[:i]), plaintext, true
}

func (f *fakeKMS) Encrypt(_ context.Context, req *kmsv1.EncryptRequest) (*kmsv1.EncryptResponse, error) {
	f.count("Encrypt")
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.key(req.KeyId)
	if err != nil {
		return nil, err
	}
	return &kmsv1.EncryptResponse{
		CiphertextBlob:      fakeSeal(k.KeyId, req.Plaintext),
		KeyId:               k.Arn,
		EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
	}, nil
}

func (f *fakeKMS) Decrypt(_ context.Context, req *kmsv1.DecryptRequest) (*kmsv1.DecryptResponse, error) {
	f.count("Decrypt")
	f.mu.Lock()
	defer f.mu.Unlock()
	k, plaintext, err := f.open(req.CiphertextBlob)
	if err != nil {
		return nil, err
	}
	return &kmsv1.DecryptResponse{KeyId: k.Arn, Plaintext: plaintext, EncryptionAlgorithm: "SYMMETRIC_DEFAULT"}, nil
}

// open returns the key and plaintext of a fake blob; f.mu is held.
func (f *fakeKMS) open(blob []byte) (*kmsv1.KeyMetadata, []byte, error) {
	keyID, plaintext, ok := fakeOpen(blob)
	if !ok {
		err := connect.NewError(connect.CodeInvalidArgument, errors.New("The ciphertext is invalid."))
		err.Meta().Set(wire.ErrorTypeHeader, "InvalidCiphertextException")
		return nil, nil, err
	}
	k, err := f.key(keyID)
	return k, plaintext, err
}

func (f *fakeKMS) GenerateDataKey(_ context.Context, req *kmsv1.GenerateDataKeyRequest) (*kmsv1.GenerateDataKeyResponse, error) {
	f.count("GenerateDataKey")
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.key(req.KeyId)
	if err != nil {
		return nil, err
	}
	n := 32
	switch {
	case req.NumberOfBytes != nil:
		n = int(*req.NumberOfBytes)
	case req.KeySpec == "AES_128":
		n = 16
	}
	plaintext := make([]byte, n)
	for i := range plaintext {
		plaintext[i] = byte(i)
	}
	return &kmsv1.GenerateDataKeyResponse{CiphertextBlob: fakeSeal(k.KeyId, plaintext), Plaintext: plaintext, KeyId: k.Arn}, nil
}

func (f *fakeKMS) GenerateDataKeyWithoutPlaintext(ctx context.Context, req *kmsv1.GenerateDataKeyWithoutPlaintextRequest) (*kmsv1.GenerateDataKeyWithoutPlaintextResponse, error) {
	resp, err := f.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: req.KeyId, KeySpec: req.KeySpec, NumberOfBytes: req.NumberOfBytes})
	if err != nil {
		return nil, err
	}
	return &kmsv1.GenerateDataKeyWithoutPlaintextResponse{CiphertextBlob: resp.CiphertextBlob, KeyId: resp.KeyId}, nil
}

func (f *fakeKMS) CreateGrant(_ context.Context, req *kmsv1.CreateGrantRequest) (*kmsv1.CreateGrantResponse, error) {
	f.count("CreateGrant")
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.key(req.KeyId)
	if err != nil {
		return nil, err
	}
	id := fmt.Sprintf("%064x", len(f.grants)+1)
	f.grants = append(f.grants, &kmsv1.GrantListEntry{
		KeyId:             k.Arn,
		GrantId:           id,
		Name:              req.Name,
		CreationDate:      fakeDate,
		GranteePrincipal:  req.GranteePrincipal,
		RetiringPrincipal: req.RetiringPrincipal,
		IssuingAccount:    "arn:aws:iam::" + fakeAccount + ":root",
		Operations:        req.Operations,
		Constraints:       req.Constraints,
	})
	return &kmsv1.CreateGrantResponse{GrantToken: "token-" + id[56:], GrantId: id}, nil
}

func (f *fakeKMS) ListGrants(_ context.Context, req *kmsv1.ListGrantsRequest) (*kmsv1.ListGrantsResponse, error) {
	f.count("ListGrants")
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.key(req.KeyId)
	if err != nil {
		return nil, err
	}
	resp := &kmsv1.ListGrantsResponse{}
	for _, g := range f.grants {
		if g.KeyId == k.Arn {
			resp.Grants = append(resp.Grants, g)
		}
	}
	return resp, nil
}

// creds are the PEM files of a throwaway CA, written by newCreds.
type creds struct {
	dir                       string // holds admin/{ca,cert,key}.pem
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	serverCert                tls.Certificate
}

// newCreds makes a CA, a server certificate for 127.0.0.1, ::1 and
// localhost, and a client certificate, and writes the client's files to
// dir/admin as a node does.
func newCreds(tb testing.TB) *creds {
	tb.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "trent test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		tb.Fatal(err)
	}
	issue := func(serial int64, tmpl *x509.Certificate) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			tb.Fatal(err)
		}
		return der, k
	}
	srvDER, srvKey := issue(2, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "node"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		DNSNames:    []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	cliDER, cliKey := issue(3, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "admin"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})

	c := &creds{dir: tb.TempDir(), pool: x509.NewCertPool()}
	c.pool.AddCert(caCert)
	c.serverCert = tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}
	admin := filepath.Join(c.dir, "admin")
	if err := os.MkdirAll(admin, 0o700); err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cliKey)
	if err != nil {
		tb.Fatal(err)
	}
	c.caFile, c.certFile, c.keyFile = filepath.Join(admin, "ca.pem"), filepath.Join(admin, "cert.pem"), filepath.Join(admin, "key.pem")
	for path, block := range map[string]*pem.Block{
		c.caFile:   {Type: "CERTIFICATE", Bytes: caDER},
		c.certFile: {Type: "CERTIFICATE", Bytes: cliDER},
		c.keyFile:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return c
}

// fixture is a fake KMS behind an HTTP/2 mTLS server, and credentials to
// call it.
type fixture struct {
	fake  *fakeKMS
	creds *creds
	url   string

	mu       sync.Mutex
	lastSent http.Header // request headers of the last call
	minIndex []string    // every Trent-Min-Index received
}

// consistencyMeta records each call's request headers and answers with
// consistency metadata, as a node does: the mode asked for (bounded by
// default), and fixed index and bound.
func (fx *fixture) consistencyMeta(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fx.mu.Lock()
		fx.lastSent = r.Header.Clone()
		if v := r.Header.Get("Trent-Min-Index"); v != "" {
			fx.minIndex = append(fx.minIndex, v)
		}
		fx.mu.Unlock()
		mode := r.Header.Get("Trent-Consistency")
		if mode == "" {
			mode = "bounded"
		}
		w.Header().Set("Trent-Served-By", "fake1")
		w.Header().Set("Trent-Consistency", mode)
		w.Header().Set("Trent-Applied-Index", "42")
		w.Header().Set("Trent-Staleness-Bound", "3.5ms")
		next.ServeHTTP(w, r)
	})
}

func (fx *fixture) sent() http.Header {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	return fx.lastSent
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	fx := &fixture{fake: newFakeKMS(), creds: newCreds(tb)}
	mux := http.NewServeMux()
	path, handler := kmsv1connect.NewKeyManagementServiceHandler(fx.fake)
	mux.Handle(path, fx.consistencyMeta(handler))
	fx.url = serveMTLS(tb, fx.creds, mux)
	return fx
}

// serveMTLS serves h over HTTP/2 with c's server certificate, requiring
// client certificates of c's CA, until the test ends; it returns the URL.
func serveMTLS(tb testing.TB, c *creds, h http.Handler) string {
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are expected in some tests
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{c.serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    c.pool,
		MinVersion:   tls.VersionTLS12,
	}
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	return srv.URL
}

// run calls trent with the fixture's endpoint and credentials.
func (fx *fixture) run(tb testing.TB, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	return runTrent(tb, nil, append([]string{"--endpoint", fx.url, "--data-dir", fx.creds.dir}, args...)...)
}

// runTrent runs the command with an empty environment.
func runTrent(tb testing.TB, env map[string]string, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	var out, errOut bytes.Buffer
	c := &command{
		stdin:  strings.NewReader(""),
		stdout: &out,
		stderr: &errOut,
		lookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
	}
	code = c.run(context.Background(), args)
	return code, out.String(), errOut.String()
}

func (f *fakeKMS) alias(name string) (*kmsv1.AliasListEntry, error) {
	for _, a := range f.aliases {
		if a.AliasName == name {
			return a, nil
		}
	}
	err := connect.NewError(connect.CodeNotFound, fmt.Errorf("Alias arn:aws:kms:local:%s:%s is not found.", fakeAccount, name))
	err.Meta().Set(wire.ErrorTypeHeader, "NotFoundException")
	return nil, err
}

func (f *fakeKMS) CreateAlias(_ context.Context, req *kmsv1.CreateAliasRequest) (*kmsv1.CreateAliasResponse, error) {
	f.count("CreateAlias")
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.key(req.TargetKeyId)
	if err != nil {
		return nil, err
	}
	f.aliases = append(f.aliases, &kmsv1.AliasListEntry{AliasName: req.AliasName,
		AliasArn: "arn:aws:kms:local:" + fakeAccount + ":" + req.AliasName, TargetKeyId: k.KeyId,
		CreationDate: fakeDate, LastUpdatedDate: fakeDate})
	return &kmsv1.CreateAliasResponse{}, nil
}

func (f *fakeKMS) UpdateAlias(_ context.Context, req *kmsv1.UpdateAliasRequest) (*kmsv1.UpdateAliasResponse, error) {
	f.count("UpdateAlias")
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.key(req.TargetKeyId)
	if err != nil {
		return nil, err
	}
	a, err := f.alias(req.AliasName)
	if err != nil {
		return nil, err
	}
	a.TargetKeyId, a.LastUpdatedDate = k.KeyId, fakeDate+1
	return &kmsv1.UpdateAliasResponse{}, nil
}

func (f *fakeKMS) DeleteAlias(_ context.Context, req *kmsv1.DeleteAliasRequest) (*kmsv1.DeleteAliasResponse, error) {
	f.count("DeleteAlias")
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.alias(req.AliasName); err != nil {
		return nil, err
	}
	for i, a := range f.aliases {
		if a.AliasName == req.AliasName {
			f.aliases = append(f.aliases[:i], f.aliases[i+1:]...)
			break
		}
	}
	return &kmsv1.DeleteAliasResponse{}, nil
}

func (f *fakeKMS) ListAliases(_ context.Context, req *kmsv1.ListAliasesRequest) (*kmsv1.ListAliasesResponse, error) {
	f.count("ListAliases")
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &kmsv1.ListAliasesResponse{}
	for _, a := range f.aliases {
		if req.KeyId == "" || a.TargetKeyId == req.KeyId {
			resp.Aliases = append(resp.Aliases, a)
		}
	}
	return resp, nil
}

func (f *fakeKMS) TagResource(_ context.Context, req *kmsv1.TagResourceRequest) (*kmsv1.TagResourceResponse, error) {
	f.count("TagResource")
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.key(req.KeyId)
	if err != nil {
		return nil, err
	}
next:
	for _, t := range req.Tags {
		for _, old := range f.tags[k.KeyId] {
			if old.TagKey == t.TagKey {
				old.TagValue = t.TagValue
				continue next
			}
		}
		f.tags[k.KeyId] = append(f.tags[k.KeyId], &kmsv1.Tag{TagKey: t.TagKey, TagValue: t.TagValue})
	}
	return &kmsv1.TagResourceResponse{}, nil
}

func (f *fakeKMS) UntagResource(_ context.Context, req *kmsv1.UntagResourceRequest) (*kmsv1.UntagResourceResponse, error) {
	f.count("UntagResource")
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.key(req.KeyId)
	if err != nil {
		return nil, err
	}
	f.tags[k.KeyId] = slices.DeleteFunc(f.tags[k.KeyId], func(t *kmsv1.Tag) bool { return slices.Contains(req.TagKeys, t.TagKey) })
	return &kmsv1.UntagResourceResponse{}, nil
}

func (f *fakeKMS) ListResourceTags(_ context.Context, req *kmsv1.ListResourceTagsRequest) (*kmsv1.ListResourceTagsResponse, error) {
	f.count("ListResourceTags")
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.key(req.KeyId)
	if err != nil {
		return nil, err
	}
	return &kmsv1.ListResourceTagsResponse{Tags: slices.Clone(f.tags[k.KeyId])}, nil
}

func (f *fakeKMS) ReEncrypt(_ context.Context, req *kmsv1.ReEncryptRequest) (*kmsv1.ReEncryptResponse, error) {
	f.count("ReEncrypt")
	f.mu.Lock()
	defer f.mu.Unlock()
	src, plaintext, err := f.open(req.CiphertextBlob)
	if err != nil {
		return nil, err
	}
	dst, err := f.key(req.DestinationKeyId)
	if err != nil {
		return nil, err
	}
	return &kmsv1.ReEncryptResponse{CiphertextBlob: fakeSeal(dst.KeyId, plaintext), SourceKeyId: src.Arn, KeyId: dst.Arn,
		SourceEncryptionAlgorithm: "SYMMETRIC_DEFAULT", DestinationEncryptionAlgorithm: "SYMMETRIC_DEFAULT"}, nil
}

func (f *fakeKMS) ScheduleKeyDeletion(_ context.Context, req *kmsv1.ScheduleKeyDeletionRequest) (*kmsv1.ScheduleKeyDeletionResponse, error) {
	f.count("ScheduleKeyDeletion")
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.key(req.KeyId)
	if err != nil {
		return nil, err
	}
	days := int32(30)
	if req.PendingWindowInDays != nil {
		days = *req.PendingWindowInDays
	}
	if days < 7 || days > 30 {
		ce := connect.NewError(connect.CodeInvalidArgument, errors.New("PendingWindowInDays must be between 7 and 30"))
		ce.Meta().Set(wire.ErrorTypeHeader, "ValidationException")
		return nil, ce
	}
	date := fakeDate + float64(days)*86400
	k.KeyState, k.Enabled, k.DeletionDate, k.PendingDeletionWindowInDays = "PendingDeletion", false, &date, &days
	return &kmsv1.ScheduleKeyDeletionResponse{KeyId: k.Arn, DeletionDate: date, KeyState: k.KeyState, PendingWindowInDays: days}, nil
}

func (f *fakeKMS) CancelKeyDeletion(_ context.Context, req *kmsv1.CancelKeyDeletionRequest) (*kmsv1.CancelKeyDeletionResponse, error) {
	f.count("CancelKeyDeletion")
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.key(req.KeyId)
	if err != nil {
		return nil, err
	}
	if k.KeyState != "PendingDeletion" {
		ce := connect.NewError(connect.CodeFailedPrecondition, errors.New(k.Arn+" is not pending deletion."))
		ce.Meta().Set(wire.ErrorTypeHeader, "KMSInvalidStateException")
		return nil, ce
	}
	k.KeyState, k.DeletionDate, k.PendingDeletionWindowInDays = "Disabled", nil, nil
	return &kmsv1.CancelKeyDeletionResponse{KeyId: k.Arn}, nil
}
