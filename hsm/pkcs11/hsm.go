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
	"encoding/hex"
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

	identity pkcs11.ObjectHandle
	// The domain keys (see rotate.go): cur is current (nil without a
	// domain key), others are held beside it, root is the MAC root (cur
	// until a rotation replaced it). domains is the newest trent/domains
	// and domainsSeq its sequence number; 0 until a rotation began.
	cur        *keySet
	others     map[[16]byte]*keySet
	root       *keySet
	domains    pkcs11.ObjectHandle
	domainsSeq uint64
	// Found by connect, for setup or reconnectLocked to destroy: objects
	// of no held domain key (what an interrupted step left).
	garbage []pkcs11.ObjectHandle
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
	if st.identity, err = h.find(st.main, pkcs11.CKO_SECRET_KEY, labelIdentity); err != nil {
		return nil, err
	}
	if err := h.loadDomains(st); err != nil {
		return nil, err
	}
	return st, nil
}

// workingCopies makes session copies of a key set's trent/domain,
// trent/ekt, trent/ekt-wrap and trent/ekt-mac (C_CopyObject: still
// sensitive and never extractable, gone with the session), which MAC,
// GenerateKey and EKT unwrapping use: SoftHSMv2's file store re-reads a
// token object from disk and decrypts it on every use, which made an EKT
// unwrap about five times slower. A token that refuses the copy is used
// through its token objects.
func (h *HSM) workingCopies(st *tokenState, ks *keySet) {
	for _, c := range []struct {
		from pkcs11.ObjectHandle
		to   *pkcs11.ObjectHandle
	}{{ks.domain, &ks.domainWork}, {ks.ekt, &ks.ektWork}, {ks.ektWrap, &ks.wrapWork}, {ks.ektMAC, &ks.macWork}} {
		if c.from == 0 {
			continue // a MAC root kept apart has no EKT objects
		}
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
// interrupted domain install or rotation step left, creates a domain key
// if asked, and derives the identity public key.
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
	h.dropGarbage(st)
	if st.cur == nil && withDomain {
		dk, err := p.GenerateRandom(st.main, keySize)
		if err != nil {
			return fmt.Errorf("pkcs11: C_GenerateRandom: %w", err)
		}
		defer clear(dk)
		ks, err := h.install(st, dk, true)
		if err != nil {
			return err
		}
		st.cur, st.root = ks, ks
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

// install stores dk as a key set on the token, each object with CKA_ID
// = its domain key id, and makes its working copies; without withEKT
// only trent/domain and the escrow (a MAC root kept apart, which never
// opens an EKT). The caller records the set in st. h.mu is held for
// writing (or st not yet shared).
func (h *HSM) install(st *tokenState, dk []byte, withEKT bool) (_ *keySet, err error) {
	p, s := h.p, st.main
	id, err := hkdf.Expand(sha256.New, dk, dkidLabel, 16)
	if err != nil {
		return nil, err
	}
	ks := &keySet{dkid: [16]byte(id)}
	idAttr := pkcs11.NewAttribute(pkcs11.CKA_ID, id)
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
	derived := func(label string) ([]byte, error) { return hkdf.Expand(sha256.New, dk, label, keySize) }
	if withEKT {
		ektUse := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true), pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true)}
		if h.gcmUnwrap {
			ektUse = append(ektUse, pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true))
		}
		for _, o := range []struct {
			h       *pkcs11.ObjectHandle
			label   string
			derive  string
			keyType uint
			use     []*pkcs11.Attribute
		}{
			{&ks.ekt, labelEKT, ektLabel, pkcs11.CKK_AES, ektUse},
			{&ks.ektWrap, labelEKTWrap, ektWrapLabel, pkcs11.CKK_AES,
				[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_WRAP, true), pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true)}},
			{&ks.ektMAC, labelEKTMAC, ektMACLabel, pkcs11.CKK_GENERIC_SECRET, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_SIGN, true)}},
		} {
			k, err := derived(o.derive)
			if err != nil {
				return nil, err
			}
			*o.h, err = create(o.label, secretTemplate(o.label, o.keyType, true, k, append(o.use, idAttr)...))
			clear(k)
			if err != nil {
				return nil, err
			}
		}
	}
	ks.escrowKey, err = p.GenerateKey(s, mech(pkcs11.CKM_AES_KEY_GEN, nil), secretTemplate(labelEscrowKey, pkcs11.CKK_AES, true, nil,
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, keySize), pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true), pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		idAttr))
	if err != nil {
		return nil, fmt.Errorf("pkcs11: generating %s: %w", labelEscrowKey, err)
	}
	created = append(created, ks.escrowKey)
	sealed, err := h.encryptGCM(s, ks.escrowKey, []byte(escrowAAD), dk)
	if err != nil {
		return nil, err
	}
	// A data object has no CKA_ID: its CKA_APPLICATION is the id in hex.
	if ks.escrow, err = create(labelEscrow, append(objectTemplate(pkcs11.CKO_DATA, labelEscrow, true, sealed),
		pkcs11.NewAttribute(pkcs11.CKA_MODIFIABLE, false), pkcs11.NewAttribute(pkcs11.CKA_APPLICATION, hex.EncodeToString(id)))); err != nil {
		return nil, err
	}
	// Last: trent/domain marks the install complete.
	if ks.domain, err = create(labelDomain, secretTemplate(labelDomain, pkcs11.CKK_GENERIC_SECRET, true, dk, pkcs11.NewAttribute(pkcs11.CKA_SIGN, true), idAttr)); err != nil {
		return nil, err
	}
	h.workingCopies(st, ks)
	return ks, nil
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
	h.dropGarbage(st)
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
	if h.st.cur == nil {
		return [16]byte{}
	}
	return h.st.cur.dkid
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
		if st.cur == nil {
			return ErrNoDomainKey
		}
		h.objMu.Lock()
		defer h.objMu.Unlock()
		o, err := h.p.GenerateKey(st.main, mech(pkcs11.CKM_GENERIC_SECRET_KEY_GEN, nil),
			append(wrappableTemplate(nil), pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, keySize)))
		if err != nil {
			return err
		}
		defer h.p.DestroyObject(st.main, o)
		ekt, err = h.wrapEKT(st, st.cur, o, spec, keyID, versionID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ekt, nil
}

