//go:build !pkcs11 || !cgo

package pkcs11_test

import (
	"errors"
	"testing"

	"github.com/trentkms/trent/hsm/pkcs11"
)

// TestNotCompiled: a build without the tag says so.
func TestNotCompiled(t *testing.T) {
	if _, err := pkcs11.Open(pkcs11.Config{Module: "x", TokenLabel: "y", PIN: []byte("1")}); !errors.Is(err, pkcs11.ErrNotCompiled) {
		t.Fatalf("Open = %v, want ErrNotCompiled", err)
	}
}
