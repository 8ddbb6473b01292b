//go:build pkcs11 && cgo

package pkcs11_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	p11 "github.com/miekg/pkcs11"
	"github.com/trentkms/trent/ciphertext"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/hsmtest"
	"github.com/trentkms/trent/hsm/pkcs11"
	"github.com/trentkms/trent/hsm/pkcs11/softhsmtest"
	"github.com/trentkms/trent/hsm/soft"
)

var ctx = context.Background()

func id(b byte) [16]byte { return [16]byte(bytes.Repeat([]byte{b}, 16)) }

func open(t testing.TB, cfg pkcs11.Config) *pkcs11.HSM {
	t.Helper()
	h, err := pkcs11.OpenHSM(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func newHSM(t testing.TB, s *softhsmtest.SoftHSM, domain bool) *pkcs11.HSM {
	t.Helper()
	cfg := s.Token(t, "t")
	cfg.WithDomain = domain
	return open(t, cfg)
}

func newSoft(t testing.TB, domain bool) *soft.HSM {
	t.Helper()
	h, err := soft.OpenNode(soft.NodeConfig{Dir: filepath.Join(t.TempDir(), "hsm"), WithDomain: domain})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func newKey(t testing.TB, b hsm.Backend, keyID, versionID [16]byte) hsm.KeyRef {
	t.Helper()
	ekt, err := b.GenerateKey(ctx, hsm.SymmetricDefault, keyID, versionID)
	if err != nil {
		t.Fatal(err)
	}
	return hsm.KeyRef{KeyID: keyID, VersionID: versionID, Spec: hsm.SymmetricDefault, EKT: ekt}
}

func roundTrip(t testing.TB, from, to hsm.Backend, ref hsm.KeyRef, pt []byte) {
	t.Helper()
	if err := tryRoundTrip(from, to, ref, pt); err != nil {
		t.Fatal(err)
	}
}

// tryRoundTrip is roundTrip for goroutines other than the test's.
func tryRoundTrip(from, to hsm.Backend, ref hsm.KeyRef, pt []byte) error {
	body, err := from.Seal(ctx, ref, id(3), []byte("aad"), pt)
	if err != nil {
		return fmt.Errorf("Seal: %w", err)
	}
	got, err := to.Open(ctx, ref, id(3), []byte("aad"), body)
	if err != nil || !bytes.Equal(got, pt) {
		return fmt.Errorf("Open = %q, %v; want %q", got, err, pt)
	}
	return nil
}

// TestMixedDomain: soft and pkcs11 backends pass the domain key to each
// other (soft -> pkcs11 -> soft), then every EKT and body made by one
// opens on the others, and MACs agree.
func TestMixedDomain(t *testing.T) {
	s := softhsmtest.New(t)
	a := newSoft(t, true)
	b := newHSM(t, s, false)
	hsmtest.Transfer(t, a, b, "cluster/node2")
	c := newSoft(t, false)
	hsmtest.Transfer(t, b, c, "cluster/node3")
	d := newHSM(t, s, false)
	hsmtest.Transfer(t, b, d, "cluster/node4")
	all := []hsm.Backend{a, b, c, d}
	for _, x := range all {
		if x.DomainKeyID() != a.DomainKeyID() {
			t.Fatalf("%s: DomainKeyID differs", x.Capabilities().Name)
		}
	}
	for i, gen := range all {
		ref := newKey(t, gen, id(byte(i+1)), id(9))
		for _, to := range all {
			roundTrip(t, gen, to, ref, []byte("mixed"))
		}
	}
	want, _ := a.MAC(ctx, "grant-token/v1", []byte("m"))
	for _, x := range all[1:] {
		if got, _ := x.MAC(ctx, "grant-token/v1", []byte("m")); !bytes.Equal(got, want) {
			t.Fatalf("%s: MAC differs from soft's", x.Capabilities().Name)
		}
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ektV1 builds an EKT in soft's format v1 for material under dk, from the
// format's definition (so it also pins that format).
func ektV1(t *testing.T, dk, material []byte, keyID, versionID [16]byte) []byte {
	t.Helper()
	ektKey, _ := hkdf.Expand(sha256.New, dk, "trent/ekt/v1", 32)
	dkid, _ := hkdf.Expand(sha256.New, dk, "trent/dkid/v1", 16)
	header := append([]byte{1, byte(hsm.SymmetricDefault)}, dkid...)
	block, _ := aes.NewCipher(ektKey)
	gcm, _ := cipher.NewGCM(block)
	iv := make([]byte, 12)
	aad := append(append(bytes.Clone(header), keyID[:]...), versionID[:]...)
	return append(append(header, iv...), gcm.Seal(nil, iv, material, aad)...)
}

// TestGoldenVectors: with a known domain key installed through a domain
// token, the PKCS#11 backend derives the golden per-message keys in the
// token and opens the golden bodies soft's vectors pin.
func TestGoldenVectors(t *testing.T) {
	raw, err := os.ReadFile("../soft/testdata/sym_v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Vectors []struct {
			Name       string `json:"name"`
			Material   string `json:"material"`
			KeyID      string `json:"key_id"`
			VersionID  string `json:"version_id"`
			Nonce      string `json:"nonce"`
			Plaintext  string `json:"plaintext"`
			MessageKey string `json:"message_key"`
			AAD        string `json:"aad"`
			Body       string `json:"body"`
			Blob       string `json:"blob"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &g); err != nil || len(g.Vectors) == 0 {
		t.Fatalf("golden file: %v", err)
	}
	s := softhsmtest.New(t)
	h := newHSM(t, s, false)
	dk := bytes.Repeat([]byte{0x42}, 32)
	token, err := soft.SealDomainToken(h.IdentityPublicKey(), dk, []byte("golden"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.ImportDomain(ctx, token, []byte("golden")); err != nil {
		t.Fatal(err)
	}
	for _, v := range g.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			b, err := ciphertext.Parse(unhex(t, v.Blob))
			if err != nil {
				t.Fatal(err)
			}
			ref := hsm.KeyRef{KeyID: b.KeyID, VersionID: b.VersionID, Spec: hsm.SymmetricDefault}
			ref.EKT = ektV1(t, dk, unhex(t, v.Material), ref.KeyID, ref.VersionID)
			k, err := h.MessageKey(ctx, ref, b.Nonce)
			if err != nil || hex.EncodeToString(k) != v.MessageKey {
				t.Fatalf("message key = %x, %v; want %s", k, err, v.MessageKey)
			}
			pt, err := h.Open(ctx, ref, b.Nonce, unhex(t, v.AAD), unhex(t, v.Body))
			if err != nil || hex.EncodeToString(pt) != v.Plaintext {
				t.Fatalf("Open = %x, %v; want %s", pt, err, v.Plaintext)
			}
		})
	}
}

// TestSoftHSMQuirks pins what SoftHSMv2 does that the backend works
// around, so that a SoftHSM upgrade that changes it is noticed.
func TestSoftHSMQuirks(t *testing.T) {
	s := softhsmtest.New(t)
	h := newHSM(t, s, true)
	p := h.Ctx()
	main, slot, _, ekt := h.State()

	t.Run("no AES-GCM unwrap", func(t *testing.T) {
		mi, err := p.GetMechanismInfo(slot, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, nil)})
		if err != nil {
			t.Fatal(err)
		}
		if mi.Flags&p11.CKF_UNWRAP != 0 || h.GCMUnwrap() {
			t.Fatalf("SoftHSM now unwraps with AES-GCM (flags %#x, backend uses it: %v): test the C_UnwrapKey path", mi.Flags, h.GCMUnwrap())
		}
	})
	t.Run("wrong GCM tag is CKR_GENERAL_ERROR", func(t *testing.T) {
		gp := p11.NewGCMParams(make([]byte, 12), []byte("aad"), 128)
		defer gp.Free()
		if err := p.DecryptInit(main, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, gp)}, ekt); err != nil {
			t.Fatal(err)
		}
		_, err := p.Decrypt(main, make([]byte, 48))
		var rv p11.Error
		if !errors.As(err, &rv) || rv != p11.CKR_GENERAL_ERROR {
			t.Fatalf("C_Decrypt with a wrong tag: %v, want CKR_GENERAL_ERROR", err)
		}
		if !errors.Is(pkcs11.AuthError(err), hsm.ErrAuthentication) {
			t.Fatal("CKR_GENERAL_ERROR is not mapped to ErrAuthentication")
		}
		// The backend answers an EKT v1 (a soft node's, decrypted in the
		// token) with a bad tag with ErrAuthentication and keeps its
		// sessions: no reconnect.
		sh := newSoft(t, false)
		hsmtest.Transfer(t, h, sh, "quirk")
		ref := newKey(t, sh, id(1), id(2))
		bad := ref
		bad.EKT = bytes.Clone(ref.EKT)
		bad.EKT[len(bad.EKT)-1] ^= 1
		if _, err := h.Seal(ctx, bad, id(3), nil, nil); !errors.Is(err, hsm.ErrAuthentication) {
			t.Fatalf("Seal with a bad EKT tag: %v", err)
		}
		if n := h.Reconnects(); n != 0 {
			t.Fatalf("a bad tag made the backend reconnect %d times", n)
		}
		roundTrip(t, h, sh, ref, []byte("still fine"))
	})
	t.Run("EKTs are key wrap plus MAC", func(t *testing.T) {
		// GenerateKey wraps in the token: format v2, which soft reads.
		ref := newKey(t, h, id(6), id(2))
		if ref.EKT[0] != 2 || len(ref.EKT) != 90 {
			t.Fatalf("EKT = %x, want format v2 (90 bytes)", ref.EKT)
		}
		sh := newSoft(t, false)
		hsmtest.Transfer(t, h, sh, "v2")
		roundTrip(t, h, sh, ref, []byte("v2"))
	})
	t.Run("keys are sensitive and not extractable", func(t *testing.T) {
		ref := newKey(t, h, id(4), id(2))
		roundTrip(t, h, h, ref, []byte("cache it"))
		objects := map[string]p11.ObjectHandle{"material": h.CachedHandle(ref)}
		copies, originals := h.WorkingCopies()
		for i, name := range []string{"domain", "ekt", "ekt-wrap", "ekt-mac"} {
			if copies[i] == originals[i] {
				t.Fatalf("no session working copy of trent/%s", name)
			}
			objects[name], objects[name+" working copy"] = originals[i], copies[i]
		}
		for name, o := range objects {
			if o == 0 {
				t.Fatalf("%s: no object", name)
			}
			_, err := p.GetAttributeValue(main, o, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
			var rv p11.Error
			if !errors.As(err, &rv) || rv != p11.CKR_ATTRIBUTE_SENSITIVE {
				t.Errorf("%s: reading CKA_VALUE: %v, want CKR_ATTRIBUTE_SENSITIVE", name, err)
			}
			attrs, err := p.GetAttributeValue(main, o, []*p11.Attribute{p11.NewAttribute(p11.CKA_EXTRACTABLE, nil), p11.NewAttribute(p11.CKA_SENSITIVE, nil)})
			if err != nil || attrs[0].Value[0] != 0 || attrs[1].Value[0] != 1 {
				t.Errorf("%s: CKA_EXTRACTABLE, CKA_SENSITIVE = %v, %v; want false, true", name, attrs, err)
			}
		}
	})
	t.Run("module shared by backends", func(t *testing.T) {
		// A second backend on the same module initializes nothing anew
		// (CKR_CRYPTOKI_ALREADY_INITIALIZED) and closing it leaves the
		// first one working (no C_Finalize under it).
		other := newHSM(t, s, true)
		other.Close()
		roundTrip(t, h, h, newKey(t, h, id(5), id(2)), []byte("after"))
	})
}

// TestRecover: after the token forgets the login, or the sessions die
// (and with them every session object), the next call reconnects and
// succeeds.
func TestRecover(t *testing.T) {
	s := softhsmtest.New(t)
	h := newHSM(t, s, true)
	peer := newSoft(t, false)
	ref := newKey(t, h, id(1), id(2))
	body, err := h.Seal(ctx, ref, id(3), nil, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		name   string
		break_ func()
	}{
		{"logout (CKR_USER_NOT_LOGGED_IN)", func() {
			main, _, _, _ := h.State()
			if err := h.Ctx().Logout(main); err != nil {
				t.Fatal(err)
			}
		}},
		{"sessions closed (CKR_SESSION_HANDLE_INVALID)", func() {
			_, slot, _, _ := h.State()
			if err := h.Ctx().CloseAllSessions(slot); err != nil {
				t.Fatal(err)
			}
		}},
		{"library reset (CKR_CRYPTOKI_NOT_INITIALIZED)", func() {
			if err := h.Ctx().Finalize(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.break_()
			// ExportDomain reads trent/escrow, a private token object.
			if _, err := h.ExportDomain(ctx, peer.IdentityPublicKey(), nil); err != nil {
				t.Fatalf("ExportDomain after %s: %v", c.name, err)
			}
			if n := h.Reconnects(); n != i+1 {
				t.Fatalf("reconnects = %d, want %d", n, i+1)
			}
			got, err := h.Open(ctx, ref, id(3), nil, body)
			if err != nil || string(got) != "x" {
				t.Fatalf("Open after %s = %q, %v", c.name, got, err)
			}
		})
	}
}

// TestReopen: the token keeps the identity and the domain key; a new
// backend on it opens old EKTs.
func TestReopen(t *testing.T) {
	s := softhsmtest.New(t)
	cfg := s.Token(t, "reopen")
	cfg.WithDomain = true
	h := open(t, cfg)
	ref := newKey(t, h, id(1), id(2))
	body, _ := h.Seal(ctx, ref, id(3), nil, []byte("kept"))
	pub, dkid := h.IdentityPublicKey(), h.DomainKeyID()
	h.Close()
	cfg.WithDomain = false
	h2 := open(t, cfg)
	if !bytes.Equal(h2.IdentityPublicKey(), pub) || h2.DomainKeyID() != dkid {
		t.Fatal("identity or domain key changed across a reopen")
	}
	if got, err := h2.Open(ctx, ref, id(3), nil, body); err != nil || string(got) != "kept" {
		t.Fatalf("Open after reopen = %q, %v", got, err)
	}
}

// TestInterruptedInstall: objects of a domain install that did not finish
// (no trent/domain) are removed at the next start, which then has no
// domain key and imports one.
func TestInterruptedInstall(t *testing.T) {
	s := softhsmtest.New(t)
	cfg := s.Token(t, "half")
	cfg.WithDomain = true
	h := open(t, cfg)
	main, _, domain, _ := h.State()
	if err := h.Ctx().DestroyObject(main, domain); err != nil {
		t.Fatal(err)
	}
	h.Close()
	cfg.WithDomain = false
	h2 := open(t, cfg)
	if h2.DomainKeyID() != ([16]byte{}) {
		t.Fatal("a half-installed domain key is in use")
	}
	hsmtest.Transfer(t, newSoft(t, true), h2, "info")
	roundTrip(t, h2, h2, newKey(t, h2, id(1), id(2)), []byte("x"))
}

// TestTokenByLabel: the backend opens the token with its label whatever
// its slot, and refuses an unknown label.
func TestTokenByLabel(t *testing.T) {
	s := softhsmtest.New(t)
	a := s.Token(t, "first")
	b := s.Token(t, "second")
	hb := open(t, b)
	_, slotB, _, _ := hb.State()
	ha := open(t, a)
	if _, slotA, _, _ := ha.State(); slotA == slotB {
		t.Fatal("two tokens on one slot")
	}
	bad := a
	bad.TokenLabel = "missing"
	if _, err := pkcs11.OpenHSM(bad); err == nil {
		t.Fatal("opened a token that does not exist")
	}
	if _, err := pkcs11.OpenHSM(a); err == nil {
		t.Fatal("opened a token twice in one process")
	}
	wrong := s.Token(t, "third")
	wrong.PIN = []byte("0000")
	if _, err := pkcs11.OpenHSM(wrong); err == nil {
		t.Fatal("opened a token with a wrong PIN")
	}
}

// TestCacheBounded: the cache holds at most CacheSize session objects on
// the token, destroys what it evicts, and Forget destroys a key's objects.
func TestCacheBounded(t *testing.T) {
	s := softhsmtest.New(t)
	cfg := s.Token(t, "cache")
	cfg.WithDomain, cfg.CacheSize = true, 2
	h := open(t, cfg)
	refs := make([]hsm.KeyRef, 5)
	for i := range refs {
		refs[i] = newKey(t, h, id(byte(i+1)), id(9))
		roundTrip(t, h, h, refs[i], []byte("x"))
	}
	if n := h.CacheLen(); n != 2 {
		t.Fatalf("cache holds %d, want 2", n)
	}
	if n := sessionObjects(t, h); n != 2 {
		t.Fatalf("%d session objects on the token, want 2", n)
	}
	h.Forget(ctx, refs[4].KeyID)
	if n := sessionObjects(t, h); n != 1 {
		t.Fatalf("%d session objects after Forget, want 1", n)
	}
	roundTrip(t, h, h, refs[0], []byte("evicted, unwrapped again"))

	// Concurrent users of one key while it is evicted and forgotten.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 20 {
				if err := tryRoundTrip(h, h, refs[g%len(refs)], []byte("y")); err != nil {
					t.Error(err)
					return
				}
				h.Forget(ctx, refs[(g+1)%len(refs)].KeyID)
			}
		})
	}
	wg.Wait()
	for _, r := range refs {
		h.Forget(ctx, r.KeyID)
	}
	if n := sessionObjects(t, h); n != 0 {
		t.Fatalf("%d session objects left after forgetting every key", n)
	}
}

// sessionObjects counts the cached material objects on the token.
func sessionObjects(t *testing.T, h *pkcs11.HSM) int {
	t.Helper()
	main, _, _, _ := h.State()
	p := h.Ctx()
	if err := p.FindObjectsInit(main, []*p11.Attribute{p11.NewAttribute(p11.CKA_TOKEN, false)}); err != nil {
		t.Fatal(err)
	}
	defer p.FindObjectsFinal(main)
	found, _, err := p.FindObjects(main, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// Not counting the working copies.
	copies, _ := h.WorkingCopies()
	n := 0
	for _, o := range found {
		if !slices.Contains(copies, o) {
			n++
		}
	}
	return n
}

// TestWrongPINIsNotRetried: when a reconnect's login fails for the PIN
// (here: it was changed under the node), the backend stops trying, so as
// not to lock the token, and every call says why.
func TestWrongPINIsNotRetried(t *testing.T) {
	s := softhsmtest.New(t)
	h := newHSM(t, s, true)
	main, slot, _, _ := h.State()
	if err := h.Ctx().SetPIN(main, softhsmtest.UserPIN, "9999"); err != nil {
		t.Fatal(err)
	}
	if err := h.Ctx().CloseAllSessions(slot); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_, err := h.MAC(ctx, "l", nil)
		var rv p11.Error
		if !errors.As(err, &rv) || rv != p11.CKR_PIN_INCORRECT {
			t.Fatalf("MAC after the PIN changed: %v, want CKR_PIN_INCORRECT", err)
		}
	}
	if n := h.Reconnects(); n != 1 {
		t.Fatalf("%d reconnects (logins), want 1", n)
	}
}

// TestConcurrentReconnect: calls in flight when the sessions die all
// reconnect through one new login and succeed.
func TestConcurrentReconnect(t *testing.T) {
	s := softhsmtest.New(t)
	h := newHSM(t, s, true)
	refs := []hsm.KeyRef{newKey(t, h, id(1), id(2)), newKey(t, h, id(2), id(2))}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			<-start
			for range 10 {
				if err := tryRoundTrip(h, h, refs[g%2], []byte("through a reconnect")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	_, slot, _, _ := h.State()
	if err := h.Ctx().CloseAllSessions(slot); err != nil {
		t.Fatal(err)
	}
	close(start)
	wg.Wait()
	if n := h.Reconnects(); n != 1 {
		t.Fatalf("%d reconnects, want 1", n)
	}
}
