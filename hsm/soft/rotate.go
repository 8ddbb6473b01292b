package soft

import (
	"bytes"
	"context"
	"crypto/hpke"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/trentkms/trent/hsm"
)

// Domain-key rotation. The HSM may hold more than one domain key: the
// current one (GenerateKey wraps under it, DomainKeyID names it), and
// others beside it: a new key generated or received before the cluster
// switches to it, and the old key until every EKT is re-wrapped and the
// cluster retires it. An EKT opens under whichever held key its domain
// key id names. MAC tags (access-key secrets, grant tokens) must outlive
// a rotation, so the MAC root stays the key the HSM first had; after a
// rotation it is kept on its own (and sent with ExportDomain) and is never
// used to wrap or open an EKT.
//
// State plaintext, version 2 (written only once a rotation has begun;
// version 1 otherwise):
//
//	off len field
//	0   1   state version = 0x02
//	1   2   identity KEM id = 0x0020
//	3   32  identity private key
//	35  1   n, the number of domain keys (1 to maxHeldKeys); the first is current
//	36  48n n × (domain key (32) || domain key id (16))
//	..  1   0x00 the MAC root is the current domain key / 0x01 it follows
//	..  32  MAC root                                               } if 0x01
const (
	stateVersionRotated = 0x02
	maxHeldKeys         = 4
	heldKeySize         = keySize + 16
)

// heldKey is a domain key held beside the current one.
type heldKey struct {
	dk   []byte
	dkid [16]byte
}

// The soft HSM rotates domain keys.
var _ hsm.DomainRotator = (*HSM)(nil)

func (s *state) rotated() bool { return len(s.others) > 0 || s.macRoot != nil }

func (s *state) marshalV2() []byte {
	b := []byte{stateVersionRotated}
	b = binary.BigEndian.AppendUint16(b, kemX25519)
	b = append(b, s.identity...)
	b = append(b, byte(1+len(s.others)))
	b = append(append(b, s.dk...), s.dkid[:]...)
	for _, o := range s.others {
		b = append(append(b, o.dk...), o.dkid[:]...)
	}
	if s.macRoot == nil {
		return append(b, 0)
	}
	return append(append(b, 1), s.macRoot...)
}

func parseStateV2(b []byte) (*state, error) {
	if len(b) < stateSizeNoDK || binary.BigEndian.Uint16(b[1:3]) != kemX25519 {
		return nil, ErrCorruptState
	}
	n := int(b[35])
	rest := b[36:]
	if n < 1 || n > maxHeldKeys || len(rest) < n*heldKeySize+1 {
		return nil, ErrCorruptState
	}
	s := &state{identity: clone(b[3 : 3+identitySize])}
	bad := func() (*state, error) { s.wipe(); return nil, ErrCorruptState }
	for i := range n {
		k := heldKey{dk: clone(rest[:keySize])}
		copy(k.dkid[:], rest[keySize:heldKeySize])
		rest = rest[heldKeySize:]
		if want, err := domainKeyID(k.dk); err != nil || subtle.ConstantTimeCompare(want[:], k.dkid[:]) != 1 {
			clear(k.dk)
			return bad()
		}
		if i == 0 {
			s.dk, s.dkid = k.dk, k.dkid
		} else {
			s.others = append(s.others, k)
		}
	}
	switch {
	case rest[0] == 0 && len(rest) == 1:
	case rest[0] == 1 && len(rest) == 1+keySize:
		s.macRoot = clone(rest[1:])
	default:
		return bad()
	}
	return s, nil
}

// setRotated installs what a state holds beside its domain key.
func (h *HSM) setRotated(s *state) {
	for _, o := range s.others {
		if h.others == nil {
			h.others = map[[16]byte][]byte{}
		}
		h.others[o.dkid] = clone(o.dk)
	}
	h.macRoot = clone(s.macRoot)
}

func (h *HSM) wipeRotated() {
	for id, k := range h.others {
		clear(k)
		delete(h.others, id)
	}
	clear(h.macRoot)
	h.macRoot = nil
}

