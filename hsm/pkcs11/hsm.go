//go:build pkcs11 && cgo

package pkcs11

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/miekg/pkcs11"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/soft"
)

// Compiled reports whether this binary has the PKCS#11 backend.
const Compiled = true

// Labels of the backend's token objects (see the package documentation).
const (
	labelIdentity  = "trent/identity"
	labelDomain    = "trent/domain"
	labelEKT       = "trent/ekt"
	labelEscrowKey = "trent/escrow-key"
	labelEscrow    = "trent/escrow"
	labelEKTWrap   = "trent/ekt-wrap"
	labelEKTMAC    = "trent/ekt-mac"
)

// Formats shared with package soft (EKT v1, key derivations).
const (
	keySize       = 32
	ivSize        = 12
	tagSize       = 16
	ektVersion    = 0x01
	ektHeaderSize = 2 + 16
	ektSize       = ektHeaderSize + ivSize + keySize + tagSize
	ektLabel      = "trent/ekt/v1"
	ektWrapVer    = 0x02
	ektWrapped    = keySize + 8 // RFC 3394 adds 8 bytes
	ektWrapSize   = ektHeaderSize + ektWrapped + sha256.Size
	ektWrapLabel  = "trent/ekt-wrap/v2"
	ektMACLabel   = "trent/ekt-mac/v2"
	dkidLabel     = "trent/dkid/v1"
	macLabel      = "trent/mac/v1"
	symLabel      = "trent/sym/v1"
	identityLabel = "trent/identity/v1"
	escrowAAD     = "trent/domain-escrow/v1"
	maxRandom     = 1 << 20
	defaultCache  = 1024
)

// Errors, the sentinels of package hsm.
var (
	ErrClosed      = hsm.ErrClosed
	ErrNoDomainKey = hsm.ErrNoDomainKey
)

// HSM is the PKCS#11 backend. Open it with [OpenHSM] or [Open]. It is
// safe for concurrent use.
type HSM struct {
	module    string
	label     string
	pin       string // miekg/pkcs11 takes a string
	p         *pkcs11.Ctx
	sessions  int
	gcmUnwrap bool
	cache     *handleCache

	// mu is held for reading for the whole of an operation and for
	// writing to reconnect, install a domain key or close.
	mu          sync.RWMutex
	closed      bool
	st          *tokenState
	identityPub []byte

	// objMu serializes the use of st.main: creating and destroying
	// objects (SoftHSMv2 misbehaves when they are concurrent).
	objMu sync.Mutex

	reconnects int // guarded by mu (write); for tests
	// pinErr is set when a reconnect's login failed for the PIN: no
	// further login is tried, so as not to lock the token. Guarded by mu.
	pinErr error
}

// tokenState is what one login gives: the sessions and the object handles.
// A reconnect replaces it.
type tokenState struct {
	gen  uint64
	slot uint
	main pkcs11.SessionHandle // owns every session object
	pool chan pkcs11.SessionHandle
	all  []pkcs11.SessionHandle // main and pool, to close

	identity, domain, ekt, escrowKey, escrow, ektWrap, ektMAC pkcs11.ObjectHandle
	dkid                                                      [16]byte
	// Working copies of trent/domain, trent/ekt, trent/ekt-wrap and
	// trent/ekt-mac as session objects, for the hot paths (see
	// workingCopies); the token objects themselves where the token
	// refuses to copy them.
	domainWork, ektWork, wrapWork, macWork pkcs11.ObjectHandle
}

// The PKCS#11 HSM is a Backend.
var _ hsm.Backend = (*HSM)(nil)

// Open opens the backend cfg describes, as an [hsm.Backend].
func Open(cfg Config) (hsm.Backend, error) {
	h, err := OpenHSM(cfg)
	if err != nil {
		return nil, err
	}
	return h, nil
}

