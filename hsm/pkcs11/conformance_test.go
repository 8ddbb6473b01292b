//go:build pkcs11 && cgo

package pkcs11_test

import (
	"testing"

	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/hsmtest"
	"github.com/trentkms/trent/hsm/pkcs11"
	"github.com/trentkms/trent/hsm/pkcs11/softhsmtest"
)

// TestConformance holds the PKCS#11 backend on SoftHSMv2 to the
// hsm.Backend contract, each backend on a token of its own.
func TestConformance(t *testing.T) {
	s := softhsmtest.New(t)
	hsmtest.Run(t, func(t *testing.T, domain bool) hsm.Backend {
		cfg := s.Token(t, "conf")
		cfg.WithDomain = domain
		h, err := pkcs11.OpenHSM(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	})
}
