package identity_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/trentkms/trent/identity"
)

func ExampleParsePrincipal() {
	p, err := identity.ParsePrincipal("arn:aws:iam::111122223333:user/engineering/bob")
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Kind, p.Account, p.Path, p.Name)

	_, err = identity.ParsePrincipal("arn:aws:iam::1111:root")
	fmt.Println(err)
	fmt.Println(errors.Is(err, identity.ErrInvalidARN))
	// Output:
	// user 111122223333 /engineering/ bob
	// invalid principal ARN "arn:aws:iam::1111:root": account ID must be exactly 12 digits, got "1111"
	// true
}

func ExampleParseKMSARN() {
	arn := identity.KeyARN("us-east-2", "111122223333", "1234abcd-12ab-34cd-56ef-1234567890ab")
	r, err := identity.ParseKMSARN(arn)
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Type, r.ID)
	a, _ := identity.ParseKMSARN(identity.AliasARN("us-east-2", "111122223333", "alias/app"))
	fmt.Println(a.AliasName())
	// Output:
	// key 1234abcd-12ab-34cd-56ef-1234567890ab
	// alias/app
}

func ExampleNewContext() {
	bob, _ := identity.ParsePrincipal("arn:aws:iam::111122223333:user/bob")
	ctx := identity.NewContext(context.Background(), bob)
	if p, ok := identity.FromContext(ctx); ok {
		fmt.Println("caller:", p)
	}
	// Output: caller: arn:aws:iam::111122223333:user/bob
}

// ExampleCA shows a development cluster's credentials: a CA, a node
// certificate for loopback endpoints, and an admin client certificate.
func ExampleCA() {
	now := time.Now()
	ca, err := identity.NewCA("dev", nil, now)
	if err != nil {
		panic(err)
	}

	nodeKey, _ := identity.NewKeyPair()
	nodeDER, err := ca.IssueNode("node1", identity.LoopbackHosts(), nodeKey.Public(), now, 365*24*time.Hour)
	if err != nil {
		panic(err)
	}
	nodeCert := tls.Certificate{Certificate: [][]byte{nodeDER}, PrivateKey: nodeKey}

	admin := identity.RootPrincipal("111122223333")
	adminKey, _ := identity.NewKeyPair()
	adminDER, err := ca.IssueClient(admin, adminKey.Public(), now, 365*24*time.Hour)
	if err != nil {
		panic(err)
	}
	adminCert := tls.Certificate{Certificate: [][]byte{adminDER}, PrivateKey: adminKey}

	serverCfg := identity.ServerTLSConfig(ca.Pool(), func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &nodeCert, nil })
	clientCfg := identity.ClientTLSConfig(ca.Pool(), adminCert)
	fmt.Println(serverCfg.ClientAuth == tls.VerifyClientCertIfGiven, len(clientCfg.Certificates))
	// Output: true 1
}
