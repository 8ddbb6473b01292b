//go:build pkcs11 && cgo

package pkcs11

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/miekg/pkcs11"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/soft"
)

// Domain-key rotation (docs/hsm.md, "Rotating the domain key"), with the
// semantics of package soft: the token may hold several domain keys, the
// current one and others beside it (a new key before the cluster switches
// to it, the old one until it is retired); an EKT opens under whichever
// held key it names; MAC keeps the first key (the MAC root).
//
// Each domain key is a key set: the objects trent/domain, trent/ekt,
// trent/ekt-wrap, trent/ekt-mac, trent/escrow-key and trent/escrow (see
// the package documentation), each with CKA_ID = the key's id (a token
// from before rotations has one set without CKA_ID; trent/escrow, a data
// object, carries the id in hex in CKA_APPLICATION). Which sets are held,
// which is current and which is the MAC root is a data object,
// trent/domains. Tokens need not let CKA_VALUE of a data object change
// (SoftHSMv2 does not), so a change creates a new trent/domains with the
// next sequence number, which takes effect at once, then destroys the
// old one; a start that finds two keeps the higher:
//
//	off len field
//	0   1   version = 0x01
//	1   8   sequence number, big-endian
//	9   16  current domain key id
//	25  16  MAC root's domain key id
//	41  1   n, the number of other held keys (0 to maxHeldKeys-1)
//	42  16n their ids, sorted
//
// A token without trent/domains holds one set, current and MAC root. Sets
// are installed before trent/domains names them and destroyed after it
// stops naming them, so the next start destroys whatever a step
// interrupted by a crash left. A MAC root no longer held keeps only its
// trent/domain and escrow: it never opens an EKT again.
const (
	labelDomains   = "trent/domains"
	domainsVersion = 0x01
	maxHeldKeys    = 4 // as soft: the current key and three others
)

// keySet is one domain key's objects on the token. The working copies
// are session copies of the token objects (see workingCopies).
type keySet struct {
	dkid                                            [16]byte
	domain, ekt, escrowKey, escrow, ektWrap, ektMAC pkcs11.ObjectHandle
	domainWork, ektWork, wrapWork, macWork          pkcs11.ObjectHandle
}

// setObjects are the classes and labels of a key set's token objects, in
// the order of keySet.slots.
var setObjects = []struct {
	class uint
	label string
}{
	{pkcs11.CKO_SECRET_KEY, labelDomain},
	{pkcs11.CKO_SECRET_KEY, labelEKT},
	{pkcs11.CKO_SECRET_KEY, labelEscrowKey},
	{pkcs11.CKO_DATA, labelEscrow},
	{pkcs11.CKO_SECRET_KEY, labelEKTWrap},
	{pkcs11.CKO_SECRET_KEY, labelEKTMAC},
}

func (ks *keySet) slots() []*pkcs11.ObjectHandle {
	return []*pkcs11.ObjectHandle{&ks.domain, &ks.ekt, &ks.escrowKey, &ks.escrow, &ks.ektWrap, &ks.ektMAC}
}

// objects returns the set's token objects.
func (ks *keySet) objects() []pkcs11.ObjectHandle {
	var out []pkcs11.ObjectHandle
	for _, o := range ks.slots() {
		if *o != 0 {
			out = append(out, *o)
		}
	}
	return out
}

// complete reports whether the set has every object: it opens EKTs.
func (ks *keySet) complete() bool { return len(ks.objects()) == len(setObjects) }

// exportable reports whether the set has what a MAC root needs.
func (ks *keySet) exportable() bool { return ks.domain != 0 && ks.escrowKey != 0 && ks.escrow != 0 }

// domainsRecord is the content of trent/domains.
type domainsRecord struct {
	seq       uint64
	cur, root [16]byte
	others    [][16]byte
}

const domainsHeader = 1 + 8 + 16 + 16 + 1

func (r domainsRecord) marshal() []byte {
	b := binary.BigEndian.AppendUint64([]byte{domainsVersion}, r.seq)
	b = append(b, r.cur[:]...)
	b = append(b, r.root[:]...)
	b = append(b, byte(len(r.others)))
	for _, id := range r.others {
		b = append(b, id[:]...)
	}
	return b
}

