package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/gen/trent/cluster/v1/clusterv1connect"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/server"
)

// TestNodeCertificatesRenewUnderLoad moves every node's certificate clock
// past two thirds of a 3h lifetime: each node renews its certificate, new
// handshakes (API and raft) present the new one, a load of calls through
// every node (writes forwarded to the leader, so raft and forwarding
// carry on too) sees no failure, and once the old certificate has expired
// a peer presenting it is refused while the new one is accepted.
func TestNodeCertificatesRenewUnderLoad(t *testing.T) {
	const lifetime = 3 * time.Hour
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	c := startCluster(t, func(cfg *server.Config) {
		cfg.Testing.CertNow = now
		cfg.Testing.NodeCertLifetime = lifetime
		cfg.Testing.CertCheckInterval = 20 * time.Millisecond
	})
	pool, admin, err := identity.LoadCredentials(filepath.Join(c.adminDir, "admin"))
	if err != nil {
		t.Fatal(err)
	}
	clientTLS := func() *tls.Config {
		cfg := identity.ClientTLSConfig(pool, admin)
		cfg.Time = now
		return cfg
	}
	servingSerial := func(s *server.Server) (string, error) {
		conn, err := tls.Dial("tcp", s.APIAddr(), clientTLS())
		if err != nil {
			return "", err
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Text(16), nil
	}
	nodeCert := func(s *server.Server) tls.Certificate {
		t.Helper()
		cert, err := tls.LoadX509KeyPair(filepath.Join(s.DataDir(), "node", "cert.pem"), filepath.Join(s.DataDir(), "node", "key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	var old []tls.Certificate
	for i, s := range c.nodes {
		cert := nodeCert(s)
		if got, err := servingSerial(s); err != nil || got != cert.Leaf.SerialNumber.Text(16) {
			t.Fatalf("node %d serves %s (%v), want its certificate %s", i, got, err, cert.Leaf.SerialNumber.Text(16))
		}
		if d := cert.Leaf.NotAfter.Sub(cert.Leaf.NotBefore); d < lifetime || d > lifetime+time.Hour {
			t.Fatalf("node %d certificate lifetime %v, want %v", i, d, lifetime)
		}
		old = append(old, cert)
	}

	ctx := context.Background()
	ck, err := c.kms(t, 0).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keyID := ck.KeyMetadata.KeyId

	// The load: per node, one client keeping its connections and one
	// dialing afresh for every call; every tenth call is a write.
	var calls, renewedCalls atomic.Int64
	var renewed atomic.Bool
	var failMu sync.Mutex
	var failures []error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range c.nodes {
		for _, fresh := range []bool{false, true} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				kept := client(t, c.nodes[i], httpClient(clientTLS()))
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					k, hc := kept, (*http.Client)(nil)
					if fresh {
						hc = httpClient(clientTLS())
						k = client(t, c.nodes[i], hc)
					}
					// A call refused as retryable is asked again, up to 4
					// times with a doubling backoff (1.5 s in all), as SDKs
					// do: a loaded machine's elections refuse some (a
					// write's outcome unknown); a renewal that broke
					// connections or raft would fail them for good.
					var err error
					for try := 0; try < 5; try++ {
						if n%10 == 0 {
							_, err = k.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "load"})
						} else {
							_, err = k.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("load")})
						}
						if connect.CodeOf(err) != connect.CodeUnavailable || try == 4 {
							break
						}
						time.Sleep(100 * time.Millisecond << try) // a client's backoff
					}
					if hc != nil {
						hc.CloseIdleConnections()
					}
					if err != nil {
						failMu.Lock()
						failures = append(failures, err)
						failMu.Unlock()
					}
					calls.Add(1)
					if renewed.Load() {
						renewedCalls.Add(1)
					}
				}
			}()
		}
	}
	waitFor(t, "the load has begun", 10*time.Second, holds(func() bool { return calls.Load() >= 30 }))

	offset.Store(int64(lifetime * 5 / 6)) // less than a third left
	for i, s := range c.nodes {
		waitFor(t, onNode("a renewed certificate served", i), 10*time.Second, func() error {
			got, err := servingSerial(s)
			if err != nil {
				return err
			}
			if got == old[i].Leaf.SerialNumber.Text(16) {
				return errNotYet
			}
			return nil
		})
	}
	renewed.Store(true)
	waitFor(t, "calls after the renewal", 10*time.Second, holds(func() bool { return renewedCalls.Load() >= 60 }))
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d calls failed during renewal, first: %v", len(failures), calls.Load(), failures[0])
	}
	t.Logf("%d calls, %d after every node renewed, none failed", calls.Load(), renewedCalls.Load())

	// Past the old certificates' expiry: a peer presenting one is
	// refused; the renewed ones (valid for another 2.5h) are accepted.
	offset.Store(int64(lifetime + 30*time.Minute))
	caCert, err := identity.ParseCertPEM(mustRead(t, filepath.Join(c.adminDir, "ca"), "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range c.nodes {
		renewedCert := nodeCert(s)
		if renewedCert.Leaf.SerialNumber.Cmp(old[i].Leaf.SerialNumber) == 0 {
			t.Fatalf("node %d data dir still holds the old certificate", i)
		}
		if err := raftHandshake(s, pool, old[i], now); err == nil {
			t.Errorf("node %d accepted a peer presenting the expired certificate", i)
		}
		if err := raftHandshake(s, pool, renewedCert, now); err != nil {
			t.Errorf("node %d refused its renewed certificate: %v", i, err)
		}
		// trent cluster status reports the renewed certificate's expiry
		// and the CA's.
		st, err := clusterv1connect.NewClusterServiceClient(httpClient(clientTLS()), "https://"+s.APIAddr()).Status(ctx, &clusterv1.StatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if want := renewedCert.Leaf.NotAfter.UTC().Format(time.RFC3339); st.Self.CertNotAfter != want {
			t.Errorf("node %d Status: certificate expires %q, want %q", i, st.Self.CertNotAfter, want)
		}
		if want := caCert.NotAfter.UTC().Format(time.RFC3339); st.CaNotAfter != want {
			t.Errorf("node %d Status: CA expires %q, want %q", i, st.CaNotAfter, want)
		}
	}
	// The cluster still works through every node.
	for i := range c.nodes {
		if _, err := client(t, c.nodes[i], httpClient(clientTLS())).CreateKey(ctx, &kmsv1.CreateKeyRequest{}); err != nil {
			t.Errorf("node %d after expiry: %v", i, err)
		}
	}
}

// raftHandshake dials s's raft port presenting cert and reports whether
// the node accepted it: in TLS 1.3 the server checks the client's
// certificate after the client's handshake ends, so a refusal arrives as
// an alert on the first read; an accepted peer just sees no data.
func raftHandshake(s *server.Server, pool *x509.CertPool, cert tls.Certificate, now func() time.Time) error {
	_, cfg := identity.NodeTLSConfigs(pool, cert)
	cfg.ServerName = "127.0.0.1"
	cfg.Time = now
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.RaftAddr(), cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var b [1]byte
	_, err = conn.Read(b[:])
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if err == nil {
		return errors.New("unexpected data")
	}
	return err
}
