package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	nodev1 "github.com/trentkms/trent/gen/trent/node/v1"
	"github.com/trentkms/trent/gen/trent/node/v1/nodev1connect"
	"github.com/trentkms/trent/server"
)

// TestSealedStart restarts a member of a three-node cluster with
// --sealed-start (the node that created the cluster, holding the CA key,
// and a node that joined): it replicates while sealed, says it is sealed
// in cluster status and health, refuses KMS calls over every protocol as
// retryable, refuses a wrong passphrase and stays sealed, and serves once
// the right one unseals it.
func TestSealedStart(t *testing.T) {
	pass := writePassphrase(t, testPassphrase+"\n", 0o600)
	c := startCluster(t, func(cfg *server.Config) { cfg.HSMPassphraseFile = pass })
	ctx := context.Background()
	ck, err := c.kms(t, 1).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keyID := ck.KeyMetadata.KeyId
	enc, err := c.kms(t, 1).Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("before")})
	if err != nil {
		t.Fatal(err)
	}

	for _, i := range []int{0, 2} {
		id := c.configs[i].NodeID
		t.Run(id, func(t *testing.T) {
			cfg := c.configs[i]
			cfg.HSMPassphraseFile, cfg.SealedStart = "", true
			// A sealed node cannot gossip new addresses: it comes back on
			// its own.
			cfg.APIAddr, cfg.RaftAddr = c.nodes[i].APIAddr(), c.nodes[i].RaftAddr()
			if err := c.nodes[i].Close(); err != nil {
				t.Fatal(err)
			}
			n, err := server.Start(ctx, cfg)
			if err != nil {
				t.Fatalf("sealed start: %v", err)
			}
			c.nodes[i] = n
			other := c.nodes[1]
			addr := n.APIAddr()

			if st := c.statusOf(t, n); st == nil || !st.Self.Sealed {
				t.Fatalf("cluster status of the sealed node: %v; want sealed", st)
			}
			resp, err := adminHTTP(t, c.adminDir).Get("https://" + addr + "/v1/health/ready")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("ready: HTTP %d; want 503", resp.StatusCode)
			}

			// Replication: a write through another node reaches it.
			ck2, err := c.kms(t, 1).CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "while " + id + " is sealed"})
			if err != nil {
				t.Fatal(err)
			}
			waitApplied(t, 30*time.Second, other.AppliedIndex(), n)
			if st := c.statusOf(t, n); st == nil || st.Self.AppliedIndex < other.AppliedIndex() {
				t.Errorf("sealed node's status does not show the write: %v", st)
			}

			refused := notServing{id: id, addr: addr, dir: c.adminDir, msg: "Node " + id + " cannot serve: its HSM is sealed", self: addr}
			t.Run("sealed", refused.check)

			unseal := nodev1connect.NewNodeServiceClient(adminHTTP(t, c.adminDir), "https://"+addr)
			_, err = unseal.Unseal(ctx, &nodev1.UnsealRequest{Secret: []byte("not the passphrase at all")})
			if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "wrong passphrase") {
				t.Fatalf("wrong passphrase: %v; want permission denied saying so", err)
			}
			t.Run("still sealed", refused.check)

			r, err := unseal.Unseal(ctx, &nodev1.UnsealRequest{Secret: []byte(testPassphrase)})
			if err != nil {
				t.Fatalf("unseal: %v", err)
			}
			if r.NodeId != id {
				t.Errorf("unsealed %q; want %s", r.NodeId, id)
			}
			if st := c.statusOf(t, n); st == nil || st.Self.Sealed {
				t.Errorf("cluster status after unseal: %v; want unsealed", st)
			}
			k := client(t, n, adminHTTP(t, c.adminDir))
			dec, err := k.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob})
			if err != nil || string(dec.Plaintext) != "before" {
				t.Fatalf("decrypt after unseal: %v", err)
			}
			e2, err := k.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: ck2.KeyMetadata.KeyId, Plaintext: []byte("after")})
			if err != nil {
				t.Fatalf("encrypt after unseal: %v", err)
			}
			if d, err := c.kms(t, 1).Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: e2.CiphertextBlob}); err != nil || string(d.Plaintext) != "after" {
				t.Fatalf("another node decrypts what the unsealed node encrypted: %v", err)
			}
			_, err = unseal.Unseal(ctx, &nodev1.UnsealRequest{Secret: []byte(testPassphrase)})
			if connect.CodeOf(err) != connect.CodeFailedPrecondition {
				t.Errorf("second unseal: %v; want failed precondition", err)
			}

			// Every attempt is audited, and no record holds the secret.
			unseals := 0
			for _, r := range auditRecords(t, filepath.Join(n.DataDir(), "audit")) {
				if r.EventName == "Unseal" {
					unseals++
				}
				if b, _ := json.Marshal(r); bytes.Contains(b, []byte(testPassphrase)) || bytes.Contains(b, []byte("not the passphrase")) {
					t.Errorf("an audit record holds the secret: %s", b)
				}
			}
			if unseals != 3 {
				t.Errorf("%d Unseal records; want 3", unseals)
			}
		})
	}
}