func parseDomains(b []byte) (domainsRecord, bool) {
	var r domainsRecord
	if len(b) < domainsHeader || b[0] != domainsVersion {
		return r, false
	}
	n := int(b[domainsHeader-1])
	if n > maxHeldKeys-1 || len(b) != domainsHeader+16*n {
		return r, false
	}
	r.seq = binary.BigEndian.Uint64(b[1:9])
	r.cur, r.root = [16]byte(b[9:25]), [16]byte(b[25:41])
	for i := range n {
		r.others = append(r.others, [16]byte(b[domainsHeader+16*i:]))
	}
	return r, true
}

// record returns what trent/domains says of st.
func (st *tokenState) record() domainsRecord {
	return domainsRecord{seq: st.domainsSeq, cur: st.cur.dkid, root: st.root.dkid, others: st.otherIDs()}
}

// held returns the held key set dkid, current or not, or nil.
func (st *tokenState) held(dkid [16]byte) *keySet {
	if st.cur != nil && st.cur.dkid == dkid {
		return st.cur
	}
	return st.others[dkid]
}

// heldKey is held for an operation that needs the key set dkid: it
// refuses when the token has no domain key, or does not hold dkid.
func (st *tokenState) heldKey(dkid [16]byte) (*keySet, error) {
	if st.cur == nil {
		return nil, ErrNoDomainKey
	}
	if ks := st.held(dkid); ks != nil {
		return ks, nil
	}
	return nil, notHeld(dkid)
}

// otherIDs returns the ids of the keys held beside the current one, sorted.
func (st *tokenState) otherIDs() [][16]byte {
	ids := make([][16]byte, 0, len(st.others))
	for id := range st.others {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	return ids
}

// findAll returns the handles of the token objects of class labelled label.
func (h *HSM) findAll(s pkcs11.SessionHandle, class uint, label string) ([]pkcs11.ObjectHandle, error) {
	if err := h.p.FindObjectsInit(s, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}); err != nil {
		return nil, fmt.Errorf("pkcs11: finding %s: %w", label, err)
	}
	defer h.p.FindObjectsFinal(s)
	var all []pkcs11.ObjectHandle
	for {
		found, _, err := h.p.FindObjects(s, 16)
		if err != nil {
			return nil, fmt.Errorf("pkcs11: finding %s: %w", label, err)
		}
		if len(found) == 0 {
			return all, nil
		}
		all = append(all, found...)
	}
}

// setID returns the id of the key set object o belongs to: its CKA_ID,
// or for a data object (which has none) its CKA_APPLICATION decoded
// from hex. The sets of a token from before rotations have none.
func (h *HSM) setID(s pkcs11.SessionHandle, class uint, o pkcs11.ObjectHandle) (string, error) {
	if class != pkcs11.CKO_DATA {
		a, err := h.p.GetAttributeValue(s, o, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, nil)})
		if err != nil {
			return "", err
		}
		return string(a[0].Value), nil
	}
	a, err := h.p.GetAttributeValue(s, o, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_APPLICATION, nil)})
	if err != nil {
		return "", err
	}
	id, err := hex.DecodeString(string(a[0].Value))
	if err != nil {
		return "application " + string(a[0].Value), nil // in no set: destroyed
	}
	return string(id), nil
}

