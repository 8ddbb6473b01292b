//go:build pkcs11 && cgo

package pkcs11

import (
	"context"

	"github.com/miekg/pkcs11"
	"github.com/trentkms/trent/hsm"
)

// Hooks for the external tests.

func (h *HSM) Reconnects() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.reconnects
}

func (h *HSM) CacheLen() int    { return h.cache.len() }
func (h *HSM) GCMUnwrap() bool  { return h.gcmUnwrap }
func (h *HSM) Sessions() int    { return h.sessions }
func (h *HSM) Ctx() *pkcs11.Ctx { return h.p }

// State returns the persistent session, the slot and the handles of the
// current key's trent/domain and trent/ekt (0 without a domain key).
func (h *HSM) State() (main pkcs11.SessionHandle, slot uint, domain, ekt pkcs11.ObjectHandle) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if ks := h.st.cur; ks != nil {
		domain, ekt = ks.domain, ks.ekt
	}
	return h.st.main, h.st.slot, domain, ekt
}

// CachedHandle returns the session object of a cached key version, or 0.
func (h *HSM) CachedHandle(ref hsm.KeyRef) pkcs11.ObjectHandle {
	h.mu.RLock()
	defer h.mu.RUnlock()
	m := h.cache.get(&ref, h.st.gen)
	if m == nil {
		return 0
	}
	defer h.done(h.st, m)
	return m.handle
}

func (h *HSM) MessageKey(ctx context.Context, ref hsm.KeyRef, nonce [16]byte) ([]byte, error) {
	return h.messageKey(ctx, &ref, nonce)
}

var AuthError = authError

// WorkingCopies returns the session copies of trent/domain, trent/ekt,
// trent/ekt-wrap and trent/ekt-mac, and those token objects.
func (h *HSM) WorkingCopies() (copies, originals []pkcs11.ObjectHandle) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	ks := h.st.cur
	return []pkcs11.ObjectHandle{ks.domainWork, ks.ektWork, ks.wrapWork, ks.macWork},
		[]pkcs11.ObjectHandle{ks.domain, ks.ekt, ks.ektWrap, ks.ektMAC}
}

// AddDomainsRecord creates a trent/domains object with sequence number
// seq, as a change interrupted after it created its record would leave.
func (h *HSM) AddDomainsRecord(seq uint64, cur, root [16]byte, others ...[16]byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	rec := domainsRecord{seq: seq, cur: cur, root: root, others: others}
	_, err := h.p.CreateObject(h.st.main, objectTemplate(pkcs11.CKO_DATA, labelDomains, true, rec.marshal()))
	return err
}

// TokenObjects counts the token objects labelled label.
func (h *HSM) TokenObjects(label string) (int, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, class := range []uint{pkcs11.CKO_DATA, pkcs11.CKO_SECRET_KEY} {
		objs, err := h.findAll(h.st.main, class, label)
		if err != nil {
			return 0, err
		}
		n += len(objs)
	}
	return n, nil
}
