package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/server"
)

// TestCARotation runs trent cluster rotate-ca on a 3-node cluster with an
// injected certificate clock, through the three phases of the overlap:
//   - before the switch every node still presents a certificate of the
//     old CA (a client trusting only it works), both the old admin
//     certificate and one the new CA issued are accepted, and the data
//     dir's admin credential is reissued by the new CA with the bundle;
//   - after the switch every node presents a certificate of the new CA,
//     raft and forwarding between them carry on (writes through every
//     node), and the old admin certificate is still accepted;
//   - after the overlap the old admin certificate is refused everywhere,
//     the new one works, and data written before the rotation decrypts.
func TestCARotation(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	c := startCluster(t, func(cfg *server.Config) {
		cfg.Testing.CertNow = now
		cfg.Testing.CertCheckInterval = 20 * time.Millisecond
	})
	adminDir := filepath.Join(c.adminDir, "admin")
	oldPool, oldAdmin, err := identity.LoadCredentials(adminDir)
	if err != nil {
		t.Fatal(err)
	}
	tlsWith := func(pool *x509.CertPool, cert tls.Certificate) *tls.Config {
		cfg := identity.ClientTLSConfig(pool, cert)
		cfg.Time = now
		return cfg
	}
	ctx := context.Background()
	encrypted, err := client(t, c.nodes[0], httpClient(tlsWith(oldPool, oldAdmin))).Encrypt(ctx, mustKey(t, c, tlsWith(oldPool, oldAdmin)))
	if err != nil {
		t.Fatal(err)
	}
	// servedBy returns the certificate node i presents, verified with pool.
	servedBy := func(i int, pool *x509.CertPool) (*x509.Certificate, error) {
		conn, err := tls.Dial("tcp", c.nodes[i].APIAddr(), tlsWith(pool, tls.Certificate{}))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0], nil
	}
	// writesEverywhere creates a key through every node (forwarded to the
	// leader over the node-to-node TLS).
	writesEverywhere := func(cfg *tls.Config) error {
		for i := range c.nodes {
			if _, err := client(t, c.nodes[i], httpClient(cfg)).CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "after rotation"}); err != nil {
				return fmt.Errorf("node %d: %w", i, err)
			}
		}
		return nil
	}

	cl := clusterv1connect.NewClusterServiceClient(httpClient(tlsWith(oldPool, oldAdmin)), "https://"+c.nodes[1].APIAddr())
	if _, err := cl.RotateCA(ctx, &clusterv1.RotateCARequest{OverlapSeconds: 30}); err == nil {
		t.Fatal("an overlap under a minute was accepted")
	}
	r, err := cl.RotateCA(ctx, &clusterv1.RotateCARequest{OverlapSeconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	cas, err := identity.ParseCertsPEM(r.CaBundle)
	if err != nil || len(cas) != 2 || cas[0].Equal(cas[1]) {
		t.Fatalf("bundle of %d CAs (%v)", len(cas), err)
	}
	newCA := cas[0]
	if oldAdmin.Leaf.CheckSignatureFrom(cas[1]) != nil {
		t.Fatal("the bundle's second CA is not the old one")
	}
	if _, err := cl.RotateCA(ctx, &clusterv1.RotateCARequest{OverlapSeconds: 60}); err == nil {
		t.Fatal("a second rotation during the overlap was accepted")
	}
	bundle := x509.NewCertPool()
	bundle.AddCert(cas[0])
	bundle.AddCert(cas[1])
	newOnly := x509.NewCertPool()
	newOnly.AddCert(newCA)

	// Before the switch.
	waitFor(t, "the admin credential reissued by the new CA", 10*time.Second, func() error {
		_, cert, err := identity.LoadCredentials(adminDir)
		if err != nil {
			return err
		}
		if cert.Leaf.CheckSignatureFrom(newCA) != nil {
			return errNotYet
		}
		return nil
	})
	_, newAdmin, err := identity.LoadCredentials(adminDir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.nodes {
		leaf, err := servedBy(i, oldPool)
		if err != nil {
			t.Fatalf("before the switch, node %d's certificate does not verify with the old CA: %v", i, err)
		}
		if leaf.CheckSignatureFrom(newCA) == nil {
			t.Fatalf("before the switch, node %d presents a certificate of the new CA", i)
		}
	}
	for name, cert := range map[string]tls.Certificate{"old": oldAdmin, "new": newAdmin} {
		waitFor(t, "writes through every node with the "+name+" admin certificate", 10*time.Second, func() error {
			return writesEverywhere(tlsWith(bundle, cert))
		})
	}

	// After the switch.
	offset.Store(int64(31 * time.Second))
	for i := range c.nodes {
		waitFor(t, onNode("a certificate of the new CA presented", i), 10*time.Second, func() error {
			leaf, err := servedBy(i, bundle)
			if err != nil {
				return err
			}
			if leaf.CheckSignatureFrom(newCA) != nil {
				return errNotYet
			}
			return nil
		})
		if _, err := servedBy(i, newOnly); err != nil {
			t.Fatalf("after the switch, node %d does not verify with the new CA alone: %v", i, err)
		}
	}
	waitFor(t, "writes through every node after the switch", 10*time.Second, func() error {
		return writesEverywhere(tlsWith(bundle, newAdmin))
	})
	// (Retried: on a loaded machine raft may change leaders meanwhile;
	// a refused certificate fails every try.)
	waitFor(t, "writes with the old admin certificate before the overlap ends", 10*time.Second, func() error {
		return writesEverywhere(tlsWith(bundle, oldAdmin))
	})

	// After the overlap.
	offset.Store(int64(61 * time.Second))
	for i := range c.nodes {
		waitFor(t, onNode("the old admin certificate refused", i), 10*time.Second, func() error {
			_, err := client(t, c.nodes[i], httpClient(tlsWith(bundle, oldAdmin))).ListKeys(ctx, &kmsv1.ListKeysRequest{})
			if err == nil {
				return errNotYet
			}
			return nil
		})
	}
	waitFor(t, "writes through every node after the overlap", 10*time.Second, func() error {
		return writesEverywhere(tlsWith(newOnly, newAdmin))
	})
	for i := range c.nodes {
		waitFor(t, onNode("a ciphertext from before the rotation decrypted", i), 10*time.Second, func() error {
			out, err := client(t, c.nodes[i], httpClient(tlsWith(newOnly, newAdmin))).Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: encrypted.CiphertextBlob})
			if err != nil {
				return err
			}
			if string(out.Plaintext) != "before the rotation" {
				return fmt.Errorf("plaintext %q", out.Plaintext)
			}
			return nil
		})
	}
	st, err := clusterv1connect.NewClusterServiceClient(httpClient(tlsWith(newOnly, newAdmin)), "https://"+c.nodes[2].APIAddr()).
		Status(ctx, &clusterv1.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// (Status reads the cluster's clock, not the injected certificate
	// clock: the overlap is still running there.)
	if st.CaNotAfter != newCA.NotAfter.UTC().Format(time.RFC3339) || st.CaSwitchAt != r.SwitchAt || st.CaPreviousUntil != r.Until {
		t.Fatalf("status: CA expires %s, switch at %s, previous until %q; want %s, %s, %s", st.CaNotAfter, st.CaSwitchAt, st.CaPreviousUntil,
			newCA.NotAfter.UTC().Format(time.RFC3339), r.SwitchAt, r.Until)
	}

	// Restarts: the creating node (its sealed CA key was rewritten for
	// the new CA) and a joined one start from their data dirs, which
	// trust the new CA alone, and rejoin.
	for _, i := range []int{0, 2} {
		waitFor(t, onNode("the data dir trusting the new CA alone", i), 10*time.Second, func() error {
			b, err := os.ReadFile(filepath.Join(c.nodes[i].DataDir(), "ca", "ca.pem"))
			if err != nil {
				return err
			}
			cas, err := identity.ParseCertsPEM(b)
			if err != nil || len(cas) != 1 || !cas[0].Equal(newCA) {
				return errNotYet
			}
			return nil
		})
		cfg := c.configs[i]
		cfg.APIAddr, cfg.RaftAddr = c.nodes[i].APIAddr(), c.nodes[i].RaftAddr()
		if err := c.nodes[i].Close(); err != nil {
			t.Fatal(err)
		}
		back, err := server.Start(ctx, cfg)
		if err != nil {
			t.Fatalf("restart node %d after the rotation: %v", i, err)
		}
		c.nodes[i] = back
		waitFor(t, onNode("writes through every node after a restart", i), 20*time.Second, func() error {
			return writesEverywhere(tlsWith(newOnly, newAdmin))
		})
	}
}

// mustKey creates a key through node 0 and returns an Encrypt request of
// "before the rotation" under it.
func mustKey(t *testing.T, c *testCluster, cfg *tls.Config) *kmsv1.EncryptRequest {
	t.Helper()
	k, err := client(t, c.nodes[0], httpClient(cfg)).CreateKey(context.Background(), &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return &kmsv1.EncryptRequest{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("before the rotation")}
}
