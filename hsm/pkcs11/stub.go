//go:build !pkcs11 || !cgo

package pkcs11

import "github.com/trentkms/trent/hsm"

// Compiled reports whether this binary has the PKCS#11 backend.
const Compiled = false

// Open fails with [ErrNotCompiled]: this build has no PKCS#11 backend.
func Open(Config) (hsm.Backend, error) { return nil, ErrNotCompiled }
