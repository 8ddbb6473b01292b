package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/identity"
)

// nullServer is the reference of `trent bench --baseline null`: the same
// TLS configuration as a node's API listener (identity.ServerTLSConfig,
// verifying a client certificate against the same CA), the same HTTP/2
// server and Connect handler, answering every call with one fixed reply
// (the reply a node gave to the same request). What a node costs on top
// of it is Trent's own work: authentication, authorization, the key
// operation, consistency and the audit trail.
type nullServer struct {
	url  string
	pool *x509.CertPool // trusts the null server's certificate
	srv  *http.Server
	done chan error
}

// startNullServer serves reply on a loopback port. clientCA verifies the
// bench's client certificate, as a node would.
func startNullServer(clientCA string, reply proto.Message) (*nullServer, error) {
	cert, pool, err := nullCertificate()
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(clientCA)
	if err != nil {
		return nil, fmt.Errorf("reading CA certificate: %v", err)
	}
	clients := x509.NewCertPool()
	if !clients.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no PEM certificate in %s", clientCA)
	}
	tlsCfg := identity.ServerTLSConfig(clients, func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil })
	mux := http.NewServeMux()
	mux.Handle(kmsv1connect.NewKeyManagementServiceHandler(nullKMS{reply: reply}))
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	// As a node's API server (server/routes.go), less the timeouts a run
	// never reaches.
	srv := &http.Server{Handler: mux, TLSConfig: tlsCfg, Protocols: protocols, ReadHeaderTimeout: 10 * time.Second,
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 1000}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	n := &nullServer{url: "https://" + ln.Addr().String(), pool: pool, srv: srv, done: make(chan error, 1)}
	go func() { n.done <- srv.ServeTLS(ln, "", "") }()
	return n, nil
}

// close stops the server.
func (n *nullServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := n.srv.Shutdown(ctx)
	if serr := <-n.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// nullCertificate makes a self-signed serving certificate for loopback
// (the same key type as a node's, ECDSA P-256) and a pool trusting it.
func nullCertificate() (*tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "trent bench null server"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

// nullKMS answers the bench operations with reply, or Unimplemented.
type nullKMS struct {
	kmsv1connect.UnimplementedKeyManagementServiceHandler
	reply proto.Message
}

// answer returns the fixed reply if it is a T.
func answer[T proto.Message](n nullKMS) (T, error) {
	if r, ok := n.reply.(T); ok {
		return r, nil
	}
	var zero T
	return zero, connect.NewError(connect.CodeUnimplemented, errors.New("the null server answers only the bench's operation"))
}

func (n nullKMS) Encrypt(context.Context, *kmsv1.EncryptRequest) (*kmsv1.EncryptResponse, error) {
	return answer[*kmsv1.EncryptResponse](n)
}

func (n nullKMS) Decrypt(context.Context, *kmsv1.DecryptRequest) (*kmsv1.DecryptResponse, error) {
	return answer[*kmsv1.DecryptResponse](n)
}

func (n nullKMS) GenerateDataKey(context.Context, *kmsv1.GenerateDataKeyRequest) (*kmsv1.GenerateDataKeyResponse, error) {
	return answer[*kmsv1.GenerateDataKeyResponse](n)
}

func (n nullKMS) GenerateDataKeyWithoutPlaintext(context.Context, *kmsv1.GenerateDataKeyWithoutPlaintextRequest) (*kmsv1.GenerateDataKeyWithoutPlaintextResponse, error) {
	return answer[*kmsv1.GenerateDataKeyWithoutPlaintextResponse](n)
}

func (n nullKMS) DescribeKey(context.Context, *kmsv1.DescribeKeyRequest) (*kmsv1.DescribeKeyResponse, error) {
	return answer[*kmsv1.DescribeKeyResponse](n)
}

func (n nullKMS) CreateKey(context.Context, *kmsv1.CreateKeyRequest) (*kmsv1.CreateKeyResponse, error) {
	return answer[*kmsv1.CreateKeyResponse](n)
}

func (n nullKMS) CreateGrant(context.Context, *kmsv1.CreateGrantRequest) (*kmsv1.CreateGrantResponse, error) {
	return answer[*kmsv1.CreateGrantResponse](n)
}
