//go:build pkcs11 && cgo

// Package softhsmtest gives tests SoftHSMv2 tokens of their own: a
// SOFTHSM2_CONF whose token directory is in the test's temporary
// directory, and tokens initialized through the library. When SoftHSMv2 is
// not installed a test is skipped, but fails when CI=true: in CI a skip
// would pass without running anything.
package softhsmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/trentkms/trent/hsm/pkcs11"
)

// ModuleEnv names a variable that overrides where the SoftHSMv2 module is.
const ModuleEnv = "TRENT_SOFTHSM_MODULE"

// Module paths tried, Debian's first.
var modulePaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",
}

// SO PIN and user PIN of every test token.
const (
	SOPIN   = "5678"
	UserPIN = "1234"
)

// SoftHSM is one test's SoftHSMv2 configuration.
type SoftHSM struct {
	// Module is the library path.
	Module string
	n      atomic.Int64
}

// New finds SoftHSMv2 and points SOFTHSM2_CONF at a fresh configuration
// whose tokens live in t.TempDir(). The library reads the configuration
// when it is initialized: the test must not overlap with another that has
// a backend open on the module (t.Setenv forbids parallel tests anyway).
func New(t testing.TB) *SoftHSM {
	t.Helper()
	module := os.Getenv(ModuleEnv)
	if module == "" {
		for _, p := range modulePaths {
			if _, err := os.Stat(p); err == nil {
				module = p
				break
			}
		}
	}
	if _, err := os.Stat(module); module == "" || err != nil {
		msg := "SoftHSMv2 is not installed (apt-get install softhsm2, or set " + ModuleEnv + ")"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true, so this fails instead of skipping")
		}
		t.Skip(msg)
	}
	if pkcs11.InUse(module) {
		t.Fatal("SoftHSM is still initialized by a backend an earlier test left open: it would ignore this test's SOFTHSM2_CONF")
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, ok := t.(interface{ Setenv(string, string) }); ok {
		s.Setenv("SOFTHSM2_CONF", conf)
	} else {
		t.Fatal("softhsmtest needs a *testing.T or *testing.B")
	}
	return &SoftHSM{Module: module}
}

// Token initializes a new token and returns the configuration of a
// backend on it (WithDomain unset). Labels are unique within s.
func (s *SoftHSM) Token(t testing.TB, name string) pkcs11.Config {
	t.Helper()
	label := fmt.Sprintf("%s-%d", name, s.n.Add(1))
	if len(label) > 32 {
		label = label[len(label)-32:]
	}
	if err := pkcs11.InitToken(s.Module, label, []byte(SOPIN), []byte(UserPIN)); err != nil {
		t.Fatalf("initializing SoftHSM token %s: %v", label, err)
	}
	return pkcs11.Config{Module: s.Module, TokenLabel: label, PIN: []byte(UserPIN)}
}
