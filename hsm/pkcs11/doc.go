// Package pkcs11 is Trent's PKCS#11 HSM backend: it implements
// [github.com/trentkms/trent/hsm.Backend] over a PKCS#11 token (Thales
// Luna, Entrust nShield, AWS CloudHSM, YubiHSM 2, SoftHSMv2) with
// github.com/miekg/pkcs11, and passes the conformance suite
// [github.com/trentkms/trent/hsm/hsmtest] against SoftHSMv2.
//
// It needs cgo and the build tag pkcs11 (go build -tags pkcs11). Without
// them [Open] fails with [ErrNotCompiled], so `trent node --hsm pkcs11`
// says the backend was not compiled in.
//
// # Compatibility with the soft backend
//
// A cluster may mix backends: every node opens EKTs, ciphertext bodies and
// domain tokens any other node made. So this backend writes exactly the
// formats of [github.com/trentkms/trent/hsm/soft] (domain token format v1,
// the per-message key and the MAC subkeys, all derived from the same
// 32-byte domain key DK) and reads its EKTs (format v1, AES-GCM). The EKTs
// it writes are format v2, key wrap plus a MAC tag, which soft reads too
// (see soft's ektwrap.go). docs/hsm.md describes them, and the
// cross-backend tests pin them.
//
// # Objects on the token
//
// The backend owns a token, chosen by label ([Config.TokenLabel]): slot ids
// are not stable (SoftHSMv2 assigns a random one at initialization). It
// keeps these token objects, all private (visible only after login):
//
//	trent/identity    generic secret, generated in the token; sensitive,
//	                  never extractable, CKA_SIGN. The node's identity
//	                  X25519 key is derived from it:
//	                  seed = HMAC-SHA256(identity, "trent/identity/v1" || 0x01).
//	trent/domain      generic secret = DK; sensitive, never extractable,
//	                  CKA_SIGN. HMAC derivations: the domain key id and
//	                  the MAC subkeys.
//	trent/ekt         AES-256 = HKDF-Expand(DK, "trent/ekt/v1"); sensitive,
//	                  never extractable, CKA_ENCRYPT/DECRYPT (and UNWRAP
//	                  where the token can unwrap with AES-GCM). It opens
//	                  EKTs v1 (soft's).
//	trent/ekt-wrap    AES-256 = HKDF-Expand(DK, "trent/ekt-wrap/v2");
//	                  CKA_WRAP/UNWRAP: RFC 3394 key wrap of EKTs v2.
//	trent/ekt-mac     generic secret = HKDF-Expand(DK, "trent/ekt-mac/v2");
//	                  CKA_SIGN: the HMAC tag of EKTs v2.
//	trent/escrow-key  AES-256, generated in the token; sensitive, never
//	                  extractable. It encrypts:
//	trent/escrow      a data object: IV || AES-GCM(escrow-key, DK) || tag,
//	                  encrypted inside the token.
//
// trent/domain is created last: a domain install interrupted half way
// leaves no trent/domain, and the next start deletes the other pieces.
//
// All but trent/identity make up one domain key's set, and each carries
// the key's id (CKA_ID; trent/escrow, a data object, in CKA_APPLICATION).
// The backend implements [github.com/trentkms/trent/hsm.DomainRotator]:
// during a rotation the token holds a set per domain key, and the data
// object trent/domains says which is current, which others are held and
// which is the MAC root (rotate.go has its format and how an interrupted
// step is cleaned up). It implements [github.com/trentkms/trent/hsm.Importer]
// for SymmetricDefault material, in soft's formats (import.go).
//
// # Where plaintext leaves the token
//
// The design goal is that key material, domain key and identity key stay
// inside the token. PKCS#11 tokens differ in what they can do, and the
// backend does in the token what the token can:
//
//   - Per-message keys K = HKDF-Expand-SHA256(material, info) are one
//     C_Sign(CKM_SHA256_HMAC) with the unwrapped material as a key object,
//     so the material stays in the token; K itself leaves it, and AES-GCM
//     of the message runs in Go (the host sees that message's plaintext
//     anyway). SoftHSMv2 has no CKM_HKDF_DERIVE or SP 800-108 derive.
//   - Key material is generated in the token (C_GenerateKey), wrapped
//     there under trent/ekt-wrap (CKM_AES_KEY_WRAP, RFC 3394) and tagged
//     with trent/ekt-mac: EKT format v2. Opening one checks the tag in the
//     token (C_Sign) and unwraps it into a non-extractable session key
//     (C_UnwrapKey): that material never leaves the token.
//   - EKTs v1, made by soft nodes: where the token can unwrap with
//     CKM_AES_GCM (probed with C_GetMechanismInfo, e.g. CloudHSM),
//     C_UnwrapKey makes the material a key object directly. SoftHSMv2
//     cannot (GCM is encrypt/decrypt only there): the backend decrypts the
//     EKT inside the token (C_Decrypt) and imports the 32 bytes as a
//     session key object (C_CreateObject), wiping its copy at once. A soft
//     node's material was in host memory anyway.
//   - Domain transfer uses HPKE with DHKEM(X25519), the soft format, so
//     soft and pkcs11 nodes exchange domain keys. Tokens without X25519
//     (SoftHSMv2 2.6) cannot open or seal HPKE, so the HPKE steps run in
//     Go: ImportDomain derives the identity private key from
//     trent/identity, opens the token, installs DK as the objects above and
//     wipes both; ExportDomain decrypts trent/escrow inside the token,
//     seals DK to the joiner and wipes it. These happen once per join.
//   - MAC(label, msg) derives its subkey in the token (C_Sign with
//     trent/domain) and computes the HMAC of msg in Go.
//
// Anyone holding the user PIN can use every key on the token, as with any
// PKCS#11 HSM: the PIN is the secret that matters. It comes from a file or
// the environment, never a flag (see [ReadPIN]). miekg/pkcs11 takes the
// PIN as a Go string, which cannot be wiped.
//
// # Sessions, cache and recovery
//
// The backend opens one persistent session, which creates and owns every
// session object (SoftHSMv2 destroys session objects with the session that
// created them), and a pool of operation sessions sized to the token
// ([Config.Sessions]; by default min(max(2, GOMAXPROCS), 8), fewer if the
// token allows fewer). Object creation and destruction are serialized
// (SoftHSMv2 gives spurious errors on concurrent object creation).
//
// Unwrapped material is kept as session key objects in a bounded LRU
// ([Config.CacheSize]) keyed by key id and version id; an entry is used
// only for the exact EKT bytes and spec it came from. [HSM.Forget] destroys
// a key's objects. When an operation fails with CKR_SESSION_HANDLE_INVALID,
// CKR_SESSION_CLOSED, CKR_USER_NOT_LOGGED_IN, an invalid object handle, or
// a removed or reset token, the backend reopens its sessions, logs in
// again, finds its token objects anew (by label, on whatever slot the token
// is now), empties the cache (the session objects died with the sessions)
// and retries the operation once. A wrong or locked PIN is never retried:
// once a reconnect's login fails for the PIN, every call fails with that
// error and no further login is tried, so the token does not lock.
//
// # SoftHSMv2 quirks handled
//
//   - A GCM tag mismatch in C_Decrypt gives CKR_GENERAL_ERROR, not
//     CKR_ENCRYPTED_DATA_INVALID: on the EKT path it is an authentication
//     failure, not a reason to reset sessions.
//   - No AES-GCM key wrap, no KWP (0x210B), no HKDF derive: see above;
//     CKM_AES_KEY_WRAP (RFC 3394, 0x2109) is used only on 32-byte keys,
//     where SoftHSMv2's zero padding of other lengths does not arise.
//   - CKM_AES_KEY_WRAP_PAD (0x210A) is RFC 5649 with a nonstandard length
//     field for lengths not a multiple of 8: not used at all.
//   - SoftHSMv2 decrypts a private object's value on every use: the
//     cached material objects are session objects with CKA_PRIVATE false
//     (visible to this process only, as every session object is; still
//     sensitive and not extractable), 2.5 times faster per derivation.
//   - The file object store re-reads and decrypts a token object on every
//     use: the hot paths use session copies of trent/domain and trent/ekt
//     (C_CopyObject with CKA_TOKEN false; still sensitive, never
//     extractable), two to three times faster on an EKT unwrap.
//   - Session objects die with their session (private ones also at
//     logout): one persistent session owns them. The module is initialized
//     once per process (a second C_Initialize gives
//     CKR_CRYPTOKI_ALREADY_INITIALIZED) and shared, reference-counted, by
//     every backend on it. Login is per process: a second one gives
//     CKR_USER_ALREADY_LOGGED_IN without checking the PIN, so a process
//     opens a token only once.
//   - Slot ids change when a token is initialized: tokens are found by label.
//   - Throughput does not grow with more sessions: the default pool is small.
package pkcs11

