//go:build pkcs11 && cgo

package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	nodev1 "github.com/trentkms/trent/gen/trent/node/v1"
	"github.com/trentkms/trent/gen/trent/node/v1/nodev1connect"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/keywrap"
	"github.com/trentkms/trent/hsm/pkcs11"
	"github.com/trentkms/trent/hsm/pkcs11/softhsmtest"
	"github.com/trentkms/trent/server"
)

// mixedHSMs configures a cluster's nodes n2 and n3 to run the pkcs11
// backend, each on a SoftHSMv2 token of its own; n1 runs the soft one.
func mixedHSMs(t *testing.T) func(*server.Config) {
	s := softhsmtest.New(t)
	tokens := map[string]pkcs11.Config{"n2": s.Token(t, "n2"), "n3": s.Token(t, "n3")}
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(softhsmtest.UserPIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(cfg *server.Config) {
		tok, ok := tokens[cfg.NodeID]
		if !ok {
			return
		}
		cfg.HSM = pkcs11.Kind
		cfg.PKCS11Module = tok.Module
		cfg.PKCS11TokenLabel = tok.TokenLabel
		cfg.PKCS11PINFile = pinFile
	}
}

// TestPKCS11MixedCluster: node 1 runs the soft HSM, nodes 2 and 3 each a
// SoftHSMv2 token of their own; they join (the domain key goes soft ->
// pkcs11 -> pkcs11 as HPKE tokens), and a key created through any node
// (its EKT made by that node's backend) encrypts there and decrypts on
// every node. Key material imports through one backend with import
// parameters (a wrapping key) from the other.
func TestPKCS11MixedCluster(t *testing.T) {
	c := startCluster(t, mixedHSMs(t))
	for i, want := range []string{"soft", "pkcs11", "pkcs11"} {
		if got := server.HSMKind(c.nodes[i]); got != want {
			t.Fatalf("node %d runs %q, want %q", i+1, got, want)
		}
	}
	ctx := context.Background()
	for i := range c.nodes {
		k := c.kms(t, i)
		ck, err := k.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "mixed"})
		if err != nil {
			t.Fatalf("CreateKey via node %d: %v", i+1, err)
		}
		enc, err := k.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("mixed backends")})
		if err != nil {
			t.Fatalf("Encrypt on node %d: %v", i+1, err)
		}
		waitApplied(t, 10*time.Second, c.nodes[i].AppliedIndex(), c.nodes...)
		for j := range c.nodes {
			dec, err := c.kms(t, j).Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob})
			if err != nil || string(dec.Plaintext) != "mixed backends" {
				t.Fatalf("key made on node %d: Decrypt on node %d: %v", i+1, j+1, err)
			}
		}
	}
	// Imported material (Origin EXTERNAL): import parameters from one
	// backend, the material imported through a node of the other.
	for _, p := range [][2]int{{1, 0}, {0, 2}} {
		from, to := kmsVia(c.nodes[p[0]], adminHTTP(t, c.adminDir)), kmsVia(c.nodes[p[1]], adminHTTP(t, c.adminDir))
		ck, err := from.CreateKey(ctx, &kmsv1.CreateKeyRequest{Origin: "EXTERNAL"})
		if err != nil {
			t.Fatalf("CreateKey EXTERNAL via node %d: %v", p[0]+1, err)
		}
		params, err := from.GetParametersForImport(ctx, &kmsv1.GetParametersForImportRequest{KeyId: ck.KeyMetadata.KeyId,
			WrappingAlgorithm: "RSA_AES_KEY_WRAP_SHA_256", WrappingKeySpec: "RSA_2048"})
		if err != nil {
			t.Fatalf("GetParametersForImport via node %d: %v", p[0]+1, err)
		}
		material, err := keywrap.ForImport(rand.Reader, params.PublicKey, hsm.RsaAesKeyWrapSHA256, bytes.Repeat([]byte{7}, 32))
		if err != nil {
			t.Fatal(err)
		}
		waitApplied(t, 10*time.Second, c.nodes[p[0]].AppliedIndex(), c.nodes...)
		if _, err := to.ImportKeyMaterial(ctx, &kmsv1.ImportKeyMaterialRequest{KeyId: ck.KeyMetadata.KeyId, ImportToken: params.ImportToken,
			EncryptedKeyMaterial: material, ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE"}); err != nil {
			t.Fatalf("ImportKeyMaterial via node %d of parameters from node %d: %v", p[1]+1, p[0]+1, err)
		}
		enc, err := to.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("imported")})
		if err != nil {
			t.Fatal(err)
		}
		waitApplied(t, 10*time.Second, c.nodes[p[1]].AppliedIndex(), c.nodes...)
		for j := range c.nodes {
			dec, err := c.kms(t, j).Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob})
			if err != nil || string(dec.Plaintext) != "imported" {
				t.Fatalf("imported key: Decrypt on node %d: %v", j+1, err)
			}
		}
	}
}