// unwrapAny opens ref.EKT under the held domain key its header names.
// h.mu must be held.
func (h *HSM) unwrapAny(ref *hsm.KeyRef) ([]byte, error) {
	dk, dkid, ektKey := h.dk, h.dkid, h.ektKey
	if len(ref.EKT) >= ektHeaderSize && !bytes.Equal(ref.EKT[2:ektHeaderSize], h.dkid[:]) {
		id := [16]byte(ref.EKT[2:ektHeaderSize])
		other, ok := h.others[id]
		if !ok {
			return nil, hsm.ErrAuthentication
		}
		k, err := ektKeyFrom(other)
		if err != nil {
			return nil, hsm.ErrAuthentication
		}
		defer clear(k)
		dk, dkid, ektKey = other, id, k
	}
	if isWrappedEKT(ref.EKT) { // format v2, from a pkcs11 node
		return unwrapWrappedEKT(dk, dkid, ref)
	}
	return unwrapEKT(ektKey, dkid, ref)
}

// persistLocked rewrites the state file from h. h.mu must be held for
// writing.
func (h *HSM) persistLocked() error {
	s := &state{identity: h.identityRaw, dk: h.dk, dkid: h.dkid, macRoot: h.macRoot}
	for _, id := range h.otherIDs() {
		s.others = append(s.others, heldKey{dk: h.others[id], dkid: id})
	}
	return h.writeState(s, func() error { return nil })
}

// writeState seals s into the state file, then runs then. h.mu must be
// held for writing.
func (h *HSM) writeState(s *state, then func() error) error {
	hdr := h.hdr
	file, err := sealState(&hdr, h.kek, h.conf.rand(), s)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(h.path, file, false); err != nil {
		return fmt.Errorf("soft: writing state file: %w", err)
	}
	h.hdr = hdr
	return then()
}

