package soft

import (
	"context"
	"crypto/ecdh"
	"crypto/hpke"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/trentkms/trent/hsm"
)

// Errors returned by HSM methods, the sentinels of package hsm under the
// names this package has always used.
var (
	// ErrNoDomainKey is returned by GenerateKey, Seal, Open, MAC and
	// ExportDomain on an HSM that has no domain key yet (a joining node
	// before ImportDomain). It is [hsm.ErrNoDomainKey] and wraps [hsm.ErrSealed].
	ErrNoDomainKey = hsm.ErrNoDomainKey
	// ErrClosed is returned by every method of a closed HSM. It is
	// [hsm.ErrClosed] and wraps [hsm.ErrSealed].
	ErrClosed = hsm.ErrClosed
	// ErrDomainMismatch is returned by ImportDomain when the HSM already
	// holds a different domain key. It is [hsm.ErrDomainMismatch].
	ErrDomainMismatch = hsm.ErrDomainMismatch
)

// The soft HSM is a Backend.
var _ hsm.Backend = (*HSM)(nil)

// Capabilities reports the soft HSM's: AES-256-GCM symmetric keys, HMAC
// keys and every asymmetric key pair of AWS but SM2 (ML-DSA and secp256k1
// with the libraries of package keys), with all secrets in this process's
// memory.
func (h *HSM) Capabilities() hsm.Capabilities {
	return hsm.Capabilities{Name: Kind, Specs: []hsm.KeySpec{hsm.SymmetricDefault,
		hsm.EccNistP256, hsm.EccNistP384, hsm.EccNistP521, hsm.EccSecgP256k1, hsm.EccNistEdwards25519,
		hsm.Rsa2048, hsm.Rsa3072, hsm.Rsa4096, hsm.Hmac224, hsm.Hmac256, hsm.Hmac384, hsm.Hmac512,
		hsm.MlDsa44, hsm.MlDsa65, hsm.MlDsa87}}
}

// Kind is the soft backend's name in [hsm.Capabilities] and in the
// server's --hsm flag.
const Kind = "soft"

// maxRandom bounds one Random call.
const maxRandom = 1 << 20

// HSM is the software HSM backend. Create it with [Create],
// [CreateWithoutDomain] or [Open]. It is safe for concurrent use.
type HSM struct {
	path  string
	rand  io.Reader // nil: the system generator (see sealGCM)
	conf  *config
	cache *materialCache

	mu          sync.RWMutex // guards the following fields
	closed      bool
	hdr         sealHeader      // state file header; salt and KDF are kept on rewrite
	kek         []byte          // state file KEK
	identity    hpke.PrivateKey // HPKE recipient key
	identityRaw []byte          // its serialization, persisted
	identityPub []byte
	dk          []byte   // domain key; nil until there is one
	dkid        [16]byte // its id
	ektKey      []byte   // EKT wrapping key derived from dk
	// Domain-key rotation (rotate.go): keys held beside dk (an old one
	// until retired, a new one until used), and the MAC root when it is
	// not dk (MAC tags outlive rotations).
	others  map[[16]byte][]byte
	macRoot []byte
}

func x25519() ecdh.Curve { return ecdh.X25519() }

// Create creates an HSM with a fresh identity key and a fresh domain key,
// seals its state under u and writes it to path, which must not exist. Use
// it on the node that bootstraps a cluster.
func Create(path string, u Unsealer, opts ...Option) (*HSM, error) {
	return create(path, u, true, opts)
}

// CreateWithoutDomain creates an HSM with a fresh identity key and no
// domain key, seals its state under u and writes it to path, which must not
// exist. A joining node uses it, then receives the domain key with
// [HSM.ImportDomain].
func CreateWithoutDomain(path string, u Unsealer, opts ...Option) (*HSM, error) {
	return create(path, u, false, opts)
}

func create(path string, u Unsealer, withDomain bool, opts []Option) (*HSM, error) {
	c := newConfig(opts)
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("soft: creating %s: %w", path, fs.ErrExist)
	}
	r := c.rand()
	var h sealHeader
	u.setKDF(&h, c)
	if err := h.checkKDF(); err != nil {
		return nil, errors.New("soft: invalid Argon2 parameters")
	}
	if _, err := io.ReadFull(r, h.salt[:]); err != nil {
		return nil, fmt.Errorf("soft: reading randomness: %v", err)
	}
	kek, err := u.kek(&h, c, true)
	if err != nil {
		return nil, err
	}
	s, err := newState(r, withDomain)
	if err != nil {
		clear(kek)
		return nil, err
	}
	defer s.wipe()
	file, err := sealState(&h, kek, r, s)
	if err != nil {
		clear(kek)
		return nil, err
	}
	if err := writeFileAtomic(path, file, true); err != nil {
		clear(kek)
		return nil, fmt.Errorf("soft: writing state file: %w", err)
	}
	return newHSM(path, c, h, kek, s)
}