import (
	"bytes"
	"errors"
	"fmt"
	"os"
)

// Kind is the backend's name in [hsm.Capabilities] and the --hsm flag.
const Kind = "pkcs11"

// PINEnv is the environment variable that holds the user PIN when no PIN
// file is given.
const PINEnv = "TRENT_PKCS11_PIN"

// ErrNotCompiled is returned by [Open] in a build without cgo or the
// pkcs11 build tag.
var ErrNotCompiled = errors.New("the pkcs11 HSM backend is not compiled into this binary (build with cgo and -tags pkcs11)")

// ErrWrongPIN is matched (errors.Is) by the error of [Open] when the token
// refuses the user PIN as incorrect. Tokens count such refusals and may
// lock the PIN after a few.
var ErrWrongPIN = errors.New("pkcs11: the token refused the user PIN")

// Config says which token a node uses and how.
type Config struct {
	// Module is the path of the PKCS#11 library (e.g.
	// /usr/lib/softhsm/libsofthsm2.so).
	Module string
	// TokenLabel selects the token. Exactly one present token must have it.
	TokenLabel string
	// PIN is the user PIN (see [ReadPIN]). Open does not keep this slice.
	PIN []byte
	// WithDomain makes a backend whose token has no domain key yet
	// generate one: the node that bootstraps a cluster.
	WithDomain bool
	// Sessions is the size of the operation session pool; 0 sizes it to
	// the token and the machine.
	Sessions int
	// CacheSize bounds how many unwrapped key versions stay on the token
	// as session objects; 0 means 1024, negative disables the cache.
	CacheSize int
	// NoGCMUnwrap stops the backend from unwrapping EKTs with CKM_AES_GCM
	// even where the token offers it (for tokens whose GCM unwrap is
	// broken, and for tests).
	NoGCMUnwrap bool
}

// ReadPIN returns the user PIN from file, or, if file is empty, from the
// environment variable [PINEnv]. A PIN file must not be readable by group
// or others; one trailing newline is dropped.
func ReadPIN(file string) ([]byte, error) {
	if file == "" {
		pin := os.Getenv(PINEnv)
		if pin == "" {
			return nil, fmt.Errorf("no PKCS#11 PIN: give --pkcs11-pin-file or set %s", PINEnv)
		}
		return []byte(pin), nil
	}
	fi, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("PIN file %s has mode %v: it must not be readable by group or others (chmod 600)", file, fi.Mode().Perm())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pin := bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
	if len(pin) == 0 {
		clear(b)
		return nil, fmt.Errorf("PIN file %s is empty", file)
	}
	return pin, nil
}