// wrappableTemplate is the template of material to be wrapped once
// (GenerateKey, RewrapEKT): a sensitive but extractable session generic
// secret.
func wrappableTemplate(value []byte) []*pkcs11.Attribute {
	return append(objectTemplate(pkcs11.CKO_SECRET_KEY, "", false, value),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_GENERIC_SECRET),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
	)
}

// wrapEKT wraps the material object o in the token (CKM_AES_KEY_WRAP,
// RFC 3394) under ks's trent/ekt-wrap and tags it with its trent/ekt-mac:
// an EKT v2 (see package soft). h.objMu is held.
func (h *HSM) wrapEKT(st *tokenState, ks *keySet, o pkcs11.ObjectHandle, spec hsm.KeySpec, keyID, versionID [16]byte) ([]byte, error) {
	wrapped, err := h.p.WrapKey(st.main, mech(pkcs11.CKM_AES_KEY_WRAP, nil), ks.wrapWork, o)
	if err != nil {
		return nil, err
	}
	if len(wrapped) != ektWrapped {
		return nil, fmt.Errorf("pkcs11: C_WrapKey gave %d bytes, want %d", len(wrapped), ektWrapped)
	}
	e := append([]byte{ektWrapVer, byte(spec)}, ks.dkid[:]...)
	e = append(e, wrapped...)
	tag, err := h.sign(st.main, ks.macWork, ektAAD(e, keyID, versionID))
	if err != nil {
		return nil, err
	}
	return append(e, tag...), nil
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
	if st.cur == nil {
		return nil, ErrNoDomainKey
	}
	if m := h.cache.get(ref, st.gen); m != nil {
		return m, nil
	}
	gen := h.cache.generation()
	h.objMu.Lock()
	defer h.objMu.Unlock()
	o, err := h.unwrap(st, ref, materialTemplate)
	if err != nil {
		return nil, err
	}
	mat := &material{key: cacheKey{ref.KeyID, ref.VersionID}, spec: ref.Spec, ekt: bytes.Clone(ref.EKT), handle: o, gen: st.gen}
	h.destroyLocked(st, h.cache.put(mat, gen)...)
	return mat, nil
}