// newState generates an identity key and, if withDomain, a domain key.
func newState(r io.Reader, withDomain bool) (*state, error) {
	ikm := make([]byte, identitySize)
	defer clear(ikm)
	if _, err := io.ReadFull(r, ikm); err != nil {
		return nil, fmt.Errorf("soft: reading randomness: %v", err)
	}
	priv, err := hpke.DHKEM(x25519()).DeriveKeyPair(ikm)
	if err != nil {
		return nil, err
	}
	raw, err := priv.Bytes()
	if err != nil {
		return nil, err
	}
	s := &state{identity: raw}
	if !withDomain {
		return s, nil
	}
	s.dk = make([]byte, keySize)
	if _, err := io.ReadFull(r, s.dk); err != nil {
		s.wipe()
		return nil, fmt.Errorf("soft: reading randomness: %v", err)
	}
	if s.dkid, err = domainKeyID(s.dk); err != nil {
		s.wipe()
		return nil, err
	}
	return s, nil
}

// Open reads the state file at path and unseals it with u. A wrong key
// file or passphrase gives [ErrWrongKey], an unsealer of the wrong kind
// [ErrWrongUnsealer], and a damaged or foreign file [ErrCorruptState].
func Open(path string, u Unsealer, opts ...Option) (*HSM, error) {
	c := newConfig(opts)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("soft: opening state file: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("soft: reading state file: %w", err)
	}
	h, sealed, err := parseStateFile(data)
	if err != nil {
		return nil, err
	}
	kek, err := u.kek(&h, c, false)
	if err != nil {
		return nil, err
	}
	s, err := openState(&h, kek, sealed)
	if err != nil {
		clear(kek)
		return nil, err
	}
	defer s.wipe()
	return newHSM(path, c, h, kek, s)
}

// newHSM builds an HSM from unsealed state. It takes ownership of kek and
// copies what it keeps of s.
func newHSM(path string, c *config, hdr sealHeader, kek []byte, s *state) (*HSM, error) {
	h := &HSM{
		path:  path,
		rand:  c.random,
		conf:  c,
		cache: newMaterialCache(c.cacheSize),
		hdr:   hdr,
		kek:   kek,
	}
	if err := h.setIdentity(s.identity); err != nil {
		clear(kek)
		return nil, err
	}
	if s.dk != nil {
		if err := h.setDomain(s.dk, s.dkid); err != nil {
			h.wipe()
			return nil, err
		}
	}
	h.setRotated(s)
	return h, nil
}

func (h *HSM) setIdentity(raw []byte) error {
	priv, err := hpke.DHKEM(x25519()).NewPrivateKey(raw)
	if err != nil {
		return ErrCorruptState
	}
	h.identity = priv
	h.identityRaw = clone(raw)
	h.identityPub = priv.PublicKey().Bytes()
	return nil
}

// setDomain installs a copy of dk. h.mu must be held for writing (or h not
// yet shared).
func (h *HSM) setDomain(dk []byte, dkid [16]byte) error {
	ektKey, err := ektKeyFrom(dk)
	if err != nil {
		return err
	}
	h.dk, h.dkid, h.ektKey = clone(dk), dkid, ektKey
	return nil
}

// Close wipes the HSM's secrets from memory, as far as Go allows. Every
// later call fails with [ErrClosed]. Close is idempotent.
func (h *HSM) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.wipe()
	return nil
}

func (h *HSM) wipe() {
	h.closed = true
	h.cache.purge()
	clear(h.kek)
	clear(h.identityRaw)
	clear(h.dk)
	clear(h.ektKey)
	h.wipeRotated()
	h.kek, h.identityRaw, h.dk, h.ektKey, h.identity, h.identityPub = nil, nil, nil, nil, nil, nil
	h.dkid = [16]byte{}
}

// readRand fills b from the HSM's source of randomness.
func (h *HSM) readRand(b []byte) error {
	if _, err := io.ReadFull(h.conf.rand(), b); err != nil {
		return fmt.Errorf("soft: reading randomness: %v", err)
	}
	return nil
}

// Random returns n random bytes, 0 <= n <= 1 MiB.
func (h *HSM) Random(ctx context.Context, n int) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n < 0 || n > maxRandom {
		return nil, fmt.Errorf("soft: random length %d out of range [0, %d]", n, maxRandom)
	}
	h.mu.RLock()
	closed := h.closed
	h.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	b := make([]byte, n)
	if err := h.readRand(b); err != nil {
		return nil, err
	}
	return b, nil
}

// usable reports why h cannot use its domain key, if it cannot. h.mu must
// be held.
func (h *HSM) usable() error {
	switch {
	case h.closed:
		return ErrClosed
	case h.dk == nil:
		return ErrNoDomainKey
	}
	return nil
}

