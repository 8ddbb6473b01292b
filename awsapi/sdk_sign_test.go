package awsapi_test

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"testing"

	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// The AWS SDK creates signing and HMAC keys, signs, fetches the public key
// and verifies the signature with Go's standard library, verifies through
// Trent, makes and verifies MACs, and decodes AWS's errors for a bad
// signature, a bad MAC and the wrong key usage.
func TestSDKSignAndMac(t *testing.T) {
	t.Parallel()
	e := newSDKEnv(t)
	ctx := context.Background()
	msg := []byte("a release to sign")
	digest := sha256.Sum256(msg)
	for _, c := range []struct {
		spec types.KeySpec
		alg  types.SigningAlgorithmSpec
	}{
		{types.KeySpecEccNistP256, types.SigningAlgorithmSpecEcdsaSha256},
		{types.KeySpecRsa2048, types.SigningAlgorithmSpecRsassaPssSha256},
	} {
		k, err := e.root.CreateKey(ctx, &awskms.CreateKeyInput{KeySpec: c.spec, KeyUsage: types.KeyUsageTypeSignVerify})
		if err != nil {
			t.Fatal(err)
		}
		m := k.KeyMetadata
		if m.KeyUsage != types.KeyUsageTypeSignVerify || m.KeySpec != c.spec || len(m.SigningAlgorithms) == 0 {
			t.Fatalf("CreateKey %s answered %+v", c.spec, m)
		}
		pk, err := e.root.GetPublicKey(ctx, &awskms.GetPublicKeyInput{KeyId: m.KeyId})
		if err != nil {
			t.Fatal(err)
		}
		pub, err := x509.ParsePKIXPublicKey(pk.PublicKey)
		if err != nil || pk.KeySpec != c.spec || pk.KeyUsage != types.KeyUsageTypeSignVerify {
			t.Fatalf("GetPublicKey answered %+v, %v", pk, err)
		}
		s, err := e.root.Sign(ctx, &awskms.SignInput{KeyId: m.KeyId, Message: digest[:], MessageType: types.MessageTypeDigest, SigningAlgorithm: c.alg})
		if err != nil {
			t.Fatal(err)
		}
		var ok bool
		switch p := pub.(type) {
		case *ecdsa.PublicKey:
			ok = ecdsa.VerifyASN1(p, digest[:], s.Signature)
		case *rsa.PublicKey:
			ok = rsa.VerifyPSS(p, crypto.SHA256, digest[:], s.Signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		}
		if !ok {
			t.Fatalf("%s: the standard library does not verify Trent's signature", c.spec)
		}
		v, err := e.root.Verify(ctx, &awskms.VerifyInput{KeyId: m.KeyId, Message: msg, SigningAlgorithm: c.alg, Signature: s.Signature})
		if err != nil || !v.SignatureValid {
			t.Fatalf("Verify answered %+v, %v", v, err)
		}
		before := e.srv.requests.Load()
		_, err = e.root.Verify(ctx, &awskms.VerifyInput{KeyId: m.KeyId, Message: []byte("forged"), SigningAlgorithm: c.alg, Signature: s.Signature})
		e.wantAPIError(t, err, "KMSInvalidSignatureException", before)
		var bad *types.KMSInvalidSignatureException
		if !errors.As(err, &bad) {
			t.Fatalf("the SDK did not decode KMSInvalidSignatureException: %T", err)
		}
		before = e.srv.requests.Load()
		_, err = e.root.Encrypt(ctx, &awskms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("x")})
		e.wantAPIError(t, err, "InvalidKeyUsageException", before)
	}

	k, err := e.root.CreateKey(ctx, &awskms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.root.GenerateMac(ctx, &awskms.GenerateMacInput{KeyId: k.KeyMetadata.KeyId, Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	if err != nil || len(g.Mac) != 32 {
		t.Fatalf("GenerateMac answered %+v, %v", g, err)
	}
	v, err := e.root.VerifyMac(ctx, &awskms.VerifyMacInput{KeyId: k.KeyMetadata.KeyId, Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha256, Mac: g.Mac})
	if err != nil || !v.MacValid {
		t.Fatalf("VerifyMac answered %+v, %v", v, err)
	}
	before := e.srv.requests.Load()
	_, err = e.root.VerifyMac(ctx, &awskms.VerifyMacInput{KeyId: k.KeyMetadata.KeyId, Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha256,
		Mac: hmac.New(sha256.New, []byte("guess")).Sum(nil)})
	e.wantAPIError(t, err, "KMSInvalidMacException", before)
	var badMac *types.KMSInvalidMacException
	if !errors.As(err, &badMac) {
		t.Fatalf("the SDK did not decode KMSInvalidMacException: %T", err)
	}
	before = e.srv.requests.Load()
	_, err = e.root.GenerateMac(ctx, &awskms.GenerateMacInput{KeyId: k.KeyMetadata.KeyId, Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha512})
	e.wantAPIError(t, err, "InvalidKeyUsageException", before)
	before = e.srv.requests.Load()
	_, err = e.root.GetPublicKey(ctx, &awskms.GetPublicKeyInput{KeyId: k.KeyMetadata.KeyId})
	e.wantAPIError(t, err, "UnsupportedOperationException", before)
}

// The AWS SDK encrypts to an RSA key's public key offline, as AWS's
// documentation shows, and decrypts through Trent; Trent's Encrypt round
// trips.
func TestSDKRSAEncryption(t *testing.T) {
	t.Parallel()
	e := newSDKEnv(t)
	ctx := context.Background()
	k, err := e.root.CreateKey(ctx, &awskms.CreateKeyInput{KeySpec: types.KeySpecRsa3072, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	if err != nil {
		t.Fatal(err)
	}
	pk, err := e.root.GetPublicKey(ctx, &awskms.GetPublicKeyInput{KeyId: k.KeyMetadata.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(pk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), []byte("offline"), nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.root.Decrypt(ctx, &awskms.DecryptInput{KeyId: k.KeyMetadata.KeyId, CiphertextBlob: ct,
		EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha256})
	if err != nil || string(d.Plaintext) != "offline" || d.EncryptionAlgorithm != types.EncryptionAlgorithmSpecRsaesOaepSha256 {
		t.Fatalf("Decrypt answered %+v, %v", d, err)
	}
	enc, err := e.root.Encrypt(ctx, &awskms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("online"),
		EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha1})
	if err != nil {
		t.Fatal(err)
	}
	d, err = e.root.Decrypt(ctx, &awskms.DecryptInput{KeyId: k.KeyMetadata.KeyId, CiphertextBlob: enc.CiphertextBlob,
		EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha1})
	if err != nil || string(d.Plaintext) != "online" {
		t.Fatalf("Decrypt of Trent's ciphertext answered %+v, %v", d, err)
	}
	before := e.srv.requests.Load()
	_, err = e.root.Decrypt(ctx, &awskms.DecryptInput{KeyId: k.KeyMetadata.KeyId, CiphertextBlob: enc.CiphertextBlob,
		EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha256})
	e.wantAPIError(t, err, "InvalidCiphertextException", before)
}

// The AWS SDK gets a data key pair: a public key that is the private
// key's, and the private key encrypted as a normal ciphertext.
func TestSDKGenerateDataKeyPair(t *testing.T) {
	t.Parallel()
	e := newSDKEnv(t)
	ctx := context.Background()
	k := e.createKey(t, "pairs")
	ec := map[string]string{"use": "tls"}
	r, err := e.root.GenerateDataKeyPair(ctx, &awskms.GenerateDataKeyPairInput{KeyId: k.KeyId, KeyPairSpec: types.DataKeyPairSpecEccNistP384, EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(r.PrivateKeyPlaintext)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(priv.(crypto.Signer).Public())
	if string(der) != string(r.PublicKey) || r.KeyPairSpec != types.DataKeyPairSpecEccNistP384 {
		t.Fatalf("GenerateDataKeyPair answered %+v", r)
	}
	d, err := e.root.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: r.PrivateKeyCiphertextBlob, EncryptionContext: ec})
	if err != nil || string(d.Plaintext) != string(r.PrivateKeyPlaintext) {
		t.Fatalf("Decrypt of the private key blob: %v", err)
	}
	w, err := e.root.GenerateDataKeyPairWithoutPlaintext(ctx, &awskms.GenerateDataKeyPairWithoutPlaintextInput{KeyId: k.KeyId,
		KeyPairSpec: types.DataKeyPairSpecRsa2048})
	if err != nil || len(w.PublicKey) == 0 || len(w.PrivateKeyCiphertextBlob) == 0 {
		t.Fatalf("GenerateDataKeyPairWithoutPlaintext answered %+v, %v", w, err)
	}
	before := e.srv.requests.Load()
	_, err = e.root.GenerateDataKeyPair(ctx, &awskms.GenerateDataKeyPairInput{KeyId: k.KeyId, KeyPairSpec: types.DataKeyPairSpecSm2})
	e.wantAPIError(t, err, "UnsupportedOperationException", before)
}

// The AWS SDK derives an ECDH shared secret equal to the one crypto/ecdh
// derives on the peer's side.
func TestSDKDeriveSharedSecret(t *testing.T) {
	t.Parallel()
	e := newSDKEnv(t)
	ctx := context.Background()
	k, err := e.root.CreateKey(ctx, &awskms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeKeyAgreement})
	if err != nil {
		t.Fatal(err)
	}
	pk, err := e.root.GetPublicKey(ctx, &awskms.GetPublicKeyInput{KeyId: k.KeyMetadata.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(pk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	theirs, _ := pub.(*ecdsa.PublicKey).ECDH()
	peer, _ := ecdh.P256().GenerateKey(rand.Reader)
	peerDER, _ := x509.MarshalPKIXPublicKey(peer.PublicKey())
	want, _ := peer.ECDH(theirs)
	r, err := e.root.DeriveSharedSecret(ctx, &awskms.DeriveSharedSecretInput{KeyId: k.KeyMetadata.KeyId,
		KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: peerDER})
	if err != nil || string(r.SharedSecret) != string(want) || r.KeyOrigin != types.OriginTypeAwsKms {
		t.Fatalf("DeriveSharedSecret answered %+v, %v", r, err)
	}
}