// OpenHSM loads cfg.Module, finds the token labelled cfg.TokenLabel, logs
// in with cfg.PIN and opens the session pool. On first use of a token it
// generates the identity object, and with cfg.WithDomain a domain key.
func OpenHSM(cfg Config) (*HSM, error) {
	switch {
	case cfg.Module == "":
		return nil, errors.New("pkcs11: no module (--pkcs11-module)")
	case cfg.TokenLabel == "":
		return nil, errors.New("pkcs11: no token label (--pkcs11-token-label)")
	case len(cfg.PIN) == 0:
		return nil, errors.New("pkcs11: no PIN")
	}
	p, err := acquireModule(cfg.Module)
	if err != nil {
		return nil, err
	}
	cacheSize := cfg.CacheSize
	if cacheSize == 0 {
		cacheSize = defaultCache
	}
	h := &HSM{
		module: cfg.Module,
		label:  cfg.TokenLabel,
		pin:    string(cfg.PIN),
		p:      p,
		cache:  newHandleCache(cacheSize),
	}
	if err := claimToken(cfg.Module, cfg.TokenLabel); err != nil {
		releaseModule(cfg.Module)
		return nil, err
	}
	slot, ti, err := findSlot(p, cfg.TokenLabel)
	if err != nil {
		unclaimToken(cfg.Module, cfg.TokenLabel)
		releaseModule(cfg.Module)
		return nil, err
	}
	h.sessions = poolSize(cfg.Sessions, ti)
	if !cfg.NoGCMUnwrap {
		mi, err := p.GetMechanismInfo(slot, mech(pkcs11.CKM_AES_GCM, nil))
		h.gcmUnwrap = err == nil && mi.Flags&pkcs11.CKF_UNWRAP != 0
	}
	st, err := h.connect(1)
	if err != nil {
		unclaimToken(cfg.Module, cfg.TokenLabel)
		releaseModule(cfg.Module)
		return nil, err
	}
	h.st = st
	if err := h.setup(st, cfg.WithDomain); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// poolSize sizes the operation session pool: want, or by default
// min(max(2, GOMAXPROCS), 8); never more than the token's read-write
// session limit minus the persistent session.
func poolSize(want int, ti pkcs11.TokenInfo) int {
	n := want
	if n <= 0 {
		n = min(max(2, runtime.GOMAXPROCS(0)), 8)
	}
	if m := ti.MaxRwSessionCount; m != pkcs11.CK_EFFECTIVELY_INFINITE && m != pkcs11.CK_UNAVAILABLE_INFORMATION && int(m)-1 < n {
		n = max(1, int(m)-1)
	}
	return n
}

// connect finds the token, opens the persistent session and the pool,
// logs in and finds the backend's token objects.
func (h *HSM) connect(gen uint64) (_ *tokenState, err error) {
	slot, _, err := findSlot(h.p, h.label)
	if err != nil {
		return nil, err
	}
	st := &tokenState{gen: gen, slot: slot, pool: make(chan pkcs11.SessionHandle, h.sessions)}
	defer func() {
		if err != nil {
			st.close(h.p)
		}
	}()
	for i := range h.sessions + 1 {
		s, err := h.p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			return nil, fmt.Errorf("pkcs11: C_OpenSession: %w", err)
		}
		st.all = append(st.all, s)
		if i == 0 {
			st.main = s
		} else {
			st.pool <- s
		}
	}
	// Login is per application and token: another backend of this process
	// on the token may have logged in already.
	if err := h.p.Login(st.main, pkcs11.CKU_USER, h.pin); err != nil && !isRV(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		if isRV(err, pkcs11.CKR_PIN_INCORRECT) || isRV(err, pkcs11.CKR_PIN_LEN_RANGE) {
			return nil, fmt.Errorf("pkcs11: login to token %q: %w: %w", h.label, ErrWrongPIN, err)
		}
		return nil, fmt.Errorf("pkcs11: login to token %q: %w", h.label, err)
	}
	for _, o := range []struct {
		h     *pkcs11.ObjectHandle
		class uint
		label string
	}{
		{&st.identity, pkcs11.CKO_SECRET_KEY, labelIdentity},
		{&st.domain, pkcs11.CKO_SECRET_KEY, labelDomain},
		{&st.ekt, pkcs11.CKO_SECRET_KEY, labelEKT},
		{&st.escrowKey, pkcs11.CKO_SECRET_KEY, labelEscrowKey},
		{&st.escrow, pkcs11.CKO_DATA, labelEscrow},
		{&st.ektWrap, pkcs11.CKO_SECRET_KEY, labelEKTWrap},
		{&st.ektMAC, pkcs11.CKO_SECRET_KEY, labelEKTMAC},
	} {
		if *o.h, err = h.find(st.main, o.class, o.label); err != nil {
			return nil, err
		}
	}
	if st.domain != 0 {
		if st.ekt == 0 || st.escrowKey == 0 || st.escrow == 0 || st.ektWrap == 0 || st.ektMAC == 0 {
			return nil, fmt.Errorf("pkcs11: token %q has %s but not all of %s, %s, %s, %s, %s",
				h.label, labelDomain, labelEKT, labelEscrowKey, labelEscrow, labelEKTWrap, labelEKTMAC)
		}
		id, err := h.sign(st.main, st.domain, []byte(dkidLabel+"\x01"))
		if err != nil {
			return nil, fmt.Errorf("pkcs11: domain key id: %w", err)
		}
		st.dkid = [16]byte(id[:16])
		h.workingCopies(st)
	}
	return st, nil
}