// loadDomains finds the key sets and trent/domains and fills in st's
// domain keys. What belongs to no held key, or to an import that did not
// finish, goes to st.garbage for setup to destroy.
func (h *HSM) loadDomains(st *tokenState) error {
	s := st.main
	st.others = map[[16]byte]*keySet{}
	groups := map[string]*keySet{}
	for i, so := range setObjects {
		objs, err := h.findAll(s, so.class, so.label)
		if err != nil {
			return err
		}
		for _, o := range objs {
			id, err := h.setID(s, so.class, o)
			if err != nil {
				return fmt.Errorf("pkcs11: reading the id of %s: %w", so.label, err)
			}
			ks := groups[id]
			if ks == nil {
				ks = &keySet{}
				groups[id] = ks
			}
			if slot := ks.slots()[i]; *slot == 0 {
				*slot = o
			} else {
				return fmt.Errorf("pkcs11: token %q has more than one %s with id %x", h.label, so.label, id)
			}
		}
	}
	byID := map[[16]byte]*keySet{}
	for _, ks := range groups {
		if ks.domain == 0 { // an install that did not finish
			st.garbage = append(st.garbage, ks.objects()...)
			continue
		}
		id, err := h.sign(s, ks.domain, []byte(dkidLabel+"\x01"))
		if err != nil {
			return fmt.Errorf("pkcs11: domain key id: %w", err)
		}
		ks.dkid = [16]byte(id[:16])
		if other := byID[ks.dkid]; other != nil { // the same key twice: keep the fuller set
			if len(other.objects()) >= len(ks.objects()) {
				ks, other = other, ks
			}
			st.garbage = append(st.garbage, other.objects()...)
		}
		byID[ks.dkid] = ks
	}
	rec, err := h.loadRecord(st)
	if err != nil {
		return err
	}
	if st.domains == 0 {
		if len(byID) > 1 { // an import with held keys, interrupted
			return h.discardDomains(st, byID)
		}
		for _, ks := range byID {
			if !ks.complete() {
				return fmt.Errorf("pkcs11: token %q has %s but not all of %s, %s, %s, %s, %s",
					h.label, labelDomain, labelEKT, labelEscrowKey, labelEscrow, labelEKTWrap, labelEKTMAC)
			}
			rec.cur, rec.root = ks.dkid, ks.dkid
		}
		if len(byID) == 0 {
			return nil
		}
	}
	cur := byID[rec.cur]
	if cur == nil || !cur.complete() {
		// Only an import installs the current key after trent/domains.
		return h.discardDomains(st, byID)
	}
	st.cur = cur
	for _, id := range rec.others {
		ks := byID[id]
		if ks == nil || !ks.complete() {
			return fmt.Errorf("pkcs11: token %q: a held domain key's objects are missing", h.label)
		}
		st.others[id] = ks
	}
	if st.root = byID[rec.root]; st.root == nil || !st.root.exportable() {
		return fmt.Errorf("pkcs11: token %q: the MAC root's objects are missing", h.label)
	}
	if st.held(rec.root) == nil { // a retirement may have stopped half way
		for _, o := range []*pkcs11.ObjectHandle{&st.root.ekt, &st.root.ektWrap, &st.root.ektMAC} {
			if *o != 0 {
				st.garbage = append(st.garbage, *o)
				*o = 0
			}
		}
	}
	for id, ks := range byID {
		if st.held(id) == nil && ks != st.root {
			st.garbage = append(st.garbage, ks.objects()...)
		}
	}
	for _, ks := range append(slices.Collect(maps.Values(st.others)), st.cur, st.root) {
		if ks.domainWork == 0 {
			h.workingCopies(st, ks)
		}
	}
	return nil
}

// dropGarbage destroys what loadDomains found of no held key: what an
// install, import, rotation step or retirement interrupted by a crash or
// a lost session left. Left in place, a set would clash with the same
// key installed again. h.mu is held for writing (or st not yet shared).
func (h *HSM) dropGarbage(st *tokenState) {
	for _, o := range st.garbage {
		h.p.DestroyObject(st.main, o)
	}
	st.garbage = nil
}

// discardDomains sends every domain object to st.garbage: an import that
// did not finish, which the node repeats.
func (h *HSM) discardDomains(st *tokenState, byID map[[16]byte]*keySet) error {
	for _, ks := range byID {
		st.garbage = append(st.garbage, ks.objects()...)
	}
	if st.domains != 0 {
		st.garbage = append(st.garbage, st.domains)
		st.domains = 0
	}
	return nil
}

