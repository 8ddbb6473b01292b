//go:build pkcs11 && cgo

package pkcs11

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"
)

// A PKCS#11 library is initialized once per process: a second
// C_Initialize fails (CKR_CRYPTOKI_ALREADY_INITIALIZED) and C_Finalize by
// one user ends every other user's sessions. modules shares one context per
// library path among every backend (and InitToken) of the process, and
// finalizes it when the last one lets go.
var modules = struct {
	sync.Mutex
	m map[string]*module
}{m: make(map[string]*module)}

type module struct {
	ctx    *pkcs11.Ctx
	refs   int
	tokens map[string]bool // labels of the tokens a backend has open
}

// InUse reports whether the library at path is loaded and initialized in
// this process: a backend (or InitToken) still has it. SoftHSMv2 reads its
// configuration only when initialized, so tests check this before they
// point SOFTHSM2_CONF elsewhere.
func InUse(path string) bool {
	modules.Lock()
	defer modules.Unlock()
	_, ok := modules.m[path]
	return ok
}

// claimToken records that a backend has token label of the module at
// path open, and fails if one already has: the login is shared by the
// whole process (a second login is CKR_USER_ALREADY_LOGGED_IN, PIN
// unchecked), and two backends would share and destroy each other's
// objects.
func claimToken(path, label string) error {
	modules.Lock()
	defer modules.Unlock()
	m := modules.m[path]
	if m.tokens[label] {
		return fmt.Errorf("pkcs11: token %q is already open in this process", label)
	}
	m.tokens[label] = true
	return nil
}

func unclaimToken(path, label string) {
	modules.Lock()
	defer modules.Unlock()
	if m, ok := modules.m[path]; ok {
		delete(m.tokens, label)
	}
}

func acquireModule(path string) (*pkcs11.Ctx, error) {
	modules.Lock()
	defer modules.Unlock()
	if m, ok := modules.m[path]; ok {
		m.refs++
		return m.ctx, nil
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("pkcs11: cannot load module %s", path)
	}
	if err := ctx.Initialize(); err != nil && !isRV(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		ctx.Destroy()
		return nil, fmt.Errorf("pkcs11: initializing %s: %w", path, err)
	}
	modules.m[path] = &module{ctx: ctx, refs: 1, tokens: make(map[string]bool)}
	return ctx, nil
}

func releaseModule(path string) {
	modules.Lock()
	defer modules.Unlock()
	m, ok := modules.m[path]
	if !ok {
		return
	}
	if m.refs--; m.refs > 0 {
		return
	}
	delete(modules.m, path)
	m.ctx.Finalize()
	m.ctx.Destroy()
}

// isRV reports whether err is the PKCS#11 return value rv.
func isRV(err error, rv uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == rv
}

// rvOf returns err's PKCS#11 return value, or CKR_OK if it has none.
func rvOf(err error) uint {
	var e pkcs11.Error
	if errors.As(err, &e) {
		return uint(e)
	}
	return pkcs11.CKR_OK
}

// findSlot returns the slot of the one present token labelled label.
func findSlot(p *pkcs11.Ctx, label string) (uint, pkcs11.TokenInfo, error) {
	slots, err := p.GetSlotList(true)
	if err != nil {
		return 0, pkcs11.TokenInfo{}, fmt.Errorf("pkcs11: listing slots: %w", err)
	}
	var found []uint
	var info pkcs11.TokenInfo
	for _, s := range slots {
		ti, err := p.GetTokenInfo(s)
		if err != nil {
			continue
		}
		if strings.TrimRight(ti.Label, " \x00") == label {
			found = append(found, s)
			info = ti
		}
	}
	switch len(found) {
	case 0:
		return 0, info, fmt.Errorf("pkcs11: no token labelled %q", label)
	case 1:
		return found[0], info, nil
	default:
		return 0, info, fmt.Errorf("pkcs11: %d tokens labelled %q; labels must be unique", len(found), label)
	}
}

// InitToken initializes the first token slot without a token (SoftHSMv2
// always has one) with label, SO PIN soPIN and user PIN userPIN, through
// the library: C_InitToken, then C_InitPIN as the security officer. It is
// for provisioning test tokens (SoftHSMv2); a real HSM is provisioned with
// its vendor's tools.
func InitToken(module, label string, soPIN, userPIN []byte) error {
	p, err := acquireModule(module)
	if err != nil {
		return err
	}
	defer releaseModule(module)
	slots, err := p.GetSlotList(false)
	if err != nil {
		return fmt.Errorf("pkcs11: listing slots: %w", err)
	}
	slot, ok := uint(0), false
	for _, s := range slots {
		ti, err := p.GetTokenInfo(s)
		if err == nil && ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			slot, ok = s, true
			break
		}
	}
	if !ok {
		return errors.New("pkcs11: no uninitialized token slot")
	}
	if err := p.InitToken(slot, string(soPIN), label); err != nil {
		return fmt.Errorf("pkcs11: C_InitToken: %w", err)
	}
	// The token may move to another slot id once initialized.
	slot, _, err = findSlot(p, label)
	if err != nil {
		return err
	}
	s, err := p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("pkcs11: C_OpenSession: %w", err)
	}
	defer p.CloseSession(s)
	if err := p.Login(s, pkcs11.CKU_SO, string(soPIN)); err != nil {
		return fmt.Errorf("pkcs11: SO login: %w", err)
	}
	defer p.Logout(s)
	if err := p.InitPIN(s, string(userPIN)); err != nil {
		return fmt.Errorf("pkcs11: C_InitPIN: %w", err)
	}
	return nil
}
