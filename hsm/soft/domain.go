package soft

import (
	"context"
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/trentkms/trent/hsm"
)

// Domain token, format v1 (see the package documentation):
//
//	off len field
//	0   1   version = 0x01
//	1   2   KEM id  = 0x0020 (DHKEM(X25519, HKDF-SHA256))
//	3   2   KDF id  = 0x0001 (HKDF-SHA256)
//	5   2   AEAD id = 0x0002 (AES-256-GCM)
//	7   16  domain key id
//	23  32  HPKE encapsulated key
//	55  48  HPKE ciphertext of the domain key (32) || tag (16)
//
// HPKE mode Base, info = "trent/domain/v1" || 0x00 || caller's info,
// additional data = bytes [0,23).
const (
	tokenVersion    = 0x01
	hpkeKDFSHA256   = 0x0001
	hpkeAEADAES256  = 0x0002
	tokenHeaderSize = 1 + 2 + 2 + 2 + 16
	tokenEncSize    = 32
	tokenSize       = tokenHeaderSize + tokenEncSize + keySize + tagSize
	tokenLabel      = "trent/domain/v1"
	macLabel        = "trent/mac/v1"
)

func tokenInfo(info []byte) []byte {
	b := make([]byte, 0, len(tokenLabel)+1+len(info))
	b = append(b, tokenLabel...)
	b = append(b, 0)
	return append(b, info...)
}

// IdentityPublicKey returns this HSM's HPKE recipient public key: a
// 32-byte X25519 key for DHKEM(X25519, HKDF-SHA256). Another HSM passes it
// to ExportDomain to send this one the domain key. It returns nil once the
// HSM is closed.
func (h *HSM) IdentityPublicKey() []byte {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return clone(h.identityPub)
}

// DomainKeyID returns the public identifier of the domain key,
// HKDF-Expand-SHA256(DK, "trent/dkid/v1", 16), the same on every HSM that
// holds that key. It is all zeros while the HSM has no domain key.
func (h *HSM) DomainKeyID() [16]byte {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.dkid
}

// ExportDomain seals the domain key to the HSM whose IdentityPublicKey is
// recipientPub, with HPKE (RFC 9180) mode Base, DHKEM(X25519, HKDF-SHA256),
// HKDF-SHA256 and AES-256-GCM. info is bound into the token (the caller
// puts e.g. cluster id and joining node id in it) and the recipient must
// pass the same info to ImportDomain. The token is public.
func (h *HSM) ExportDomain(ctx context.Context, recipientPub []byte, info []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pk, err := hpke.DHKEM(x25519()).NewPublicKey(recipientPub)
	if err != nil {
		return nil, errors.New("soft: invalid recipient public key")
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if err := h.usable(); err != nil {
		return nil, err
	}
	tok, err := sealToken(pk, h.dkid, h.dk, info)
	if err != nil {
		return nil, err
	}
	return h.appendExtras(tok, pk, info)
}

// SealDomainToken seals the domain key dk to recipientPub in domain token
// format v1, as [HSM.ExportDomain] does, for other backends (pkcs11) whose
// tokens must open on a soft HSM and the other way round. The caller
// wipes dk.
func SealDomainToken(recipientPub, dk, info []byte) ([]byte, error) {
	pk, err := hpke.DHKEM(x25519()).NewPublicKey(recipientPub)
	if err != nil {
		return nil, errors.New("soft: invalid recipient public key")
	}
	if len(dk) != keySize {
		return nil, errors.New("soft: domain key must be 32 bytes")
	}
	dkid, err := domainKeyID(dk)
	if err != nil {
		return nil, err
	}
	return sealToken(pk, dkid, dk, info)
}

// OpenDomainToken opens a domain token v1 made for identity with info, as
// [HSM.ImportDomain] does, and returns the domain key and its id; the
// caller wipes the key. Every failure wraps [hsm.ErrAuthentication].
func OpenDomainToken(identity hpke.PrivateKey, token, info []byte) ([]byte, [16]byte, error) {
	dk, err := openToken(identity, token, info)
	if err != nil {
		return nil, [16]byte{}, err
	}
	dkid, err := domainKeyID(dk)
	if err != nil || subtle.ConstantTimeCompare(dkid[:], token[7:23]) != 1 {
		clear(dk)
		return nil, [16]byte{}, fmt.Errorf("soft: import domain: %w", hsm.ErrAuthentication)
	}
	return dk, dkid, nil
}

// IdentityFromSeed derives an HPKE identity key (DHKEM(X25519,
// HKDF-SHA256)) from a secret seed of at least 32 bytes, as [Create] does
// from 32 random bytes.
func IdentityFromSeed(seed []byte) (hpke.PrivateKey, error) {
	return hpke.DHKEM(x25519()).DeriveKeyPair(seed)
}

// sealToken seals dk (whose id is dkid) to pk in domain token format v1.
func sealToken(pk hpke.PublicKey, dkid [16]byte, dk, info []byte) ([]byte, error) {
	header := make([]byte, tokenHeaderSize, tokenSize)
	header[0] = tokenVersion
	binary.BigEndian.PutUint16(header[1:], kemX25519)
	binary.BigEndian.PutUint16(header[3:], hpkeKDFSHA256)
	binary.BigEndian.PutUint16(header[5:], hpkeAEADAES256)
	copy(header[7:], dkid[:])
	enc, sender, err := hpke.NewSender(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), tokenInfo(info))
	if err != nil {
		return nil, fmt.Errorf("soft: export domain: %v", err)
	}
	ct, err := sender.Seal(header, dk)
	if err != nil {
		return nil, fmt.Errorf("soft: export domain: %v", err)
	}
	return append(append(header, enc...), ct...), nil
}