// loadRecord finds trent/domains and returns the newest record; older
// ones (a change interrupted before it destroyed them) go to st.garbage.
func (h *HSM) loadRecord(st *tokenState) (domainsRecord, error) {
	var rec domainsRecord
	objs, err := h.findAll(st.main, pkcs11.CKO_DATA, labelDomains)
	if err != nil {
		return rec, err
	}
	for _, o := range objs {
		a, err := h.p.GetAttributeValue(st.main, o, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
		if err != nil {
			return rec, fmt.Errorf("pkcs11: reading %s: %w", labelDomains, err)
		}
		r, ok := parseDomains(a[0].Value)
		switch {
		case !ok:
			return rec, fmt.Errorf("pkcs11: token %q: %s is malformed", h.label, labelDomains)
		case st.domains == 0 || r.seq > rec.seq:
			if st.domains != 0 {
				st.garbage = append(st.garbage, st.domains)
			}
			st.domains, rec = o, r
		default:
			st.garbage = append(st.garbage, o)
		}
	}
	st.domainsSeq = rec.seq
	return rec, nil
}

// saveDomains makes rec, with the next sequence number, the token's
// trent/domains: it creates the new object, then destroys the old one.
func (h *HSM) saveDomains(st *tokenState, rec domainsRecord) error {
	rec.seq = st.domainsSeq + 1
	o, err := h.p.CreateObject(st.main, objectTemplate(pkcs11.CKO_DATA, labelDomains, true, rec.marshal()))
	if err != nil {
		return fmt.Errorf("pkcs11: creating %s: %w", labelDomains, err)
	}
	if st.domains != 0 {
		h.p.DestroyObject(st.main, st.domains) // if it stays, the next start does it
	}
	st.domains, st.domainsSeq = o, rec.seq
	return nil
}

// destroySet destroys a key set's token objects and working copies; with
// onlyEKT, only those that open EKTs (a MAC root retired as a held key).
func (h *HSM) destroySet(st *tokenState, ks *keySet, onlyEKT bool) {
	pairs := [][2]*pkcs11.ObjectHandle{{&ks.ekt, &ks.ektWork}, {&ks.ektWrap, &ks.wrapWork}, {&ks.ektMAC, &ks.macWork}}
	if !onlyEKT {
		pairs = append(pairs, [2]*pkcs11.ObjectHandle{&ks.domain, &ks.domainWork},
			[2]*pkcs11.ObjectHandle{&ks.escrowKey, nil}, [2]*pkcs11.ObjectHandle{&ks.escrow, nil})
	}
	for _, p := range pairs {
		if w := p[1]; w != nil && *w != 0 && *w != *p[0] {
			h.p.DestroyObject(st.main, *w)
		}
		if *p[0] != 0 {
			h.p.DestroyObject(st.main, *p[0])
		}
		*p[0] = 0
		if p[1] != nil {
			*p[1] = 0
		}
	}
}

func domainKeyID(dk []byte) ([16]byte, error) {
	id, err := hkdf.Expand(sha256.New, dk, dkidLabel, 16)
	if err != nil {
		return [16]byte{}, err
	}
	return [16]byte(id), nil
}

// installExport installs what a domain export carries: the current key
// dk, the MAC root (nil: dk) and the other held keys. The current key
// goes last, after trent/domains names it: a start that finds
// trent/domains without it discards the rest. h.mu is held for writing.
func (h *HSM) installExport(st *tokenState, dk, macRoot []byte, held [][]byte) (err error) {
	if macRoot == nil && len(held) == 0 {
		ks, err := h.install(st, dk, true)
		if err != nil {
			return err
		}
		st.cur, st.root = ks, ks
		return nil
	}
	rec := domainsRecord{}
	if rec.cur, err = domainKeyID(dk); err != nil {
		return err
	}
	others := map[[16]byte]*keySet{}
	var root *keySet
	defer func() {
		if err == nil {
			return
		}
		for _, ks := range others {
			h.destroySet(st, ks, false)
		}
		if root != nil && others[root.dkid] != root {
			h.destroySet(st, root, false)
		}
		if st.domains != 0 {
			h.p.DestroyObject(st.main, st.domains)
			st.domains = 0
		}
	}()
	for _, k := range held {
		id, err := domainKeyID(k)
		if err != nil {
			return err
		}
		if id == rec.cur || others[id] != nil {
			continue
		}
		ks, err := h.install(st, k, true)
		if err != nil {
			return err
		}
		others[id] = ks
		rec.others = append(rec.others, id)
	}
	slices.SortFunc(rec.others, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	rec.root = rec.cur
	if macRoot != nil {
		if rec.root, err = domainKeyID(macRoot); err != nil {
			return err
		}
		switch root = others[rec.root]; {
		case rec.root == rec.cur:
			root = nil
		case root == nil:
			if root, err = h.install(st, macRoot, false); err != nil {
				return err
			}
		}
	}
	if err := h.saveDomains(st, rec); err != nil {
		return err
	}
	cur, err := h.install(st, dk, true)
	if err != nil {
		return err
	}
	if root == nil {
		root = cur
	}
	st.cur, st.root, st.others = cur, root, others
	return nil
}

// The PKCS#11 HSM rotates domain keys.
var _ hsm.DomainRotator = (*HSM)(nil)

// errTooManyKeys is returned when a rotation would hold more than
// maxHeldKeys domain keys: retire one first.
var errTooManyKeys = errors.New("pkcs11: too many domain keys held; retire one first")

// notHeld is the error for a domain key the token does not hold.
func notHeld(dkid [16]byte) error {
	return fmt.Errorf("pkcs11: domain key %x is not held: %w", dkid, hsm.ErrNoDomainKey)
}

// hold installs dk as a key set beside the current one and names it in
// trent/domains; holding it already does nothing. h.mu is held for
// writing.
func (h *HSM) hold(st *tokenState, dk []byte) ([16]byte, error) {
	dkid, err := domainKeyID(dk)
	if err != nil {
		return dkid, err
	}
	switch {
	case st.held(dkid) != nil:
		return dkid, nil
	case st.root.dkid == dkid:
		// Never in a rotation: new keys are random.
		return dkid, fmt.Errorf("pkcs11: domain key %x was retired and cannot be held again", dkid)
	case 1+len(st.others) >= maxHeldKeys:
		return dkid, errTooManyKeys
	}
	rec := st.record()
	// trent/domains first, naming what is held now: a second set found
	// without it would be taken for an interrupted import.
	if st.domains == 0 {
		if err := h.saveDomains(st, rec); err != nil {
			return dkid, err
		}
	}
	ks, err := h.install(st, dk, true)
	if err != nil {
		return dkid, err
	}
	rec.others = append(rec.others, dkid)
	slices.SortFunc(rec.others, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	if err := h.saveDomains(st, rec); err != nil {
		h.destroySet(st, ks, false)
		return dkid, err
	}
	st.others[dkid] = ks
	return dkid, nil
}

// NewDomainKey generates a domain key with the token's generator and
// holds it beside the current one, durably; GenerateKey keeps using the
// current one until UseDomainKey. As on bootstrap, the key passes through
// host memory while its objects and escrow are made.
func (h *HSM) NewDomainKey(ctx context.Context) ([16]byte, error) {
	var dkid [16]byte
	err := h.exclusive(ctx, func(st *tokenState) error {
		if st.cur == nil {
			return ErrNoDomainKey
		}
		dk, err := h.p.GenerateRandom(st.main, keySize)
		if err != nil {
			return fmt.Errorf("pkcs11: C_GenerateRandom: %w", err)
		}
		defer clear(dk)
		dkid, err = h.hold(st, dk)
		return err
	})
	return dkid, err
}

// ExportDomainKey seals the held domain key dkid to recipientPub in
// domain token format v1, as ExportDomain does the current one (without
// the extras: the recipient holds the MAC root).
func (h *HSM) ExportDomainKey(ctx context.Context, dkid [16]byte, recipientPub, info []byte) ([]byte, error) {
	var token []byte
	err := h.op(ctx, func(st *tokenState, s pkcs11.SessionHandle) error {
		ks, err := st.heldKey(dkid)
		if err != nil {
			return err
		}
		dk, err := h.escrowed(s, ks)
		if err != nil {
			return err
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

// AddDomainKey opens a token made by ExportDomainKey (of either backend)
// for this one with the same info and holds its key beside the current
// one, durably. Adding a key already held does nothing.
func (h *HSM) AddDomainKey(ctx context.Context, token, info []byte) ([16]byte, error) {
	var dkid [16]byte
	err := h.exclusive(ctx, func(st *tokenState) error {
		if st.cur == nil {
			return ErrNoDomainKey
		}
		priv, err := h.identityKey(st)
		if err != nil {
			return err
		}
		dk, _, err := soft.OpenDomainToken(priv, token, info)
		if err != nil {
			return err
		}
		defer clear(dk)
		dkid, err = h.hold(st, dk)
		return err
	})
	return dkid, err
}

// UseDomainKey makes the held domain key dkid current: GenerateKey wraps
// under it and DomainKeyID names it. The key it replaces stays held.
func (h *HSM) UseDomainKey(ctx context.Context, dkid [16]byte) error {
	return h.exclusive(ctx, func(st *tokenState) error {
		switch {
		case st.cur == nil:
			return ErrNoDomainKey
		case st.cur.dkid == dkid:
			return nil
		case st.others[dkid] == nil:
			return notHeld(dkid)
		}
		rec := st.record()
		rec.cur = dkid
		rec.others = slices.DeleteFunc(rec.others, func(id [16]byte) bool { return id == dkid })
		rec.others = append(rec.others, st.cur.dkid)
		slices.SortFunc(rec.others, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
		if err := h.saveDomains(st, rec); err != nil {
			return err
		}
		st.others[st.cur.dkid] = st.cur
		st.cur = st.others[dkid]
		delete(st.others, dkid)
		return nil
	})
}

// RewrapEKT opens ref.EKT under the held domain key it names and wraps
// the material under the held key dkid, bound to the same ids and spec.
// SymmetricDefault material is unwrapped in the token into a sensitive
// session key and wrapped there (EKT v2), as GenerateKey does; it passes
// through host memory only where opening an EKT v1 does (see the package
// documentation). Other specs, which only soft nodes make (EKT v1), are
// decrypted and encrypted again in the token (C_Decrypt, C_Encrypt with
// AES-GCM under trent/ekt), the material passing through host memory: a
// PKCS#11 node leading a mixed cluster re-wraps them too.
func (h *HSM) RewrapEKT(ctx context.Context, ref hsm.KeyRef, dkid [16]byte) ([]byte, error) {
	var ekt []byte
	err := h.op(ctx, func(st *tokenState, s pkcs11.SessionHandle) error {
		to, err := st.heldKey(dkid)
		if err != nil {
			return err
		}
		if ref.Spec != hsm.SymmetricDefault {
			ekt, err = h.rewrapV1(st, s, &ref, to)
			return err
		}
		h.objMu.Lock()
		defer h.objMu.Unlock()
		o, err := h.unwrap(st, &ref, wrappableTemplate)
		if err != nil {
			return err
		}
		defer h.p.DestroyObject(st.main, o)
		ekt, err = h.wrapEKT(st, to, o, ref.Spec, ref.KeyID, ref.VersionID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ekt, nil
}

// rewrapV1 re-encrypts an EKT v1 (soft's format, any spec) under to's
// trent/ekt. Failures to open it are hsm.ErrAuthentication.
func (h *HSM) rewrapV1(st *tokenState, s pkcs11.SessionHandle, ref *hsm.KeyRef, to *keySet) ([]byte, error) {
	e := ref.EKT
	if len(e) <= ektHeaderSize+ivSize+tagSize || e[0] != ektVersion || e[1] != byte(ref.Spec) {
		return nil, hsm.ErrAuthentication
	}
	from := st.held([16]byte(e[2:ektHeaderSize]))
	if from == nil {
		return nil, hsm.ErrAuthentication
	}
	m, err := h.decryptGCM(s, from.ektWork, ektAAD(e[:ektHeaderSize], ref.KeyID, ref.VersionID), e[ektHeaderSize:])
	if err != nil {
		return nil, err
	}
	defer clear(m)
	header := append([]byte{ektVersion, byte(ref.Spec)}, to.dkid[:]...)
	body, err := h.encryptGCM(s, to.ektWork, ektAAD(header, ref.KeyID, ref.VersionID), m)
	if err != nil {
		return nil, err
	}
	return append(header, body...), nil
}

// DestroyDomainKey destroys the held domain key dkid, durably, and the
// cached material unwrapped under it. The current key cannot be
// destroyed; destroying a key not held does nothing. The MAC root keeps
// its trent/domain (MAC) and escrow (ExportDomain).
func (h *HSM) DestroyDomainKey(ctx context.Context, dkid [16]byte) error {
	return h.exclusive(ctx, func(st *tokenState) error {
		switch {
		case st.cur == nil:
			return ErrNoDomainKey
		case st.cur.dkid == dkid:
			return errors.New("pkcs11: the current domain key cannot be destroyed")
		case st.others[dkid] == nil:
			return nil
		}
		ks := st.others[dkid]
		rec := st.record()
		rec.others = slices.DeleteFunc(rec.others, func(id [16]byte) bool { return id == dkid })
		if err := h.saveDomains(st, rec); err != nil {
			return err
		}
		delete(st.others, dkid)
		h.objMu.Lock()
		defer h.objMu.Unlock()
		h.destroySet(st, ks, ks == st.root)
		h.destroyLocked(st, h.cache.forgetDomain(dkid)...)
		return nil
	})
}

// DomainKeyIDs returns the ids of the domain keys held, the current first.
func (h *HSM) DomainKeyIDs() [][16]byte {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed || h.st.cur == nil {
		return nil
	}
	return append([][16]byte{h.st.cur.dkid}, h.st.otherIDs()...)
}
