//go:build pkcs11 && cgo

package kms_test

import (
	"testing"

	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/pkcs11"
	"github.com/trentkms/trent/hsm/pkcs11/softhsmtest"
)

func init() {
	// One SoftHSMv2 configuration per benchmark (softhsmtest.New may not
	// run while a backend is open on the module), one token per backend.
	var s *softhsmtest.SoftHSM
	var owner *testing.B
	benchBackends = append(benchBackends, benchBackend{"softhsm", func(b *testing.B, cached bool) hsm.Backend {
		if owner != b {
			s, owner = softhsmtest.New(b), b
		}
		cfg := s.Token(b, "kms-bench")
		cfg.WithDomain = true
		if !cached {
			cfg.CacheSize = -1
		}
		h, err := pkcs11.OpenHSM(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { h.Close() })
		return h
	}})
}