// unwrap opens ref.EKT (SymmetricDefault, format v1 or v2) under the held
// domain key it names into a session object made from template. EKT
// failures are hsm.ErrAuthentication. h.objMu is held.
func (h *HSM) unwrap(st *tokenState, ref *hsm.KeyRef, template func(value []byte) []*pkcs11.Attribute) (pkcs11.ObjectHandle, error) {
	e := ref.EKT
	if ref.Spec != hsm.SymmetricDefault || len(e) < ektHeaderSize || e[1] != byte(ref.Spec) {
		return 0, hsm.ErrAuthentication
	}
	ks := st.held([16]byte(e[2:ektHeaderSize]))
	if ks == nil {
		return 0, hsm.ErrAuthentication
	}
	switch {
	case e[0] == ektWrapVer && len(e) == ektWrapSize:
		// Check the tag, then unwrap in the token.
		body := e[:ektHeaderSize+ektWrapped]
		tag, err := h.sign(st.main, ks.macWork, ektAAD(body, ref.KeyID, ref.VersionID))
		if err != nil {
			return 0, err
		}
		if !hmac.Equal(tag, e[len(body):]) {
			return 0, hsm.ErrAuthentication
		}
		o, err := h.p.UnwrapKey(st.main, mech(pkcs11.CKM_AES_KEY_WRAP, nil), ks.wrapWork, e[ektHeaderSize:len(body)], template(nil))
		if err != nil {
			return 0, authError(err)
		}
		return o, nil
	case e[0] != ektVersion || len(e) != ektSize:
		return 0, hsm.ErrAuthentication
	case h.gcmUnwrap:
		aad := ektAAD(e[:ektHeaderSize], ref.KeyID, ref.VersionID)
		gp := pkcs11.NewGCMParams(e[ektHeaderSize:ektHeaderSize+ivSize], aad, tagSize*8)
		o, err := h.p.UnwrapKey(st.main, mech(pkcs11.CKM_AES_GCM, gp), ks.ektWork, e[ektHeaderSize+ivSize:], template(nil))
		gp.Free()
		if err != nil {
			return 0, authError(err)
		}
		return o, nil
	}
	aad := ektAAD(e[:ektHeaderSize], ref.KeyID, ref.VersionID)
	m, err := h.decryptGCM(st.main, ks.ektWork, aad, e[ektHeaderSize:])
	if err != nil {
		return 0, err
	}
	defer clear(m)
	if len(m) != keySize {
		return 0, hsm.ErrAuthentication
	}
	return h.p.CreateObject(st.main, template(m))
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
// tag as every backend holding the domain key; DK is the MAC root, the
// first domain key, which rotations keep. K_label is derived in the
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
		if st.cur == nil {
			return ErrNoDomainKey
		}
		var err error
		k, err = h.sign(s, st.root.domainWork, []byte(macLabel+"\x00"+label+"\x01"))
		return err
	})
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return soft.MACWithKey(k, msg), nil
}

// ExportDomain seals the domain key to recipientPub in the soft domain
// token format v1 (HPKE, DHKEM(X25519)), followed after a rotation began
// by the MAC root and the other held keys, as soft's ExportDomain. The
// token decrypts its escrow copies; the HPKE seal runs in Go and the keys
// are wiped at once.
func (h *HSM) ExportDomain(ctx context.Context, recipientPub []byte, info []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := hpke.DHKEM(ecdh.X25519()).NewPublicKey(recipientPub); err != nil {
		return nil, errors.New("pkcs11: invalid recipient public key")
	}
	var token []byte
	err := h.op(ctx, func(st *tokenState, s pkcs11.SessionHandle) error {
		if st.cur == nil {
			return ErrNoDomainKey
		}
		var keys [][]byte
		defer func() {
			for _, k := range keys {
				clear(k)
			}
		}()
		sets := []*keySet{st.cur}
		if st.root != st.cur {
			sets = append(sets, st.root)
		}
		for _, id := range st.otherIDs() {
			sets = append(sets, st.others[id])
		}
		for _, ks := range sets {
			dk, err := h.escrowed(s, ks)
			if err != nil {
				return err
			}
			keys = append(keys, dk)
		}
		tok, err := soft.SealDomainToken(recipientPub, keys[0], info)
		if err != nil {
			return err
		}
		var macRoot []byte
		held := keys[1:]
		if st.root != st.cur {
			macRoot, held = keys[1], keys[2:]
		}
		extra, err := soft.SealDomainExtras(recipientPub, macRoot, held, info)
		token = append(tok, extra...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return token, nil
}

// escrowed decrypts ks's trent/escrow in the token and returns the
// domain key; the caller wipes it.
func (h *HSM) escrowed(s pkcs11.SessionHandle, ks *keySet) ([]byte, error) {
	attrs, err := h.p.GetAttributeValue(s, ks.escrow, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
	if err != nil {
		return nil, fmt.Errorf("pkcs11: reading %s: %w", labelEscrow, err)
	}
	dk, err := h.decryptGCM(s, ks.escrowKey, []byte(escrowAAD), attrs[0].Value)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: opening %s: %w", labelEscrow, err)
	}
	return dk, nil
}

// ImportDomain opens a domain export made for this backend's identity
// key (soft's or this backend's: the current key, then possibly the MAC
// root and other held keys) and installs the keys as token objects. The
// HPKE open runs in Go: the identity private key is derived from
// trent/identity for it, and the keys are wiped once installed.
func (h *HSM) ImportDomain(ctx context.Context, token []byte, info []byte) error {
	return h.exclusive(ctx, func(st *tokenState) error {
		priv, err := h.identityKey(st)
		if err != nil {
			return err
		}
		dk, dkid, macRoot, held, err := soft.OpenDomainExport(priv, token, info)
		if err != nil {
			return err
		}
		defer func() {
			clear(dk)
			clear(macRoot)
			for _, k := range held {
				clear(k)
			}
		}()
		if st.cur != nil {
			if dkid == st.cur.dkid {
				return nil
			}
			return hsm.ErrDomainMismatch
		}
		return h.installExport(st, dk, macRoot, held)
	})
}