// TestPKCS11RotateDomainKey: the mixed cluster of TestPKCS11MixedCluster
// rotates its domain key (trent cluster rotate-domain-key). The soft
// node n1 is closed after the first re-wrap batch, so the PKCS#11 nodes
// finish the rotation without it: one of them leads and re-wraps the
// rest (EKTs made by either backend, the CA's and the gossip key's);
// every ciphertext made before decrypts on both, and both destroy the old
// key.
func TestPKCS11RotateDomainKey(t *testing.T) {
	var holding atomic.Bool
	holding.Store(true)
	c := startCluster(t, rotationOpts(func(batches int) bool { return holding.Load() && batches >= 1 }), mixedHSMs(t))
	ctx := context.Background()
	var all []acked
	for i := range 6 {
		ck := retrying(t, "create a key", func() (*kmsv1.CreateKeyResponse, error) {
			return c.kms(t, i%3).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
		})
		r := retrying(t, "encrypt", func() (*kmsv1.EncryptResponse, error) {
			return c.kms(t, i%3).Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("before")})
		})
		all = append(all, acked{ck.KeyMetadata.KeyId, "before", r.CiphertextBlob})
	}
	started := retrying(t, "rotate the domain key", func() (*clusterv1.RotateDomainKeyResponse, error) {
		return c.admin(t, c.nodes[1]).RotateDomainKey(ctx, &clusterv1.RotateDomainKeyRequest{})
	})
	if started.Rotation.Generation != 2 {
		t.Fatalf("started %v", started.Rotation)
	}
	waitUntil(t, "a batch is re-wrapped", func() bool {
		r := c.rotationOf(t, c.nodes[1])
		return r.GetState() == "rewrapping" && r.GetRewrapped() >= 2
	})
	if err := c.nodes[0].Close(); err != nil {
		t.Fatal(err)
	}
	holding.Store(false)
	r := c.waitRotationDone(t, 1, 2)
	if r.Rewrapped != r.Total || r.Total < 8 {
		t.Fatalf("rotation %v: re-wrapped %d of %d", r, r.Rewrapped, r.Total)
	}
	c.decryptsEverywhere(t, all, 1, 2)
	for _, i := range []int{1, 2} {
		c.onlyKey(t, i, r.NewKeyId)
	}
	ck := retrying(t, "create a key after the rotation", func() (*kmsv1.CreateKeyResponse, error) {
		return c.kms(t, 2).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	})
	enc := retrying(t, "encrypt after the rotation", func() (*kmsv1.EncryptResponse, error) {
		return c.kms(t, 2).Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("after")})
	})
	c.decryptsEverywhere(t, []acked{{ck.KeyMetadata.KeyId, "after", enc.CiphertextBlob}}, 1, 2)
}

// TestPKCS11SealedStart: a node on a SoftHSMv2 token restarts with
// --sealed-start (no PIN file), refuses KMS calls as sealed, stays sealed
// after a wrong PIN and serves its keys after the right one.
func TestPKCS11SealedStart(t *testing.T) {
	s := softhsmtest.New(t)
	tok := s.Token(t, "sealed")
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(softhsmtest.UserPIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.HSM, cfg.PKCS11Module, cfg.PKCS11TokenLabel, cfg.PKCS11PINFile = pkcs11.Kind, tok.Module, tok.TokenLabel, pinFile
	n, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k := client(t, n, adminHTTP(t, dir))
	ck, err := k.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := k.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("on a token")})
	if err != nil {
		t.Fatal(err)
	}
	cfg.APIAddr, cfg.RaftAddr = n.APIAddr(), n.RaftAddr()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	cfg.PKCS11PINFile, cfg.SealedStart = "", true
	n, err = server.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("sealed start: %v", err)
	}
	defer n.Close()
	addr := n.APIAddr()
	refused := notServing{id: "node1", addr: addr, dir: dir, msg: "Node node1 cannot serve: its HSM is sealed", self: addr}
	t.Run("sealed", refused.check)
	unseal := nodev1connect.NewNodeServiceClient(adminHTTP(t, dir), "https://"+addr)
	_, err = unseal.Unseal(ctx, &nodev1.UnsealRequest{Secret: []byte("999999")})
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("wrong PIN: %v; want permission denied", err)
	}
	t.Run("still sealed", refused.check)
	if _, err := unseal.Unseal(ctx, &nodev1.UnsealRequest{Secret: []byte(softhsmtest.UserPIN)}); err != nil {
		t.Fatalf("unseal: %v", err)
	}
	if got := server.HSMKind(n); got != pkcs11.Kind {
		t.Errorf("unsealed node runs %q", got)
	}
	dec, err := client(t, n, adminHTTP(t, dir)).Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "on a token" {
		t.Fatalf("decrypt after unseal: %v", err)
	}
}

// BenchmarkNodeHSM measures Encrypt and Decrypt of 32 bytes through a
// node over Connect (loopback mTLS, one caller at a time) on the soft HSM
// and on a SoftHSMv2 token, unwrap cache warm:
//
//	CGO_ENABLED=1 go test -tags pkcs11,hashicorpmetrics -run '^$' -bench NodeHSM ./server
func BenchmarkNodeHSM(b *testing.B) {
	s := softhsmtest.New(b)
	pinFile := filepath.Join(b.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(softhsmtest.UserPIN+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, kind := range []string{"soft", pkcs11.Kind} {
		dir := b.TempDir()
		cfg := testConfig(dir)
		if kind == pkcs11.Kind {
			tok := s.Token(b, "bench")
			cfg.HSM, cfg.PKCS11Module, cfg.PKCS11TokenLabel, cfg.PKCS11PINFile = kind, tok.Module, tok.TokenLabel, pinFile
		}
		n, err := server.Start(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Close() })
		c := client(b, n, adminHTTPB(b, dir))
		ctx := context.Background()
		ck, err := c.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
		if err != nil {
			b.Fatal(err)
		}
		enc := &kmsv1.EncryptRequest{KeyId: ck.KeyMetadata.KeyId, Plaintext: make([]byte, 32)}
		r, err := c.Encrypt(ctx, enc)
		if err != nil {
			b.Fatal(err)
		}
		dec := &kmsv1.DecryptRequest{CiphertextBlob: r.CiphertextBlob}
		b.Run(kind+"/Encrypt", func(b *testing.B) {
			for b.Loop() {
				if _, err := c.Encrypt(ctx, enc); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(kind+"/Decrypt", func(b *testing.B) {
			for b.Loop() {
				if _, err := c.Decrypt(ctx, dec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