// ImportDomain opens a token made by ExportDomain for this HSM with the
// same info, installs the domain key and rewrites the state file. It is
// allowed only while the HSM has no domain key, or to re-import the key it
// already has (a no-op). A token that does not authenticate gives an error
// wrapping [hsm.ErrAuthentication]; a different domain key gives
// [ErrDomainMismatch].
func (h *HSM) ImportDomain(ctx context.Context, token []byte, info []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	token, ex, err := openExtras(h.identity, token, info)
	if err != nil {
		return err
	}
	defer ex.wipe()
	dk, dkid, err := OpenDomainToken(h.identity, token, info)
	if err != nil {
		return err
	}
	defer clear(dk)
	if h.dk != nil {
		if subtle.ConstantTimeCompare(h.dk, dk) == 1 {
			return nil
		}
		return ErrDomainMismatch
	}
	s := &state{identity: h.identityRaw, dk: dk, dkid: dkid, macRoot: ex.macRoot, others: ex.others}
	return h.writeState(s, func() error {
		h.setRotated(s)
		return h.setDomain(dk, dkid)
	})
}

// openToken checks a token's format and decrypts the domain key.
func openToken(identity hpke.PrivateKey, token, info []byte) ([]byte, error) {
	authErr := fmt.Errorf("soft: import domain: %w", hsm.ErrAuthentication)
	if len(token) != tokenSize || token[0] != tokenVersion ||
		binary.BigEndian.Uint16(token[1:]) != kemX25519 ||
		binary.BigEndian.Uint16(token[3:]) != hpkeKDFSHA256 ||
		binary.BigEndian.Uint16(token[5:]) != hpkeAEADAES256 {
		return nil, authErr
	}
	enc := token[tokenHeaderSize : tokenHeaderSize+tokenEncSize]
	r, err := hpke.NewRecipient(enc, identity, hpke.HKDFSHA256(), hpke.AES256GCM(), tokenInfo(info))
	if err != nil {
		return nil, authErr
	}
	dk, err := r.Open(token[:tokenHeaderSize], token[tokenHeaderSize+tokenEncSize:])
	if err != nil || len(dk) != keySize {
		clear(dk)
		return nil, authErr
	}
	return dk, nil
}

// MAC returns HMAC-SHA256(K_label, msg), where
//
//	K_label = HKDF-Expand-SHA256(DK, "trent/mac/v1" || 0x00 || label, 32).
//
// Every HSM holding the domain key computes the same tag, so the cluster
// uses it for grant tokens and similar tags. label must not be empty and
// should name the purpose ("grant-token/v1"); different labels give
// independent keys.
func (h *HSM) MAC(ctx context.Context, label string, msg []byte) (_ []byte, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	defer func(start time.Time) { h.conf.done("MAC", start, err) }(h.conf.start())
	if label == "" {
		return nil, errors.New("soft: empty MAC label")
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if err := h.usable(); err != nil {
		return nil, err
	}
	k, err := hkdf.Expand(sha256.New, h.macRootLocked(), macLabel+"\x00"+label, keySize)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return MACWithKey(k, msg), nil
}

// macRootLocked is the key MACs derive from: the first domain key the HSM
// had, kept apart once a rotation replaced it. h.mu is held.
func (h *HSM) macRootLocked() []byte {
	if h.macRoot != nil {
		return h.macRoot
	}
	return h.dk
}