// workingCopies makes session copies of trent/domain and trent/ekt
// (C_CopyObject: still sensitive and never extractable, gone with the
// session), which MAC, GenerateKey and EKT unwrapping use: SoftHSMv2's
// file store re-reads a token object from disk and decrypts it on every
// use, which made an EKT unwrap about five times slower. A token that
// refuses the copy is used through its token objects.
func (h *HSM) workingCopies(st *tokenState) {
	for _, c := range []struct {
		from pkcs11.ObjectHandle
		to   *pkcs11.ObjectHandle
	}{{st.domain, &st.domainWork}, {st.ekt, &st.ektWork}, {st.ektWrap, &st.wrapWork}, {st.ektMAC, &st.macWork}} {
		// SoftHSMv2 refuses to make the copy non-private
		// (CKR_TEMPLATE_INCONSISTENT); other tokens may allow it.
		o, err := h.p.CopyObject(st.main, c.from, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		})
		if err != nil {
			o, err = h.p.CopyObject(st.main, c.from, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)})
		}
		if err != nil {
			o = c.from
		}
		*c.to = o
	}
}

func (st *tokenState) close(p *pkcs11.Ctx) {
	for _, s := range st.all {
		p.CloseSession(s)
	}
}

// find returns the handle of the one token object of class labelled
// label, or 0 if there is none.
func (h *HSM) find(s pkcs11.SessionHandle, class uint, label string) (pkcs11.ObjectHandle, error) {
	if err := h.p.FindObjectsInit(s, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}); err != nil {
		return 0, fmt.Errorf("pkcs11: finding %s: %w", label, err)
	}
	found, _, err := h.p.FindObjects(s, 2)
	h.p.FindObjectsFinal(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("pkcs11: finding %s: %w", label, err)
	case len(found) > 1:
		return 0, fmt.Errorf("pkcs11: token %q has more than one %s", h.label, label)
	case len(found) == 1:
		return found[0], nil
	}
	return 0, nil
}

// setup makes sure the token has an identity object, removes what an
// interrupted domain install left, creates a domain key if asked, and
// derives the identity public key.
func (h *HSM) setup(st *tokenState, withDomain bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.p
	if st.identity == 0 {
		id, err := p.GenerateKey(st.main, mech(pkcs11.CKM_GENERIC_SECRET_KEY_GEN, nil), secretTemplate(labelIdentity, pkcs11.CKK_GENERIC_SECRET, true, nil,
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, keySize), pkcs11.NewAttribute(pkcs11.CKA_SIGN, true)))
		if err != nil {
			return fmt.Errorf("pkcs11: generating the identity key: %w", err)
		}
		st.identity = id
	}
	if st.domain == 0 {
		for _, o := range []*pkcs11.ObjectHandle{&st.ekt, &st.escrowKey, &st.escrow, &st.ektWrap, &st.ektMAC} {
			if *o != 0 {
				p.DestroyObject(st.main, *o)
				*o = 0
			}
		}
		if withDomain {
			dk, err := p.GenerateRandom(st.main, keySize)
			if err != nil {
				return fmt.Errorf("pkcs11: C_GenerateRandom: %w", err)
			}
			defer clear(dk)
			if err := h.install(st, dk); err != nil {
				return err
			}
		}
	}
	priv, err := h.identityKey(st)
	if err != nil {
		return err
	}
	h.identityPub = priv.PublicKey().Bytes()
	return nil
}

// identityKey derives the node's HPKE identity key from trent/identity.
// The private scalar is in host memory until the key is dropped.
func (h *HSM) identityKey(st *tokenState) (hpke.PrivateKey, error) {
	seed, err := h.sign(st.main, st.identity, []byte(identityLabel+"\x01"))
	if err != nil {
		return nil, fmt.Errorf("pkcs11: identity key: %w", err)
	}
	defer clear(seed)
	return soft.IdentityFromSeed(seed)
}

