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

// State returns the persistent session, the slot and the handles of
// trent/domain and trent/ekt.
func (h *HSM) State() (main pkcs11.SessionHandle, slot uint, domain, ekt pkcs11.ObjectHandle) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.st.main, h.st.slot, h.st.domain, h.st.ekt
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
	st := h.st
	return []pkcs11.ObjectHandle{st.domainWork, st.ektWork, st.wrapWork, st.macWork},
		[]pkcs11.ObjectHandle{st.domain, st.ekt, st.ektWrap, st.ektMAC}
}
