package cluster

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"

	"google.golang.org/protobuf/proto"

	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/identity"
)

// FuzzParseJoinRequest feeds the Join path what an unauthenticated caller
// controls: the request's bytes, decoded as connect decodes them, then
// checked by parseJoinRequest. It must not panic, and what it accepts
// must be what the handler relies on: a token that re-renders, a valid
// node id and addresses, and a CSR whose signature verifies.
func FuzzParseJoinRequest(f *testing.F) {
	key, err := identity.NewKeyPair()
	if err != nil {
		f.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "n2"}}, key)
	if err != nil {
		f.Fatal(err)
	}
	tok := JoinToken{ID: "0123456789abcdef", Secret: make([]byte, 32)}
	for _, req := range []*clusterv1.JoinRequest{
		{Token: tok.String(), NodeId: "n2", RaftAddr: "127.0.0.1:7701", ApiAddr: "127.0.0.1:7700", Csr: csr, HsmIdentity: []byte{1}},
		{Token: tok.String(), NodeId: "n2", RaftAddr: "[::1]:1", ApiAddr: "h:2", Csr: csr[:len(csr)/2], HsmIdentity: []byte{1}},
		{Token: "trent-join-v1...", NodeId: "../n2"},
		{},
	} {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req clusterv1.JoinRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		tok, csr, err := parseJoinRequest(&req)
		if err != nil {
			return
		}
		if again, err := ParseJoinToken(tok.String()); err != nil || again.String() != tok.String() {
			t.Fatalf("accepted token %q does not re-render", req.GetToken())
		}
		if !identity.ValidNodeID(req.GetNodeId()) || !validAddr(req.GetRaftAddr()) || !validAddr(req.GetApiAddr()) {
			t.Fatalf("accepted node %q at %q, %q", req.GetNodeId(), req.GetRaftAddr(), req.GetApiAddr())
		}
		if csr == nil || csr.CheckSignature() != nil || len(req.GetHsmIdentity()) == 0 {
			t.Fatal("accepted a request without a verified CSR and an HSM identity")
		}
	})
}