// install stores dk as the token's domain key objects. h.mu is held for
// writing (or st not yet shared).
func (h *HSM) install(st *tokenState, dk []byte) (err error) {
	p, s := h.p, st.main
	ektKey, err := hkdf.Expand(sha256.New, dk, ektLabel, keySize)
	if err != nil {
		return err
	}
	defer clear(ektKey)
	dkid, err := hkdf.Expand(sha256.New, dk, dkidLabel, 16)
	if err != nil {
		return err
	}
	wrapKey, err := hkdf.Expand(sha256.New, dk, ektWrapLabel, keySize)
	if err != nil {
		return err
	}
	defer clear(wrapKey)
	macKey, err := hkdf.Expand(sha256.New, dk, ektMACLabel, keySize)
	if err != nil {
		return err
	}
	defer clear(macKey)
	var created []pkcs11.ObjectHandle
	defer func() {
		if err != nil {
			for _, o := range created {
				p.DestroyObject(s, o)
			}
		}
	}()
	create := func(what string, t []*pkcs11.Attribute) (pkcs11.ObjectHandle, error) {
		o, err := p.CreateObject(s, t)
		if err != nil {
			return 0, fmt.Errorf("pkcs11: creating %s: %w", what, err)
		}
		created = append(created, o)
		return o, nil
	}
	ektUse := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true), pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true)}
	if h.gcmUnwrap {
		ektUse = append(ektUse, pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true))
	}
	ekt, err := create(labelEKT, secretTemplate(labelEKT, pkcs11.CKK_AES, true, ektKey, ektUse...))
	if err != nil {
		return err
	}
	ektWrap, err := create(labelEKTWrap, secretTemplate(labelEKTWrap, pkcs11.CKK_AES, true, wrapKey,
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, true), pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true)))
	if err != nil {
		return err
	}
	ektMAC, err := create(labelEKTMAC, secretTemplate(labelEKTMAC, pkcs11.CKK_GENERIC_SECRET, true, macKey, pkcs11.NewAttribute(pkcs11.CKA_SIGN, true)))
	if err != nil {
		return err
	}
	escrowKey, err := p.GenerateKey(s, mech(pkcs11.CKM_AES_KEY_GEN, nil), secretTemplate(labelEscrowKey, pkcs11.CKK_AES, true, nil,
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, keySize), pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true), pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true)))
	if err != nil {
		return fmt.Errorf("pkcs11: generating %s: %w", labelEscrowKey, err)
	}
	created = append(created, escrowKey)
	sealed, err := h.encryptGCM(s, escrowKey, []byte(escrowAAD), dk)
	if err != nil {
		return err
	}
	escrow, err := create(labelEscrow, append(objectTemplate(pkcs11.CKO_DATA, labelEscrow, true, sealed),
		pkcs11.NewAttribute(pkcs11.CKA_MODIFIABLE, false)))
	if err != nil {
		return err
	}
	// Last: trent/domain marks the install complete.
	domain, err := create(labelDomain, secretTemplate(labelDomain, pkcs11.CKK_GENERIC_SECRET, true, dk, pkcs11.NewAttribute(pkcs11.CKA_SIGN, true)))
	if err != nil {
		return err
	}
	st.ekt, st.escrowKey, st.escrow, st.domain, st.dkid = ekt, escrowKey, escrow, domain, [16]byte(dkid)
	st.ektWrap, st.ektMAC = ektWrap, ektMAC
	h.workingCopies(st)
	return nil
}

// objectTemplate is the template of an object; token selects a token
// object over a session object, value is its CKA_VALUE (nil for none, to
// generate or unwrap it). Token objects are private (visible only after
// login). Session objects, which only this process can see anyway, are
// not: SoftHSMv2 decrypts a private object's value on every use, which
// made each message-key derivation 2.5 times slower.
func objectTemplate(class uint, label string, token bool, value []byte) []*pkcs11.Attribute {
	t := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, token),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, token),
	}
	if label != "" {
		t = append(t, pkcs11.NewAttribute(pkcs11.CKA_LABEL, label))
	}
	if value != nil {
		t = append(t, pkcs11.NewAttribute(pkcs11.CKA_VALUE, value))
	}
	return t
}

// secretTemplate is the template of a sensitive, never extractable,
// private secret key allowed the uses use.
func secretTemplate(label string, keyType uint, token bool, value []byte, use ...*pkcs11.Attribute) []*pkcs11.Attribute {
	t := append(objectTemplate(pkcs11.CKO_SECRET_KEY, label, token, value),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, keyType),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
	)
	return append(t, use...)
}

// materialTemplate is the template of an unwrapped key version: a session
// generic secret usable only for HMAC.
func materialTemplate(value []byte) []*pkcs11.Attribute {
	return secretTemplate("", pkcs11.CKK_GENERIC_SECRET, false, value, pkcs11.NewAttribute(pkcs11.CKA_SIGN, true))
}

func mech(m uint, param any) []*pkcs11.Mechanism {
	return []*pkcs11.Mechanism{pkcs11.NewMechanism(m, param)}
}

// sign returns HMAC-SHA256 of msg under the key object k.
func (h *HSM) sign(s pkcs11.SessionHandle, k pkcs11.ObjectHandle, msg []byte) ([]byte, error) {
	if err := h.p.SignInit(s, mech(pkcs11.CKM_SHA256_HMAC, nil), k); err != nil {
		return nil, err
	}
	return h.p.Sign(s, msg)
}

