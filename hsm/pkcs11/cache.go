//go:build pkcs11 && cgo

package pkcs11

import (
	"bytes"
	"container/list"
	"sync"

	"github.com/miekg/pkcs11"
	"github.com/trentkms/trent/hsm"
)

type cacheKey struct {
	keyID, versionID [16]byte
}

// material is an unwrapped key version: a session key object on the
// token. Users hold a reference (refs) while they use the handle; an entry
// evicted or forgotten while in use is destroyed by its last user.
type material struct {
	key    cacheKey
	spec   hsm.KeySpec
	ekt    []byte // the exact EKT it was unwrapped from
	handle pkcs11.ObjectHandle
	gen    uint64 // session generation that created the object

	refs    int  // guarded by handleCache.mu
	dropped bool // no longer in the cache; guarded by handleCache.mu
}

// handleCache is a bounded LRU of unwrapped material keyed by (keyID,
// versionID). A hit requires the caller's spec and EKT bytes to equal the
// entry's, so an entry never vouches for an EKT that did not itself
// authenticate. Safe for concurrent use; destroying objects is the
// caller's job (the returned lists), under the backend's object lock.
type handleCache struct {
	max int

	mu      sync.Mutex // guards the following fields
	entries map[cacheKey]*list.Element
	lru     list.List // of *material, most recently used first
	forgets uint64    // see generation
}

func newHandleCache(max int) *handleCache {
	return &handleCache{max: max, entries: make(map[cacheKey]*list.Element)}
}

// get returns the cached material for ref, referenced, or nil.
func (c *handleCache) get(ref *hsm.KeyRef, gen uint64) *material {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[cacheKey{ref.KeyID, ref.VersionID}]
	if !ok {
		return nil
	}
	m := el.Value.(*material)
	if m.spec != ref.Spec || m.gen != gen || !bytes.Equal(m.ekt, ref.EKT) {
		return nil
	}
	c.lru.MoveToFront(el)
	m.refs++
	return m
}

// generation returns the number of forget calls so far, to pass to put.
func (c *handleCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.forgets
}

// put caches m (referenced once, for the caller) unless a forget came
// after generation was read, or the cache is disabled. It returns the
// entries the caller must destroy: evicted ones no one uses.
func (c *handleCache) put(m *material, generation uint64) (destroy []*material) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m.refs = 1
	if c.max <= 0 || c.forgets != generation {
		m.dropped = true
		return nil
	}
	if old, ok := c.entries[m.key]; ok {
		destroy = c.drop(old, destroy)
	}
	c.entries[m.key] = c.lru.PushFront(m)
	for c.lru.Len() > c.max {
		destroy = c.drop(c.lru.Back(), destroy)
	}
	return destroy
}

// release drops the caller's reference to m and reports whether the
// caller must destroy it (no longer cached, no other user).
func (c *handleCache) release(m *material) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	m.refs--
	return m.dropped && m.refs == 0
}

// drop removes el from the cache; it is appended to destroy if unused.
// c.mu must be held.
func (c *handleCache) drop(el *list.Element, destroy []*material) []*material {
	m := c.lru.Remove(el).(*material)
	delete(c.entries, m.key)
	m.dropped = true
	if m.refs == 0 {
		destroy = append(destroy, m)
	}
	return destroy
}

// forget drops every version of keyID and returns those to destroy now.
func (c *handleCache) forget(keyID [16]byte) []*material {
	return c.forgetIf(func(m *material) bool { return m.key.keyID == keyID })
}

// forgetDomain drops the material unwrapped from EKTs under the domain
// key dkid (being destroyed) and returns those to destroy now.
func (c *handleCache) forgetDomain(dkid [16]byte) []*material {
	return c.forgetIf(func(m *material) bool { id, _ := hsm.EKTDomainKeyID(m.ekt); return id == dkid })
}

// forgetIf drops the entries drop selects and returns those to destroy now.
func (c *handleCache) forgetIf(drop func(*material) bool) []*material {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgets++
	var destroy []*material
	for el := c.lru.Front(); el != nil; {
		next := el.Next()
		if drop(el.Value.(*material)) {
			destroy = c.drop(el, destroy)
		}
		el = next
	}
	return destroy
}

// purge empties the cache without returning anything to destroy: the
// caller is closing or has reopened the sessions, which destroyed the
// session objects.
func (c *handleCache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgets++
	for c.lru.Len() > 0 {
		c.drop(c.lru.Back(), nil)
	}
}

// len returns the number of cached entries.
func (c *handleCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