// TestUnsealRefusals: only the admin unseals; a node not started sealed
// says it is not sealed; a sealed start needs a node that started before
// with a passphrase.
func TestUnsealRefusals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := start(t, dir)
	defer s.Close()
	_, err := nodev1connect.NewNodeServiceClient(adminHTTP(t, dir), "https://"+s.APIAddr()).Unseal(ctx, &nodev1.UnsealRequest{Secret: []byte("x")})
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "not sealed") {
		t.Errorf("unseal of a node not started sealed: %v", err)
	}
	_, err = nodev1connect.NewNodeServiceClient(httpClient(nil), "https://"+s.APIAddr()).Unseal(ctx, &nodev1.UnsealRequest{Secret: []byte("x")})
	if err == nil {
		t.Error("unseal without the admin's certificate was answered")
	}

	for _, tc := range []struct {
		name, want string
		cfg        func() server.Config
	}{
		{"first start", "cannot be sealed", func() server.Config { return testConfig(t.TempDir()) }},
		{"dev mode", "dev-mode key file", func() server.Config { s.Close(); return testConfig(dir) }},
		{"with a passphrase file", "drop --hsm-passphrase-file", func() server.Config {
			cfg := testConfig(dir)
			cfg.HSMPassphraseFile = "/dev/null"
			return cfg
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			cfg.SealedStart = true
			n, err := server.Start(ctx, cfg)
			if err == nil {
				n.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestSealedLeaderKeepsJoinTokens: a join through a sealed leader is
// refused as retryable without spending the token. The joiner asks again
// until its wait ends, and its join with the token goes through once the
// leader is unsealed.
func TestSealedLeaderKeepsJoinTokens(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.HSMPassphraseFile = writePassphrase(t, testPassphrase+"\n", 0o600)
	n, err := server.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	token := joinToken(t, n, dir)
	cfg.APIAddr, cfg.RaftAddr = n.APIAddr(), n.RaftAddr()
	n.Close()
	cfg.HSMPassphraseFile, cfg.SealedStart = "", true
	if n, err = server.Start(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	// A joiner whose wait ends (here: on its first refusal) while the
	// leader is sealed gives up.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jcfg := joinConfig(t.TempDir(), "n2", []string{n.APIAddr()}, token)
	refused := &awaitWriter{want: "join refused for now", seen: make(chan struct{})}
	jcfg.LogLevel, jcfg.Testing.Stderr = "warn", refused
	go func() {
		select {
		case <-refused.seen:
			cancel()
		case <-wctx.Done():
		}
	}()
	if j, err := server.Start(wctx, jcfg); err == nil {
		j.Close()
		t.Fatal("a node joined through a sealed leader")
	} else if !strings.Contains(err.Error(), "retry later") || !strings.Contains(err.Error(), "wait ended") {
		t.Fatalf("join through a sealed leader: %v; want a retryable refusal, asked until the wait ended", err)
	}

	// A joiner refused now asks again, and is admitted after the unseal
	// with the same token.
	jcfg = joinConfig(t.TempDir(), "n2", []string{n.APIAddr()}, token) // the failed join left an HSM without a domain key
	refused = &awaitWriter{want: "join refused for now", seen: make(chan struct{})}
	jcfg.LogLevel, jcfg.Testing.Stderr = "warn", refused
	joined := make(chan error, 1)
	go func() {
		j, err := server.Start(ctx, jcfg)
		if err == nil {
			j.Close()
		}
		joined <- err
	}()
	select {
	case <-refused.seen:
	case err := <-joined:
		t.Fatalf("the join ended before it was refused: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the joiner did not report a retryable refusal within 30s")
	}
	unseal := nodev1connect.NewNodeServiceClient(adminHTTP(t, dir), "https://"+n.APIAddr())
	if _, err := unseal.Unseal(ctx, &nodev1.UnsealRequest{Secret: []byte(testPassphrase)}); err != nil {
		t.Fatal(err)
	}
	if err := <-joined; err != nil {
		t.Fatalf("join with the same token, asked again after the unseal: %v", err)
	}
}

// awaitWriter closes seen once a write contains want.
type awaitWriter struct {
	want string
	seen chan struct{}
	once sync.Once
}

func (w *awaitWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}
