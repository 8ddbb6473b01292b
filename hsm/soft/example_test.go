package soft_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/soft"
)

func Example() {
	dir, err := os.MkdirTemp("", "soft-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	// Bootstrap node: a new HSM with a fresh domain key, sealed under a key
	// file that is created on first use (development mode).
	h, err := soft.Create(filepath.Join(dir, "hsm.state"), soft.InsecureDevKeyFile(filepath.Join(dir, "hsm.key"), true))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()

	keyID, versionID := [16]byte{1}, [16]byte{2}
	ekt, err := h.GenerateKey(ctx, hsm.SymmetricDefault, keyID, versionID)
	if err != nil {
		fmt.Println(err)
		return
	}
	ref := hsm.KeyRef{KeyID: keyID, VersionID: versionID, Spec: hsm.SymmetricDefault, EKT: ekt}

	nonce := [16]byte{3}
	aad := []byte("blob header || canonical context")
	body, err := h.Seal(ctx, ref, nonce, aad, []byte("hello"))
	if err != nil {
		fmt.Println(err)
		return
	}
	pt, err := h.Open(ctx, ref, nonce, aad, body)
	fmt.Printf("%s %v %d\n", pt, err, len(body)-len(pt))

	_, err = h.Open(ctx, ref, nonce, []byte("other context"), body)
	fmt.Println(err)
	// Output:
	// hello <nil> 28
	// hsm: message authentication failed
}

func ExampleHSM_ExportDomain() {
	dir, err := os.MkdirTemp("", "soft-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	key := soft.InsecureDevKeyFile(filepath.Join(dir, "hsm.key"), true)

	first, err := soft.Create(filepath.Join(dir, "first.state"), key)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer first.Close()
	joiner, err := soft.CreateWithoutDomain(filepath.Join(dir, "joiner.state"), key)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer joiner.Close()

	// The joiner publishes its identity key; an authorized member seals the
	// domain key to it, bound to what the transfer is for.
	info := []byte("cluster=example node=joiner")
	token, err := first.ExportDomain(ctx, joiner.IdentityPublicKey(), info)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := joiner.ImportDomain(ctx, token, info); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(first.DomainKeyID() == joiner.DomainKeyID())
	// Output: true
}
