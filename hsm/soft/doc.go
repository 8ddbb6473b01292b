// Package soft is Trent's pure-Go HSM backend, the default. It implements
// [github.com/trentkms/trent/hsm.Backend] in the node's own process, and
// passes the conformance suite [github.com/trentkms/trent/hsm/hsmtest].
// A node opens it with [OpenNode]: a state directory and either a
// passphrase file ([Passphrase]) or, in dev mode, [InsecureDevKeyFile].
//
// # What it protects, and what it does not
//
// The soft HSM is a process boundary, not a tamper boundary. Key material,
// the domain key and the identity key live in ordinary Go memory of the
// trent process. Anyone who can read that memory (root, a debugger, a core
// dump, swap, a memory-disclosure bug in the same process) can read the
// keys. What the package does give:
//
//   - The rest of trent never sees key material: it handles EKTs and
//     ciphertexts only, as it would with a real HSM.
//   - At rest, everything secret is in one state file sealed under a KEK
//     from a passphrase or (dev mode) a key file; EKTs in the Raft log are useless
//     without the domain key.
//   - Secrets are wiped with clear() when dropped. Go cannot wipe
//     everything: AES key schedules and HMAC pads inside the standard
//     library, copies left by stack growth and garbage not yet reused stay
//     in memory until overwritten.
//
// For keys that must never be in host memory, use a PKCS#11 backend.
//
// # Key hierarchy
//
// A domain key DK (32 random bytes) is shared by every HSM of a cluster.
// It is created by [Create] on the bootstrap node and reaches other nodes
// only through [HSM.ExportDomain] and [HSM.ImportDomain]. From it, with
// HKDF-Expand-SHA256 and distinct labels, the HSM derives:
//
//	EKT key        HKDF-Expand(DK, "trent/ekt/v1", 32)
//	domain key id  HKDF-Expand(DK, "trent/dkid/v1", 16)   (public)
//	MAC subkey     HKDF-Expand(DK, "trent/mac/v1" || 0x00 || label, 32)
//
// Each symmetric KMS key version has 32 bytes of random material, an HMAC
// key version as many as its hash's digest, and an asymmetric one its
// private key in PKCS#8 DER (Go's crypto/ecdsa, ed25519 and rsa make
// them); all are stored only as EKTs. Asymmetric keys are cached parsed,
// since parsing costs more than a P-256 signature. Messages use K = HKDF-Expand-SHA256(material, "trent/sym/v1" || 0x00
// || keyID || versionID || nonce, 32) and AES-256-GCM with a random 12-byte
// IV; [HSM.Seal] returns IV || ciphertext || tag. docs/ciphertext.md has
// test vectors.
//
// Unwrapped material is kept in a bounded LRU cache (see [WithCacheSize])
// keyed by key id and version id; an entry is used only for the identical
// EKT bytes and spec it was unwrapped from. [HSM.Forget] drops and wipes
// the entries of a deleted key; material an operation in flight unwrapped
// before it is not cached after it.
//
// # EKT format v1
//
//	off  len  field
//	0    1    version = 0x01
//	1    1    key spec (hsm.KeySpec; 0x01 SYMMETRIC_DEFAULT, ...)
//	2    16   domain key id of the DK that wrapped it
//	18   12   IV
//	30   n    AES-256-GCM ciphertext of the material (n = 32 for
//	          SYMMETRIC_DEFAULT; 28-64 for HMAC; <= 4096 for a key pair)
//	30+n 16   GCM tag
//
// The GCM key is the EKT key above; the additional data is bytes [0,18)
// followed by the key id (16) and version id (16) of the [hsm.KeyRef]. An
// EKT therefore opens only for the key id, version id, spec and domain key
// it was made for; anything else is [hsm.ErrAuthentication]. The key and
// version ids are not stored in the EKT: the KeyRef carries them.
//
// The pkcs11 backend writes EKTs in format v2 (version byte 0x02, AES key
// wrap plus an HMAC tag, see ektwrap.go) so that key material never leaves
// its token; this backend opens them too, and keeps writing v1.
//
// # State file format v1
//
//	off  len  field
//	0    8    magic "TRENTHSM"
//	8    1    format version = 0x01
//	9    1    KDF: 0x01 key file, 0x02 passphrase
//	10   4    Argon2id time (passes), big-endian    } all zero for a key file
//	14   4    Argon2id memory (KiB), big-endian     }
//	18   1    Argon2id threads                      }
//	19   16   salt
//	35   12   GCM nonce
//	47   n+16 AES-256-GCM(KEK, nonce, state, additional data = bytes [0,47))
//
// KEK = HKDF-SHA256(key file key, salt, "trent/hsm-state/v1/key-file") or
// Argon2id(passphrase, salt, time, memory, threads, 32). The state is
//
//	off  len  field
//	0    1    state version = 0x01
//	1    2    identity KEM id = 0x0020 (DHKEM(X25519, HKDF-SHA256))
//	3    32   identity private key
//	35   1    0x00 no domain key / 0x01 domain key follows
//	36   32   domain key
//	68   16   domain key id (checked against the key on load)
//
// Once a domain-key rotation begins the state is written as version 2,
// which holds up to four domain keys and the MAC root (see rotate.go);
// an HSM that never rotated keeps writing version 1.
//
// The file has mode 0600 and is replaced atomically: temporary file, fsync,
// rename (link(2) on creation, so an existing file is never overwritten),
// fsync of the directory. Two processes must not use the same state file.
//
// # Domain token format v1
//
//	off  len  field
//	0    1    version = 0x01
//	1    2    HPKE KEM id  = 0x0020 (DHKEM(X25519, HKDF-SHA256))
//	3    2    HPKE KDF id  = 0x0001 (HKDF-SHA256)
//	5    2    HPKE AEAD id = 0x0002 (AES-256-GCM)
//	7    16   domain key id
//	23   32   HPKE encapsulated key
//	55   48   HPKE ciphertext of DK || tag
//
// HPKE (RFC 9180) mode Base to the recipient's [HSM.IdentityPublicKey],
// info = "trent/domain/v1" || 0x00 || caller's info, additional data =
// bytes [0,23). The token is safe to send through Raft; the recipient's
// identity private key never leaves its state file. Authorizing the
// transfer is the caller's job.
//
// # Randomness
//
// By default secrets come from crypto/rand and per-message IVs from
// cipher.NewGCMWithRandomNonce. [WithRand] injects a reader for
// deterministic tests. GODEBUG=fips140=only is not supported: the state
// file and the HPKE X25519 identity use primitives that mode forbids.
package soft