// encryptGCM returns iv || AES-GCM(k, iv, aad, pt) || tag, computed in the
// token with an IV from the token's generator.
func (h *HSM) encryptGCM(s pkcs11.SessionHandle, k pkcs11.ObjectHandle, aad, pt []byte) ([]byte, error) {
	iv, err := h.p.GenerateRandom(s, ivSize)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: C_GenerateRandom: %w", err)
	}
	gp := pkcs11.NewGCMParams(iv, aad, tagSize*8)
	defer gp.Free()
	if err := h.p.EncryptInit(s, mech(pkcs11.CKM_AES_GCM, gp), k); err != nil {
		return nil, fmt.Errorf("pkcs11: C_EncryptInit: %w", err)
	}
	ct, err := h.p.Encrypt(s, pt)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: C_Encrypt: %w", err)
	}
	return append(iv, ct...), nil
}

// decryptGCM opens iv || ciphertext || tag with k in the token. A failure
// to authenticate is hsm.ErrAuthentication; SoftHSMv2 reports a wrong tag
// as CKR_GENERAL_ERROR.
func (h *HSM) decryptGCM(s pkcs11.SessionHandle, k pkcs11.ObjectHandle, aad, body []byte) ([]byte, error) {
	if len(body) < ivSize+tagSize {
		return nil, hsm.ErrAuthentication
	}
	gp := pkcs11.NewGCMParams(body[:ivSize], aad, tagSize*8)
	defer gp.Free()
	if err := h.p.DecryptInit(s, mech(pkcs11.CKM_AES_GCM, gp), k); err != nil {
		return nil, fmt.Errorf("pkcs11: C_DecryptInit: %w", err)
	}
	pt, err := h.p.Decrypt(s, body[ivSize:])
	if err != nil {
		return nil, authError(err)
	}
	return pt, nil
}

// authError maps what a token answers to a ciphertext that does not
// authenticate to hsm.ErrAuthentication, and leaves other errors (session
// trouble among them) as they are.
func authError(err error) error {
	switch rvOf(err) {
	case pkcs11.CKR_GENERAL_ERROR, // SoftHSMv2's answer to a wrong GCM tag
		pkcs11.CKR_ENCRYPTED_DATA_INVALID, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE,
		pkcs11.CKR_WRAPPED_KEY_INVALID, pkcs11.CKR_WRAPPED_KEY_LEN_RANGE,
		pkcs11.CKR_SIGNATURE_INVALID:
		return hsm.ErrAuthentication
	}
	return err
}

// needsReconnect reports whether err means the sessions, the login or the
// objects are gone (the token was reset, removed, or logged out), so that
// reconnecting and retrying may help. A wrong or locked PIN is not among
// them: retrying would lock the token.
func needsReconnect(err error) bool {
	switch rvOf(err) {
	case pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED,
		pkcs11.CKR_USER_NOT_LOGGED_IN, pkcs11.CKR_OBJECT_HANDLE_INVALID,
		pkcs11.CKR_KEY_HANDLE_INVALID, pkcs11.CKR_TOKEN_NOT_PRESENT,
		pkcs11.CKR_TOKEN_NOT_RECOGNIZED, pkcs11.CKR_DEVICE_REMOVED,
		pkcs11.CKR_DEVICE_ERROR, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED:
		return true
	}
	return false
}

// op runs fn with a session from the pool while holding h.mu for reading.
// When fn fails because the sessions or login are gone, op reconnects and
// runs fn once more.
func (h *HSM) op(ctx context.Context, fn func(st *tokenState, s pkcs11.SessionHandle) error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		h.mu.RLock()
		if h.closed || h.pinErr != nil {
			err := h.pinErr
			h.mu.RUnlock()
			if err == nil {
				err = ErrClosed
			}
			return err
		}
		st := h.st
		var s pkcs11.SessionHandle
		select {
		case s = <-st.pool:
		case <-ctx.Done():
			h.mu.RUnlock()
			return ctx.Err()
		}
		err := fn(st, s)
		st.pool <- s
		h.mu.RUnlock()
		if attempt > 0 || !needsReconnect(err) {
			return err
		}
		if err := h.reconnect(st.gen); err != nil {
			return err
		}
	}
}

// exclusive runs fn with the persistent session while holding h.mu for
// writing, reconnecting and retrying once like op.
func (h *HSM) exclusive(ctx context.Context, fn func(st *tokenState) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for attempt := 0; ; attempt++ {
		switch {
		case h.closed:
			return ErrClosed
		case h.pinErr != nil:
			return h.pinErr
		}
		err := fn(h.st)
		if attempt > 0 || !needsReconnect(err) {
			return err
		}
		if err := h.reconnectLocked(); err != nil {
			return err
		}
	}
}

