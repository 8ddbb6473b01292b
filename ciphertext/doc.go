// Package ciphertext defines Trent's symmetric ciphertext blob, format v1,
// and the canonical encoding of an encryption context.
//
// The package does no cryptography. It builds and parses bytes: the KMS
// layer parses a blob, looks up the key version it names, builds the
// additional data with [AAD] and hands the body to the HSM backend, which
// derives the per-message key and runs AES-256-GCM (see package
// [github.com/trentkms/trent/hsm]). docs/ciphertext.md is the normative,
// byte-by-byte description, with test vectors.
//
// # Blob v1
//
// All fields are fixed width and big-endian:
//
//	off  len  field
//	0    1    version = 0x01
//	1    1    suite   = 0x01 (AES-256-GCM, HKDF-Expand-SHA256, nonce 16, IV 12, tag 16)
//	2    16   key id (UUID bytes of the KMS key)
//	18   16   version id (key material version)
//	34   16   KDF nonce
//	50   12   IV
//	62   n    ciphertext
//	62+n 16   GCM tag
//
// The header is bytes [0,50) ([HeaderSize]); the body handed to the HSM is
// bytes [50,end): IV || ciphertext || tag. A blob is [Overhead] (78) bytes
// longer than its plaintext, and plaintexts are at most [MaxPlaintext] bytes.
//
// [Parse] rejects every malformed blob with the single error [ErrInvalid],
// which says nothing about what was wrong: a decrypt path must not become an
// oracle for which check failed.
//
// # Encryption context
//
// [CanonicalContext] encodes a context map as
//
//	u16 count || for each pair, sorted ascending by key bytes:
//	    u16 keyLen || key || u16 valueLen || value
//
// big-endian; an empty or nil map encodes as 0x0000. Keys and values must be
// valid UTF-8, keys must be non-empty, and the whole encoding must fit in
// [MaxContextSize] bytes. [ParseCanonicalContext] accepts only the canonical
// encoding, so every map has exactly one encoding and every accepted
// encoding round-trips. The additional data authenticated by GCM is
// [AAD]: header || canonical context.
//
// The encoding compares keys exactly. The rules that ignore the case of a
// context key, grant constraints and kms:EncryptionContext:<key> policy
// conditions, compare keys folded by [FoldKey], an ASCII-only fold, and
// refuse a context in which two keys fold together ([FoldContext]).
package ciphertext
