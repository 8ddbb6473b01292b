package hsmtest

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/keys"
)

// pairAlgorithms lists, for each asymmetric spec, the algorithms its keys
// sign with.
var pairAlgorithms = []struct {
	spec hsm.KeySpec
	algs []hsm.SigningAlgorithm
}{
	{hsm.EccNistP256, []hsm.SigningAlgorithm{hsm.EcdsaSHA256}},
	{hsm.EccNistP384, []hsm.SigningAlgorithm{hsm.EcdsaSHA384}},
	{hsm.EccNistP521, []hsm.SigningAlgorithm{hsm.EcdsaSHA512}},
	{hsm.EccSecgP256k1, []hsm.SigningAlgorithm{hsm.EcdsaSHA256}},
	{hsm.MlDsa44, []hsm.SigningAlgorithm{hsm.MlDsaShake256, hsm.MlDsaExternalMu}},
	{hsm.MlDsa65, []hsm.SigningAlgorithm{hsm.MlDsaShake256, hsm.MlDsaExternalMu}},
	{hsm.MlDsa87, []hsm.SigningAlgorithm{hsm.MlDsaShake256, hsm.MlDsaExternalMu}},
	{hsm.EccNistEdwards25519, []hsm.SigningAlgorithm{hsm.Ed25519SHA512, hsm.Ed25519phSHA512}},
	{hsm.Rsa2048, rsaAlgorithms},
	{hsm.Rsa3072, rsaAlgorithms},
	{hsm.Rsa4096, rsaAlgorithms},
}

var rsaAlgorithms = []hsm.SigningAlgorithm{hsm.RsaPssSHA256, hsm.RsaPssSHA384, hsm.RsaPssSHA512,
	hsm.RsaPkcs1SHA256, hsm.RsaPkcs1SHA384, hsm.RsaPkcs1SHA512}

// signer returns b as an hsm.Signer if its capabilities list spec; a
// backend that lists an asymmetric spec must implement the interface.
func signer(t *testing.T, b hsm.Backend, spec hsm.KeySpec) (hsm.Signer, bool) {
	t.Helper()
	if !b.Capabilities().Supports(spec) {
		return nil, false
	}
	s, ok := b.(hsm.Signer)
	if !ok {
		t.Fatalf("the backend supports %v but is not an hsm.Signer", spec)
	}
	return s, true
}