// reconnect replaces the token state of generation gen, unless another
// caller already has.
func (h *HSM) reconnect(gen uint64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return ErrClosed
	case h.pinErr != nil:
		return h.pinErr
	case h.st.gen != gen:
		return nil
	}
	return h.reconnectLocked()
}

// reconnectLocked closes the sessions (which destroys the session objects
// the cache points at), empties the cache and connects anew. h.mu is held
// for writing.
func (h *HSM) reconnectLocked() error {
	h.st.close(h.p)
	h.cache.purge()
	h.reconnects++
	// After a library reset (C_Finalize by someone else) the module
	// needs initializing again; otherwise this is a no-op.
	if err := h.p.Initialize(); err != nil && !isRV(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return fmt.Errorf("pkcs11: reinitializing %s: %w", h.module, err)
	}
	st, err := h.connect(h.st.gen + 1)
	switch rvOf(err) {
	case pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_LOCKED, pkcs11.CKR_PIN_EXPIRED, pkcs11.CKR_PIN_INVALID:
		h.pinErr = err
	}
	if err != nil {
		return err
	}
	h.st = st
	return nil
}

// Capabilities reports the backend's: SymmetricDefault keys. It does not
// claim NonExtractable: on tokens without X25519 and AES-GCM key wrap,
// material and the domain key pass through host memory at the moments
// the package documentation lists.
func (h *HSM) Capabilities() hsm.Capabilities {
	return hsm.Capabilities{Name: Kind, Specs: []hsm.KeySpec{hsm.SymmetricDefault}}
}

// IdentityPublicKey returns the node's X25519 identity public key (HPKE
// DHKEM(X25519, HKDF-SHA256)), or nil after Close.
func (h *HSM) IdentityPublicKey() []byte {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return nil
	}
	return bytes.Clone(h.identityPub)
}

// DomainKeyID returns the domain key's public id, all zeros without one.
func (h *HSM) DomainKeyID() [16]byte {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return [16]byte{}
	}
	return h.st.dkid
}

// Close closes the sessions (logging out and destroying every session
// object) and releases the module. It is idempotent.
func (h *HSM) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	h.cache.purge()
	h.st.close(h.p)
	unclaimToken(h.module, h.label)
	releaseModule(h.module)
	h.identityPub, h.pin = nil, ""
	return nil
}