// GenerateKey generates fresh key material of the given spec for
// (keyID, versionID) and returns it wrapped as an EKT. The specs of
// [HSM.Capabilities] are supported; others give [hsm.ErrUnsupported].
func (h *HSM) GenerateKey(ctx context.Context, spec hsm.KeySpec, keyID, versionID [16]byte) (_ []byte, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	defer func(start time.Time) { h.conf.done("GenerateKey", start, err) }(h.conf.start())
	if !supported(spec) {
		return nil, fmt.Errorf("soft: key spec %d: %w", spec, hsm.ErrUnsupported)
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if err := h.usable(); err != nil {
		return nil, err
	}
	gen := h.cache.generation()
	material, private, err := h.newMaterial(spec)
	if err != nil {
		return nil, err
	}
	defer clear(material)
	ekt, err := wrapEKT(h.ektKey, h.rand, h.dkid, spec, keyID, versionID, material)
	if err != nil {
		return nil, err
	}
	ref := &hsm.KeyRef{KeyID: keyID, VersionID: versionID, Spec: spec, EKT: ekt}
	if private != nil {
		h.cache.putPrivateAt(ref, private, gen)
	} else {
		h.cache.putAt(ref, material, gen)
	}
	return ekt, nil
}

// material returns the unwrapped material of ref, from the cache or by
// unwrapping its EKT. EKT failures are hsm.ErrAuthentication. The caller
// clears the result.
func (h *HSM) material(ref *hsm.KeyRef) ([]byte, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if err := h.usable(); err != nil {
		return nil, err
	}
	if n := materialSize(ref.Spec); n > 0 {
		if ref.Spec.HMAC() && !isWrappedEKT(ref.EKT) {
			n = len(ref.EKT) - ektHeaderSize - ivSize - tagSize // imported: maybe longer
		}
		m := make([]byte, max(n, 0))
		if h.cache.get(ref, m) {
			return m, nil
		}
	}
	gen := h.cache.generation()
	var m []byte
	var err error
	m, err = h.unwrapAny(ref)
	if err != nil {
		return nil, err
	}
	h.cache.putAt(ref, m, gen)
	return m, nil
}

// CacheStats returns how many lookups of key material the cache of
// unwrapped material answered (hits) and how many unwrapped an EKT
// (misses), since the HSM opened. With the cache off (WithCacheSize(0))
// both stay zero.
func (h *HSM) CacheStats() (hits, misses uint64) { return h.cache.stats() }

// Forget drops the cached material of every version of keyID (see
// [hsm.Backend]).
func (h *HSM) Forget(ctx context.Context, keyID [16]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return ErrClosed
	}
	h.cache.forget(keyID)
	return nil
}

// Seal encrypts plaintext under the key version ref with the per-message
// key derived from nonce (see package hsm) and additional data aad, and
// returns IV || ciphertext || tag. An EKT that does not authenticate for
// ref gives [hsm.ErrAuthentication].
func (h *HSM) Seal(ctx context.Context, ref hsm.KeyRef, nonce [16]byte, aad, plaintext []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := h.conf.start()
	if ref.Spec != hsm.SymmetricDefault {
		err := fmt.Errorf("soft: Seal with a %v key: %w", ref.Spec, hsm.ErrUnsupported)
		h.conf.done("Seal", start, err)
		return nil, err
	}
	m, err := h.material(&ref)
	if err != nil {
		h.conf.done("Seal", start, err)
		return nil, err
	}
	defer clear(m)
	out, err := sealMessage(m, ref.KeyID, ref.VersionID, nonce, h.rand, aad, plaintext)
	h.conf.done("Seal", start, err)
	return out, err
}

// Open decrypts body (IV || ciphertext || tag) sealed by Seal under ref,
// nonce and aad. Every failure to authenticate the EKT or the body (wrong
// key, ids, spec, nonce or aad, a flipped bit, a truncation) is exactly
// [hsm.ErrAuthentication]. Besides that, Open fails only with the
// context's error, [ErrClosed] or [ErrNoDomainKey].
func (h *HSM) Open(ctx context.Context, ref hsm.KeyRef, nonce [16]byte, aad, body []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := h.conf.start()
	if ref.Spec != hsm.SymmetricDefault {
		h.conf.done("Open", start, hsm.ErrAuthentication)
		return nil, hsm.ErrAuthentication
	}
	m, err := h.material(&ref)
	if err != nil {
		h.conf.done("Open", start, err)
		return nil, err
	}
	defer clear(m)
	out, err := openWith(m, ref.KeyID, ref.VersionID, nonce, aad, body)
	h.conf.done("Open", start, err)
	return out, err
}