// verify checks sig over msg with pub, as a client would (with circl for
// ML-DSA, also for a signature of μ, and decred's secp256k1 for
// ECC_SECG_P256K1).
func verify(pub crypto.PublicKey, alg hsm.SigningAlgorithm, msg, sig []byte) error {
	if k, ok := pub.(*keys.MLDSAPublicKey); ok {
		if !keys.VerifyMLDSA(k, msg, sig) {
			return errors.New("ML-DSA signature does not verify")
		}
		return nil
	}
	h := alg.Hash().New()
	h.Write(msg)
	digest := h.Sum(nil)
	switch k := pub.(type) {
	case *secp256k1.PublicKey:
		if !keys.VerifySecp256k1(k, digest, sig) {
			return errors.New("secp256k1 signature does not verify")
		}
		return nil
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	case *rsa.PublicKey:
		if alg.RSAPSS() {
			return rsa.VerifyPSS(k, alg.Hash(), digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.VerifyPKCS1v15(k, alg.Hash(), digest, sig)
	case ed25519.PublicKey:
		if alg == hsm.Ed25519SHA512 {
			return ed25519.VerifyWithOptions(k, msg, sig, &ed25519.Options{})
		}
		return ed25519.VerifyWithOptions(k, digest, sig, &ed25519.Options{Hash: crypto.SHA512})
	}
	return errors.New("unknown public key type")
}

// signInput is what Sign takes for msg under alg: the digest, the message,
// or for MlDsaExternalMu its μ under pub, as a client computes it.
func signInput(t *testing.T, pub crypto.PublicKey, alg hsm.SigningAlgorithm, msg []byte) []byte {
	t.Helper()
	if alg == hsm.MlDsaExternalMu {
		mu, err := keys.MLDSAMu(pub.(*keys.MLDSAPublicKey), msg)
		if err != nil {
			t.Fatal(err)
		}
		return mu
	}
	if alg.SignsMessage() {
		return msg
	}
	h := alg.Hash().New()
	h.Write(msg)
	return h.Sum(nil)
}

// testSign: for every asymmetric spec the backend supports, a generated
// key's public key is a DER SubjectPublicKeyInfo, and its signatures under
// every algorithm of the spec verify with Go's standard library; a
// backend that shares the domain key signs with the same EKT.
func testSign(t *testing.T, open Open) {
	a, b := open(t, true), open(t, false)
	transfer(t, a, b, "sign")
	for _, pa := range pairAlgorithms {
		s, ok := signer(t, a, pa.spec)
		if !ok {
			continue
		}
		if testing.Short() && (pa.spec == hsm.Rsa3072 || pa.spec == hsm.Rsa4096) {
			continue
		}
		t.Run(pa.spec.String(), func(t *testing.T) {
			ekt, err := a.GenerateKey(ctx, pa.spec, id(1), id(2))
			if err != nil {
				t.Fatalf("GenerateKey: %v", err)
			}
			ref := hsm.KeyRef{KeyID: id(1), VersionID: id(2), Spec: pa.spec, EKT: ekt}
			der, err := s.PublicKey(ctx, ref)
			if err != nil {
				t.Fatalf("PublicKey: %v", err)
			}
			pub, err := keys.ParsePublicKey(der)
			if err != nil {
				t.Fatalf("PublicKey is not a SubjectPublicKeyInfo: %v", err)
			}
			msg := []byte("message to sign")
			for _, alg := range pa.algs {
				for i, sb := range []hsm.Backend{a, b} {
					sig, err := sb.(hsm.Signer).Sign(ctx, ref, alg, signInput(t, pub, alg, msg))
					if err != nil {
						t.Fatalf("Sign %v on backend %d: %v", alg, i, err)
					}
					if err := verify(pub, alg, msg, sig); err != nil {
						t.Fatalf("%v signature of backend %d: %v", alg, i, err)
					}
					if err := verify(pub, alg, []byte("another message"), sig); err == nil {
						t.Fatalf("%v signature verifies another message", alg)
					}
				}
			}
		})
	}
}

// testSignRefusals: a tampered or misattributed EKT, an algorithm of
// another key type and a digest of the wrong length are refused.
func testSignRefusals(t *testing.T, open Open) {
	a := open(t, true)
	s, ok := signer(t, a, hsm.EccNistP256)
	if !ok {
		t.Skip("the backend has no ECC_NIST_P256 keys")
	}
	ekt, err := a.GenerateKey(ctx, hsm.EccNistP256, id(1), id(2))
	if err != nil {
		t.Fatal(err)
	}
	ref := hsm.KeyRef{KeyID: id(1), VersionID: id(2), Spec: hsm.EccNistP256, EKT: ekt}
	digest := signInput(t, nil, hsm.EcdsaSHA256, []byte("m"))
	flipped := bytes.Clone(ekt)
	flipped[len(flipped)-1] ^= 1
	for name, r := range map[string]hsm.KeyRef{
		"other key id":     {KeyID: id(9), VersionID: id(2), Spec: hsm.EccNistP256, EKT: ekt},
		"other version id": {KeyID: id(1), VersionID: id(9), Spec: hsm.EccNistP256, EKT: ekt},
		"flipped bit":      {KeyID: id(1), VersionID: id(2), Spec: hsm.EccNistP256, EKT: flipped},
		"truncated":        {KeyID: id(1), VersionID: id(2), Spec: hsm.EccNistP256, EKT: ekt[:len(ekt)-1]},
	} {
		_, err := s.Sign(ctx, r, hsm.EcdsaSHA256, digest)
		wantIs(t, "Sign with "+name, err, hsm.ErrAuthentication)
		_, err = s.PublicKey(ctx, r)
		wantIs(t, "PublicKey with "+name, err, hsm.ErrAuthentication)
	}
	_, err = s.Sign(ctx, ref, hsm.RsaPssSHA256, digest)
	wantIs(t, "Sign with an RSA algorithm and an ECC key", err, hsm.ErrUnsupported)
	if _, err := s.Sign(ctx, ref, hsm.EcdsaSHA256, digest[:31]); err == nil {
		t.Fatal("Sign of a 31-byte SHA-256 digest succeeded")
	}
	if _, err := a.Seal(ctx, ref, id(3), nil, []byte("x")); err == nil {
		t.Fatal("Seal with an asymmetric key succeeded")
	}
}

// testKeyMAC: HMAC keys of every spec the backend supports give HMACs of
// the spec's length, deterministic, the same on a backend sharing the
// domain key, different between keys; a misattributed EKT is refused.
func testKeyMAC(t *testing.T, open Open) {
	a, b := open(t, true), open(t, false)
	transfer(t, a, b, "mac")
	for _, spec := range []hsm.KeySpec{hsm.Hmac224, hsm.Hmac256, hsm.Hmac384, hsm.Hmac512} {
		if !a.Capabilities().Supports(spec) {
			continue
		}
		m, ok := a.(hsm.KeyMACer)
		if !ok {
			t.Fatalf("the backend supports %v but is not an hsm.KeyMACer", spec)
		}
		mac := func(b hsm.KeyMACer, ref hsm.KeyRef, msg string) []byte {
			t.Helper()
			tag, err := b.MACKey(ctx, ref, []byte(msg))
			if err != nil {
				t.Fatalf("MACKey %v: %v", spec, err)
			}
			if len(tag) != spec.MACHash().Size() {
				t.Fatalf("MACKey %v: %d bytes", spec, len(tag))
			}
			return tag
		}
		ref1, ref2 := hsm.KeyRef{KeyID: id(1), VersionID: id(2), Spec: spec}, hsm.KeyRef{KeyID: id(1), VersionID: id(3), Spec: spec}
		var err error
		if ref1.EKT, err = a.GenerateKey(ctx, spec, id(1), id(2)); err != nil {
			t.Fatal(err)
		}
		if ref2.EKT, err = a.GenerateKey(ctx, spec, id(1), id(3)); err != nil {
			t.Fatal(err)
		}
		t1 := mac(m, ref1, "msg")
		if !hmac.Equal(t1, mac(m, ref1, "msg")) || !hmac.Equal(t1, mac(b.(hsm.KeyMACer), ref1, "msg")) {
			t.Fatalf("%v: MACKey differs between calls or backends", spec)
		}
		if hmac.Equal(t1, mac(m, ref2, "msg")) || hmac.Equal(t1, mac(m, ref1, "msh")) {
			t.Fatalf("%v: MACKey equal for another key or message", spec)
		}
		bad := ref1
		bad.VersionID = id(9)
		_, err = m.MACKey(ctx, bad, []byte("msg"))
		wantIs(t, "MACKey with another version id", err, hsm.ErrAuthentication)
	}
}

// testSignConcurrentAndClose signs, MACs and forgets from several
// goroutines at once (run with -race), then checks that after Close
// PublicKey, Sign and MACKey fail with ErrClosed.
func testSignConcurrentAndClose(t *testing.T, open Open) {
	a := open(t, true)
	s, ok := signer(t, a, hsm.EccNistP256)
	if !ok {
		t.Skip("the backend has no ECC_NIST_P256 keys")
	}
	m, macs := a.(hsm.KeyMACer)
	ekt, err := a.GenerateKey(ctx, hsm.EccNistP256, id(1), id(2))
	if err != nil {
		t.Fatal(err)
	}
	ref := hsm.KeyRef{KeyID: id(1), VersionID: id(2), Spec: hsm.EccNistP256, EKT: ekt}
	macRef := hsm.KeyRef{KeyID: id(3), VersionID: id(4), Spec: hsm.Hmac256}
	if macs && a.Capabilities().Supports(hsm.Hmac256) {
		if macRef.EKT, err = a.GenerateKey(ctx, hsm.Hmac256, id(3), id(4)); err != nil {
			t.Fatal(err)
		}
	} else {
		macs = false
	}
	digest := signInput(t, nil, hsm.EcdsaSHA256, []byte("m"))
	errs := make(chan error, 16)
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 20 {
				if _, err := s.Sign(ctx, ref, hsm.EcdsaSHA256, digest); err != nil {
					errs <- err
					return
				}
				if macs {
					if _, err := m.MACKey(ctx, macRef, digest); err != nil {
						errs <- err
						return
					}
				}
				if g%2 == 0 {
					if err := a.Forget(ctx, id(1)); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = s.Sign(ctx, ref, hsm.EcdsaSHA256, digest)
	wantIs(t, "Sign after Close", err, hsm.ErrClosed)
	_, err = s.PublicKey(ctx, ref)
	wantIs(t, "PublicKey after Close", err, hsm.ErrClosed)
	if macs {
		_, err = m.MACKey(ctx, macRef, digest)
		wantIs(t, "MACKey after Close", err, hsm.ErrClosed)
	}
}

// testDecryptOAEP: a backend that is an hsm.Decrypter decrypts what the
// standard library encrypts to an RSA key's public key, with SHA-1 and
// SHA-256; a changed ciphertext, another hash or another key's EKT is
// ErrAuthentication.
func testDecryptOAEP(t *testing.T, open Open) {
	a := open(t, true)
	d, ok := a.(hsm.Decrypter)
	if !ok || !a.Capabilities().Supports(hsm.Rsa2048) {
		t.Skip("the backend does not decrypt with RSA keys")
	}
	s, _ := signer(t, a, hsm.Rsa2048)
	ekt, err := a.GenerateKey(ctx, hsm.Rsa2048, id(1), id(2))
	if err != nil {
		t.Fatal(err)
	}
	ref := hsm.KeyRef{KeyID: id(1), VersionID: id(2), Spec: hsm.Rsa2048, EKT: ekt}
	der, err := s.PublicKey(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		ct, err := rsa.EncryptOAEP(h.New(), rand.Reader, pub.(*rsa.PublicKey), []byte("secret"), nil)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := d.DecryptOAEP(ctx, ref, h, ct)
		if err != nil || string(pt) != "secret" {
			t.Fatalf("DecryptOAEP %v = %q, %v", h, pt, err)
		}
		other := crypto.SHA256
		if h == crypto.SHA256 {
			other = crypto.SHA1
		}
		_, err = d.DecryptOAEP(ctx, ref, other, ct)
		wantIs(t, "DecryptOAEP with the other hash", err, hsm.ErrAuthentication)
		bad := bytes.Clone(ct)
		bad[10] ^= 1
		_, err = d.DecryptOAEP(ctx, ref, h, bad)
		wantIs(t, "DecryptOAEP of a changed ciphertext", err, hsm.ErrAuthentication)
		wrong := ref
		wrong.VersionID = id(9)
		_, err = d.DecryptOAEP(ctx, wrong, h, ct)
		wantIs(t, "DecryptOAEP with another version id", err, hsm.ErrAuthentication)
	}
}

// testECDH: a backend that is an hsm.KeyAgreer derives the same secret
// from its key and a peer's public key as crypto/ecdh derives from the
// peer's private key and the backend key's public key; a point off the
// curve is refused, another key's EKT is ErrAuthentication.
func testECDH(t *testing.T, open Open) {
	a := open(t, true)
	ka, ok := a.(hsm.KeyAgreer)
	if !ok {
		t.Skip("the backend has no key agreement")
	}
	for spec, curve := range map[hsm.KeySpec]ecdh.Curve{hsm.EccNistP256: ecdh.P256(), hsm.EccNistP384: ecdh.P384(), hsm.EccNistP521: ecdh.P521()} {
		s, ok := signer(t, a, spec)
		if !ok {
			continue
		}
		ekt, err := a.GenerateKey(ctx, spec, id(1), id(byte(spec)))
		if err != nil {
			t.Fatal(err)
		}
		ref := hsm.KeyRef{KeyID: id(1), VersionID: id(byte(spec)), Spec: spec, EKT: ekt}
		der, err := s.PublicKey(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			t.Fatal(err)
		}
		ours, err := pub.(*ecdsa.PublicKey).ECDH()
		if err != nil {
			t.Fatal(err)
		}
		peer, err := curve.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		want, err := peer.ECDH(ours)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ka.ECDH(ctx, ref, peer.PublicKey().Bytes())
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%v: ECDH = %x, %v; want %x", spec, got, err, want)
		}
		off := bytes.Clone(peer.PublicKey().Bytes())
		off[len(off)-1] ^= 1
		if _, err := ka.ECDH(ctx, ref, off); err == nil {
			t.Fatalf("%v: ECDH with a point off the curve succeeded", spec)
		}
		wrong := ref
		wrong.VersionID = id(99)
		_, err = ka.ECDH(ctx, wrong, peer.PublicKey().Bytes())
		wantIs(t, "ECDH with another version id", err, hsm.ErrAuthentication)
	}
}