// otherIDs returns the ids of the keys held beside the current one, sorted.
func (h *HSM) otherIDs() [][16]byte {
	ids := make([][16]byte, 0, len(h.others))
	for id := range h.others {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	return ids
}

// errTooManyKeys is returned when a rotation would hold more than
// maxHeldKeys domain keys: retire one first.
var errTooManyKeys = errors.New("soft: too many domain keys held; retire one first")

// hold adds dk beside the current key and persists it; holding a key
// already held does nothing. h.mu must be held for writing.
func (h *HSM) hold(dk []byte, dkid [16]byte) error {
	if _, ok := h.others[dkid]; ok || dkid == h.dkid {
		return nil
	}
	if 1+len(h.others) >= maxHeldKeys {
		return errTooManyKeys
	}
	if h.others == nil {
		h.others = map[[16]byte][]byte{}
	}
	h.others[dkid] = clone(dk)
	if err := h.persistLocked(); err != nil {
		clear(h.others[dkid])
		delete(h.others, dkid)
		return err
	}
	return nil
}

// NewDomainKey generates a new domain key and holds it beside the current
// one, durably; GenerateKey keeps using the current one until UseDomainKey.
func (h *HSM) NewDomainKey(ctx context.Context) ([16]byte, error) {
	if err := ctx.Err(); err != nil {
		return [16]byte{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.usable(); err != nil {
		return [16]byte{}, err
	}
	dk := make([]byte, keySize)
	defer clear(dk)
	if err := h.readRand(dk); err != nil {
		return [16]byte{}, err
	}
	dkid, err := domainKeyID(dk)
	if err != nil {
		return [16]byte{}, err
	}
	return dkid, h.hold(dk, dkid)
}

// heldLocked returns the held domain key dkid. h.mu must be held.
func (h *HSM) heldLocked(dkid [16]byte) ([]byte, bool) {
	if dkid == h.dkid && h.dk != nil {
		return h.dk, true
	}
	k, ok := h.others[dkid]
	return k, ok
}

// ExportDomainKey seals the held domain key dkid to recipientPub, as
// ExportDomain does the current one (domain token v1, without the MAC
// root: the recipient has it).
func (h *HSM) ExportDomainKey(ctx context.Context, dkid [16]byte, recipientPub, info []byte) ([]byte, error) {
	return h.withHeld(ctx, dkid, func(dk []byte) ([]byte, error) { return SealDomainToken(recipientPub, dk, info) })
}

// withHeld runs f with the held domain key dkid, under h.mu for reading.
func (h *HSM) withHeld(ctx context.Context, dkid [16]byte, f func(dk []byte) ([]byte, error)) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if err := h.usable(); err != nil {
		return nil, err
	}
	dk, ok := h.heldLocked(dkid)
	if !ok {
		return nil, fmt.Errorf("soft: domain key %x is not held: %w", dkid, hsm.ErrNoDomainKey)
	}
	return f(dk)
}

// AddDomainKey opens a token made by ExportDomainKey for this HSM with the
// same info and holds its key beside the current one, durably. Adding a
// key already held does nothing.
func (h *HSM) AddDomainKey(ctx context.Context, token, info []byte) ([16]byte, error) {
	if err := ctx.Err(); err != nil {
		return [16]byte{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.usable(); err != nil {
		return [16]byte{}, err
	}
	dk, dkid, err := OpenDomainToken(h.identity, token, info)
	if err != nil {
		return [16]byte{}, err
	}
	defer clear(dk)
	return dkid, h.hold(dk, dkid)
}

// UseDomainKey makes the held domain key dkid current: GenerateKey wraps
// under it and DomainKeyID names it. The key it replaces stays held.
func (h *HSM) UseDomainKey(ctx context.Context, dkid [16]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.usable(); err != nil {
		return err
	}
	if dkid == h.dkid {
		return nil
	}
	next, ok := h.others[dkid]
	if !ok {
		return fmt.Errorf("soft: domain key %x is not held: %w", dkid, hsm.ErrNoDomainKey)
	}
	prev, prevID, prevEKT, prevMAC := h.dk, h.dkid, h.ektKey, h.macRoot
	if h.macRoot == nil {
		h.macRoot = clone(h.dk)
	}
	h.others[prevID] = prev
	delete(h.others, dkid)
	if err := h.setDomain(next, dkid); err != nil {
		return err
	}
	if err := h.persistLocked(); err != nil {
		clear(h.dk)
		clear(h.ektKey)
		if prevMAC == nil {
			clear(h.macRoot)
		}
		h.others[dkid] = next
		delete(h.others, prevID)
		h.dk, h.dkid, h.ektKey, h.macRoot = prev, prevID, prevEKT, prevMAC
		return err
	}
	clear(prevEKT)
	clear(next)
	return nil
}

// RewrapEKT opens ref.EKT under the held domain key it names and returns
// the material wrapped under the held key dkid (EKT v1), bound to the same
// ids and spec. The material never leaves the HSM.
func (h *HSM) RewrapEKT(ctx context.Context, ref hsm.KeyRef, dkid [16]byte) ([]byte, error) {
	return h.withHeld(ctx, dkid, func(dk []byte) ([]byte, error) {
		m, err := h.unwrapAny(&ref)
		if err != nil {
			return nil, err
		}
		defer clear(m)
		ektKey, err := ektKeyFrom(dk)
		if err != nil {
			return nil, err
		}
		defer clear(ektKey)
		return wrapEKT(ektKey, h.rand, dkid, ref.Spec, ref.KeyID, ref.VersionID, m)
	})
}

// DestroyDomainKey wipes the held domain key dkid, durably, and the
// cached material unwrapped under any key (the cache cannot tell which).
// The current key cannot be destroyed; destroying a key not held does
// nothing.
func (h *HSM) DestroyDomainKey(ctx context.Context, dkid [16]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.usable(); err != nil {
		return err
	}
	if dkid == h.dkid {
		return errors.New("soft: the current domain key cannot be destroyed")
	}
	k, ok := h.others[dkid]
	if !ok {
		return nil
	}
	delete(h.others, dkid)
	if err := h.persistLocked(); err != nil {
		h.others[dkid] = k
		return err
	}
	clear(k)
	h.cache.purge()
	return nil
}

// DomainKeyIDs returns the ids of the domain keys held, the current first.
func (h *HSM) DomainKeyIDs() [][16]byte {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.dk == nil {
		return nil
	}
	return append([][16]byte{h.dkid}, h.otherIDs()...)
}

// A domain export (ExportDomain) is the current key's token v1, then,
// after a rotation began, a token of the MAC root (info prefixed
// "mac-root\0") and one of each other held key (info prefixed "held\0"):
// a node joining while a rotation re-wraps needs the old key for the EKTs
// not re-wrapped yet, and one joining while it distributes gets the new
// key at once.
func macRootInfo(info []byte) []byte { return append([]byte("mac-root\x00"), info...) }
func heldInfo(info []byte) []byte    { return append([]byte("held\x00"), info...) }

// appendExtras appends the MAC root's and the other held keys' tokens to
// a domain export. h.mu must be held.
func (h *HSM) appendExtras(tok []byte, pk hpke.PublicKey, info []byte) ([]byte, error) {
	held := make([][]byte, 0, len(h.others))
	for _, id := range h.otherIDs() {
		held = append(held, h.others[id])
	}
	extra, err := sealExtras(pk, h.macRoot, held, info)
	if err != nil {
		return nil, err
	}
	return append(tok, extra...), nil
}

// SealDomainExtras returns what a domain export carries after the current
// key's token (see [HSM.ExportDomain]): a token of macRoot unless it is
// nil, then one of each held key, in order. Other backends (pkcs11) append
// it to [SealDomainToken]'s token so that their exports open on a soft HSM
// and the other way round.
func SealDomainExtras(recipientPub, macRoot []byte, held [][]byte, info []byte) ([]byte, error) {
	pk, err := hpke.DHKEM(x25519()).NewPublicKey(recipientPub)
	if err != nil {
		return nil, errors.New("soft: invalid recipient public key")
	}
	return sealExtras(pk, macRoot, held, info)
}

func sealExtras(pk hpke.PublicKey, macRoot []byte, held [][]byte, info []byte) ([]byte, error) {
	var out []byte
	seal := func(dk, info []byte) error {
		id, err := domainKeyID(dk)
		if err != nil {
			return err
		}
		t, err := sealToken(pk, id, dk, info)
		out = append(out, t...)
		return err
	}
	if macRoot != nil {
		if err := seal(macRoot, macRootInfo(info)); err != nil {
			return nil, err
		}
	}
	for _, dk := range held {
		if err := seal(dk, heldInfo(info)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// extras is what a domain export carries besides the current key.
type extras struct {
	macRoot []byte
	others  []heldKey
}

func (e *extras) wipe() {
	clear(e.macRoot)
	for _, o := range e.others {
		clear(o.dk)
	}
}

// OpenDomainExport opens a domain export made for identity with info (a
// domain token v1 and the extras [SealDomainExtras] makes), as
// [HSM.ImportDomain] does: the current key and its id, the MAC root (nil
// when the export has none) and the other held keys. The caller wipes the
// keys. Every failure wraps [hsm.ErrAuthentication].
func OpenDomainExport(identity hpke.PrivateKey, token, info []byte) (dk []byte, dkid [16]byte, macRoot []byte, held [][]byte, err error) {
	token, ex, err := openExtras(identity, token, info)
	if err != nil {
		return nil, dkid, nil, nil, err
	}
	if dk, dkid, err = OpenDomainToken(identity, token, info); err != nil {
		ex.wipe()
		return nil, dkid, nil, nil, err
	}
	for _, o := range ex.others {
		held = append(held, o.dk)
	}
	return dk, dkid, ex.macRoot, held, nil
}

// openExtras splits a domain export into the current key's token and the
// extras, which it opens. Every failure wraps hsm.ErrAuthentication.
func openExtras(identity hpke.PrivateKey, token, info []byte) ([]byte, extras, error) {
	var ex extras
	if len(token) <= tokenSize || len(token)%tokenSize != 0 || len(token) > (1+maxHeldKeys)*tokenSize {
		return token, ex, nil // the single token's own check refuses it
	}
	for off := tokenSize; off < len(token); off += tokenSize {
		t := token[off : off+tokenSize]
		if root, _, err := OpenDomainToken(identity, t, macRootInfo(info)); err == nil && ex.macRoot == nil {
			ex.macRoot = root
			continue
		}
		dk, dkid, err := OpenDomainToken(identity, t, heldInfo(info))
		if err != nil || len(ex.others) >= maxHeldKeys-1 {
			clear(dk)
			ex.wipe()
			return nil, extras{}, fmt.Errorf("soft: import domain: %w", hsm.ErrAuthentication)
		}
		ex.others = append(ex.others, heldKey{dk: dk, dkid: dkid})
	}
	return token[:tokenSize], ex, nil
}