// Random returns n bytes from the token's generator, 0 <= n <= 1 MiB.
func (h *HSM) Random(ctx context.Context, n int) ([]byte, error) {
	if n < 0 || n > maxRandom {
		return nil, fmt.Errorf("pkcs11: random length %d out of range [0, %d]", n, maxRandom)
	}
	var out []byte
	err := h.op(ctx, func(_ *tokenState, s pkcs11.SessionHandle) error {
		if n == 0 {
			out = []byte{}
			return nil
		}
		b, err := h.p.GenerateRandom(s, n)
		out = b
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GenerateKey generates 32 bytes of material in the token as an
// extractable session key, wraps it there (CKM_AES_KEY_WRAP, RFC 3394)
// under trent/ekt-wrap, tags it with trent/ekt-mac as an EKT v2 (see
// package soft) and destroys it: the material never leaves the token in
// plaintext. The first Seal or Open unwraps it, non-extractable.
func (h *HSM) GenerateKey(ctx context.Context, spec hsm.KeySpec, keyID, versionID [16]byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if spec != hsm.SymmetricDefault {
		return nil, fmt.Errorf("pkcs11: key spec %d: %w", spec, hsm.ErrUnsupported)
	}
	var ekt []byte
	err := h.op(ctx, func(st *tokenState, s pkcs11.SessionHandle) error {
		if st.domain == 0 {
			return ErrNoDomainKey
		}
		h.objMu.Lock()
		defer h.objMu.Unlock()
		t := append(objectTemplate(pkcs11.CKO_SECRET_KEY, "", false, nil),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_GENERIC_SECRET),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, keySize),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true), // to be wrapped, once
			pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		)
		o, err := h.p.GenerateKey(st.main, mech(pkcs11.CKM_GENERIC_SECRET_KEY_GEN, nil), t)
		if err != nil {
			return err
		}
		defer h.p.DestroyObject(st.main, o)
		wrapped, err := h.p.WrapKey(st.main, mech(pkcs11.CKM_AES_KEY_WRAP, nil), st.wrapWork, o)
		if err != nil {
			return err
		}
		if len(wrapped) != ektWrapped {
			return fmt.Errorf("pkcs11: C_WrapKey gave %d bytes, want %d", len(wrapped), ektWrapped)
		}
		e := append([]byte{ektWrapVer, byte(spec)}, st.dkid[:]...)
		e = append(e, wrapped...)
		tag, err := h.sign(st.main, st.macWork, ektAAD(e, keyID, versionID))
		if err != nil {
			return err
		}
		ekt = append(e, tag...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ekt, nil
}

// ektAAD is the additional data of an EKT: header || keyID || versionID.
func ektAAD(header []byte, keyID, versionID [16]byte) []byte {
	aad := make([]byte, 0, ektHeaderSize+32)
	aad = append(aad, header...)
	aad = append(aad, keyID[:]...)
	return append(aad, versionID[:]...)
}

// destroyLocked destroys the objects of ms made in st's generation (older
// ones died with their sessions). h.objMu is held.
func (h *HSM) destroyLocked(st *tokenState, ms ...*material) {
	for _, m := range ms {
		if m.gen == st.gen {
			h.p.DestroyObject(st.main, m.handle)
		}
	}
}

// material returns ref's unwrapped material, referenced: from the cache,
// or by unwrapping ref.EKT into a session object. The caller passes it to
// done. EKT failures are hsm.ErrAuthentication.
func (h *HSM) material(st *tokenState, ref *hsm.KeyRef) (*material, error) {
	if st.domain == 0 {
		return nil, ErrNoDomainKey
	}
	if m := h.cache.get(ref, st.gen); m != nil {
		return m, nil
	}
	e := ref.EKT
	if ref.Spec != hsm.SymmetricDefault || len(e) < ektHeaderSize ||
		e[1] != byte(ref.Spec) || !bytes.Equal(e[2:ektHeaderSize], st.dkid[:]) {
		return nil, hsm.ErrAuthentication
	}
	gen := h.cache.generation()
	h.objMu.Lock()
	defer h.objMu.Unlock()
	var o pkcs11.ObjectHandle
	switch {
	case e[0] == ektWrapVer && len(e) == ektWrapSize:
		// Check the tag, then unwrap in the token.
		body := e[:ektHeaderSize+ektWrapped]
		tag, err := h.sign(st.main, st.macWork, ektAAD(body, ref.KeyID, ref.VersionID))
		if err != nil {
			return nil, err
		}
		if !hmac.Equal(tag, e[len(body):]) {
			return nil, hsm.ErrAuthentication
		}
		o, err = h.p.UnwrapKey(st.main, mech(pkcs11.CKM_AES_KEY_WRAP, nil), st.wrapWork, e[ektHeaderSize:len(body)], materialTemplate(nil))
		if err != nil {
			return nil, authError(err)
		}
	case e[0] != ektVersion || len(e) != ektSize:
		return nil, hsm.ErrAuthentication
	case h.gcmUnwrap:
		aad := ektAAD(e[:ektHeaderSize], ref.KeyID, ref.VersionID)
		gp := pkcs11.NewGCMParams(e[ektHeaderSize:ektHeaderSize+ivSize], aad, tagSize*8)
		var err error
		o, err = h.p.UnwrapKey(st.main, mech(pkcs11.CKM_AES_GCM, gp), st.ektWork, e[ektHeaderSize+ivSize:], materialTemplate(nil))
		gp.Free()
		if err != nil {
			return nil, authError(err)
		}
	default:
		aad := ektAAD(e[:ektHeaderSize], ref.KeyID, ref.VersionID)
		m, err := h.decryptGCM(st.main, st.ektWork, aad, e[ektHeaderSize:])
		if err != nil {
			return nil, err
		}
		if len(m) != keySize {
			clear(m)
			return nil, hsm.ErrAuthentication
		}
		o, err = h.p.CreateObject(st.main, materialTemplate(m))
		clear(m)
		if err != nil {
			return nil, err
		}
	}
	mat := &material{key: cacheKey{ref.KeyID, ref.VersionID}, spec: ref.Spec, ekt: bytes.Clone(e), handle: o, gen: st.gen}
	h.destroyLocked(st, h.cache.put(mat, gen)...)
	return mat, nil
}

// done releases material got from h.material.
func (h *HSM) done(st *tokenState, m *material) {
	if h.cache.release(m) {
		h.objMu.Lock()
		h.destroyLocked(st, m)
		h.objMu.Unlock()
	}
}

// messageKey derives K = HKDF-Expand-SHA256(material, "trent/sym/v1" ||
// 0x00 || keyID || versionID || nonce, 32) in the token: with a 32-byte
// output that is one HMAC of info || 0x01. The caller clears K.
func (h *HSM) messageKey(ctx context.Context, ref *hsm.KeyRef, nonce [16]byte) ([]byte, error) {
	var info [len(symLabel) + 1 + 3*16 + 1]byte
	n := copy(info[:], symLabel)
	n++
	n += copy(info[n:], ref.KeyID[:])
	n += copy(info[n:], ref.VersionID[:])
	n += copy(info[n:], nonce[:])
	info[n] = 0x01
	var k []byte
	err := h.op(ctx, func(st *tokenState, s pkcs11.SessionHandle) error {
		m, err := h.material(st, ref)
		if err != nil {
			return err
		}
		defer h.done(st, m)
		k, err = h.sign(s, m.handle, info[:])
		return err
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// Seal encrypts plaintext under ref with the per-message key for nonce and
// returns IV || ciphertext || tag (see package hsm).
func (h *HSM) Seal(ctx context.Context, ref hsm.KeyRef, nonce [16]byte, aad, plaintext []byte) ([]byte, error) {
	k, err := h.messageKey(ctx, &ref, nonce)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return soft.SealWithKey(k, aad, plaintext)
}

// Open reverses Seal. Every failure to authenticate is exactly
// [hsm.ErrAuthentication].
func (h *HSM) Open(ctx context.Context, ref hsm.KeyRef, nonce [16]byte, aad, body []byte) ([]byte, error) {
	k, err := h.messageKey(ctx, &ref, nonce)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return soft.OpenWithKey(k, aad, body)
}

// Forget destroys the cached session objects of every version of keyID.
func (h *HSM) Forget(ctx context.Context, keyID [16]byte) error {
	return h.op(ctx, func(st *tokenState, _ pkcs11.SessionHandle) error {
		ms := h.cache.forget(keyID)
		h.objMu.Lock()
		defer h.objMu.Unlock()
		h.destroyLocked(st, ms...)
		return nil
	})
}

// MAC returns HMAC-SHA256(K_label, msg) with K_label =
// HKDF-Expand-SHA256(DK, "trent/mac/v1" || 0x00 || label, 32), the same
// tag as every backend holding the domain key. K_label is derived in the
// token; the HMAC of msg runs in Go.
func (h *HSM) MAC(ctx context.Context, label string, msg []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if label == "" {
		return nil, errors.New("pkcs11: empty MAC label")
	}
	var k []byte
	err := h.op(ctx, func(st *tokenState, s pkcs11.SessionHandle) error {
		if st.domain == 0 {
			return ErrNoDomainKey
		}
		var err error
		k, err = h.sign(s, st.domainWork, []byte(macLabel+"\x00"+label+"\x01"))
		return err
	})
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return soft.MACWithKey(k, msg), nil
}

// ExportDomain seals the domain key to recipientPub in the soft domain
// token format v1 (HPKE, DHKEM(X25519)). The token decrypts its escrow
// copy of DK; the HPKE seal runs in Go and DK is wiped at once.
func (h *HSM) ExportDomain(ctx context.Context, recipientPub []byte, info []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := hpke.DHKEM(ecdh.X25519()).NewPublicKey(recipientPub); err != nil {
		return nil, errors.New("pkcs11: invalid recipient public key")
	}
	var token []byte
	err := h.op(ctx, func(st *tokenState, s pkcs11.SessionHandle) error {
		if st.domain == 0 {
			return ErrNoDomainKey
		}
		attrs, err := h.p.GetAttributeValue(s, st.escrow, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
		if err != nil {
			return fmt.Errorf("pkcs11: reading %s: %w", labelEscrow, err)
		}
		dk, err := h.decryptGCM(s, st.escrowKey, []byte(escrowAAD), attrs[0].Value)
		if err != nil {
			return fmt.Errorf("pkcs11: opening %s: %w", labelEscrow, err)
		}
		defer clear(dk)
		token, err = soft.SealDomainToken(recipientPub, dk, info)
		return err
	})
	if err != nil {
		return nil, err
	}
	return token, nil
}

// ImportDomain opens a domain token made for this backend's identity key
// and installs the domain key as token objects. The HPKE open runs in Go:
// the identity private key is derived from trent/identity for it, and the
// domain key is wiped once installed.
func (h *HSM) ImportDomain(ctx context.Context, token []byte, info []byte) error {
	return h.exclusive(ctx, func(st *tokenState) error {
		priv, err := h.identityKey(st)
		if err != nil {
			return err
		}
		dk, dkid, err := soft.OpenDomainToken(priv, token, info)
		if err != nil {
			return err
		}
		defer clear(dk)
		if st.domain != 0 {
			if dkid == st.dkid {
				return nil
			}
			return hsm.ErrDomainMismatch
		}
		return h.install(st, dk)
	})
}
