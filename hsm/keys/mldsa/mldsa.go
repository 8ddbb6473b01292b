package mldsa

import (
	"bytes"
	"errors"
	"fmt"
)

// PrivateKey is an ML-DSA private key, expanded from its seed once: the
// matrix Â and the NTT forms of s1, s2 and t0 are kept for signing.
type PrivateKey struct {
	p      *params
	key    []byte // K, the 32-byte signing seed
	a      []poly
	s1Hat  []poly
	s2Hat  []poly
	t0Hat  []poly
	public []byte
}

// NewPrivateKey derives set's key pair from its 32-byte seed ξ (FIPS 204
// ML-DSA.KeyGen_internal, Algorithm 6).
func NewPrivateKey(set ParameterSet, seed []byte) (*PrivateKey, error) {
	p, err := set.lookup()
	if err != nil {
		return nil, err
	}
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("mldsa: a seed of %d bytes, not %d", len(seed), SeedSize)
	}
	expanded := shake256(128, seed, []byte{byte(p.k), byte(p.l)})
	defer clear(expanded)
	rho, rhoPrime, key := expanded[:32], expanded[32:96], expanded[96:]
	sk := &PrivateKey{p: p, key: bytes.Clone(key), a: expandA(p, rho)}
	s1, s2 := expandS(p, rhoPrime)
	sk.s1Hat = make([]poly, p.l)
	for i := range s1 {
		sk.s1Hat[i] = ntt(s1[i])
	}
	as1 := matrixVectorNTT(sk.a, sk.s1Hat, p.k, p.l)
	t1 := make([][n]uint32, p.k)
	sk.s2Hat, sk.t0Hat = make([]poly, p.k), make([]poly, p.k)
	for i := range as1 {
		t := nttInverse(as1[i])
		t = polyAdd(&t, &s2[i])
		var t0 poly
		for j, c := range t {
			r1, r0 := power2Round(c)
			t1[i][j], t0[j] = uint32(r1), fromCentered(r0)
		}
		sk.s2Hat[i], sk.t0Hat[i] = ntt(s2[i]), ntt(t0)
		clear(t[:])
		clear(t0[:])
		clear(as1[i][:])
	}
	clear(s1)
	clear(s2)
	sk.public = encodePublicKey(rho, t1)
	return sk, nil
}

// PublicKey returns the encoded public key (pkEncode).
func (sk *PrivateKey) PublicKey() []byte { return bytes.Clone(sk.public) }

// SignMu signs the 64-byte message representative μ (FIPS 204
// ML-DSA.Sign_internal, Algorithm 7, from its step 7 on). rnd is the
// 32-byte hedging randomness; all zeros gives the deterministic variant.
func (sk *PrivateKey) SignMu(mu []byte, rnd []byte) ([]byte, error) {
	if len(mu) != MuSize {
		return nil, fmt.Errorf("mldsa: μ of %d bytes, not %d", len(mu), MuSize)
	}
	if len(rnd) != 32 {
		return nil, fmt.Errorf("mldsa: %d bytes of randomness, not 32", len(rnd))
	}
	p := sk.p
	rhoPP := shake256(64, sk.key, rnd, mu)
	defer clear(rhoPP)
	for kappa := 0; ; kappa += p.l {
		if kappa+p.l-1 > 0xffff {
			// FIPS 204 bounds the loop only by probability; κ wrapping
			// its 16-bit encoding would take about 2^14 rejections.
			return nil, errors.New("mldsa: signing did not find a signature")
		}
		a := sk.attempt(mu, rhoPP, kappa)
		if a.valid(p) {
			sig := encodeSignature(p, a.ctilde, a.z, a.hint)
			a.wipe()
			return sig, nil
		}
		a.wipe() // a rejected z = y + cs1 says something of s1
	}
}

// attempt is one iteration of the signing loop: a candidate signature
// and the checks that decide whether it may be released.
type attempt struct {
	ctilde []byte
	z      []poly
	hint   [][n]uint32
	// zLarge, r0Large and ct0Large report ‖z‖∞ ≥ γ1-β, ‖r0‖∞ ≥ γ2-β
	// and ‖ct0‖∞ ≥ γ2; ones counts the hint's ones.
	zLarge, r0Large, ct0Large bool
	ones                      int
}

// wipe clears the candidate.
func (a *attempt) wipe() {
	clear(a.ctilde)
	clear(a.z)
	clear(a.hint)
}

func (a *attempt) valid(p *params) bool {
	return !a.zLarge && !a.r0Large && !a.ct0Large && a.ones <= p.omega
}

// attempt makes the κ-th candidate (Algorithm 7, steps 11-31).
func (sk *PrivateKey) attempt(mu, rhoPP []byte, kappa int) *attempt {
	p := sk.p
	y := expandMask(p, rhoPP, kappa)
	defer clear(y)
	yHat := make([]poly, p.l)
	for i := range y {
		yHat[i] = ntt(y[i])
	}
	w := matrixVectorNTT(sk.a, yHat, p.k, p.l)
	clear(yHat)
	w1 := make([][n]uint32, p.k)
	for i := range w {
		w[i] = nttInverse(w[i])
		for j, c := range w[i] {
			w1[i][j] = uint32(highBits(c, p.gamma2))
		}
	}
	w1Bytes := w1Encode(w1, p)
	a := &attempt{ctilde: shake256(p.ctilde, mu, w1Bytes), z: make([]poly, p.l), hint: make([][n]uint32, p.k)}
	clear(w1)
	clear(w1Bytes)
	cHat := ntt(sampleInBall(a.ctilde, p.tau))
	defer clear(cHat[:])
	for i := range a.z {
		cs1 := nttMul(&cHat, &sk.s1Hat[i])
		cs1 = nttInverse(cs1)
		a.z[i] = polyAdd(&y[i], &cs1)
		clear(cs1[:])
		a.zLarge = infinityNormAtLeast(&a.z[i], p.gamma1-p.beta()) || a.zLarge
	}
	for i := range w {
		cs2 := nttMul(&cHat, &sk.s2Hat[i])
		cs2 = nttInverse(cs2)
		r := polySub(&w[i], &cs2) // w - cs2
		var r0 poly
		for j, c := range r {
			r0[j] = fromCentered(lowBits(c, p.gamma2))
		}
		a.r0Large = infinityNormAtLeast(&r0, p.gamma2-p.beta()) || a.r0Large
		ct0 := nttMul(&cHat, &sk.t0Hat[i])
		ct0 = nttInverse(ct0)
		a.ct0Large = infinityNormAtLeast(&ct0, p.gamma2) || a.ct0Large
		// h = MakeHint(-ct0, w - cs2 + ct0)
		rct0 := polyAdd(&r, &ct0)
		for j := range rct0 {
			a.hint[i][j] = makeHint(fieldSub(0, ct0[j]), rct0[j], p.gamma2)
			a.ones += int(a.hint[i][j])
		}
		clear(r[:])
		clear(r0[:])
		clear(cs2[:])
		clear(ct0[:])
		clear(rct0[:])
	}
	clear(w)
	return a
}

// PublicKey is an ML-DSA public key, with Â and NTT(t1·2^d) expanded for
// verifying.
type PublicKey struct {
	p       *params
	encoded []byte
	a       []poly
	t1Hat   []poly
}

// NewPublicKey parses an encoded public key of set.
func NewPublicKey(set ParameterSet, encoded []byte) (*PublicKey, error) {
	p, err := set.lookup()
	if err != nil {
		return nil, err
	}
	if len(encoded) != p.publicKeySize() {
		return nil, fmt.Errorf("mldsa: a %v public key of %d bytes, not %d", set, len(encoded), p.publicKeySize())
	}
	rho, t1 := decodePublicKey(encoded, p)
	pk := &PublicKey{p: p, encoded: bytes.Clone(encoded), a: expandA(p, rho), t1Hat: make([]poly, p.k)}
	for i := range t1 {
		for j, c := range t1[i] {
			t1[i][j] = c << d // at most 1023·2^13 = q-1
		}
		pk.t1Hat[i] = ntt(t1[i])
	}
	return pk, nil
}

// Mu returns the message representative of msg under pure ML-DSA with
// context ctx (at most 255 bytes): SHAKE256(tr || 0 || len(ctx) || ctx
// || msg, 64), with tr = SHAKE256(pk, 64) (FIPS 204, Algorithm 2 and
// Algorithm 7 step 6).
func (pk *PublicKey) Mu(msg, ctx []byte) ([]byte, error) {
	if len(ctx) > 255 {
		return nil, fmt.Errorf("mldsa: a context of %d bytes, more than 255", len(ctx))
	}
	return shake256(MuSize, shake256(trSize, pk.encoded), []byte{0, byte(len(ctx))}, ctx, msg), nil
}

// VerifyMu reports whether sig is a valid signature of the message
// representative μ (FIPS 204 ML-DSA.Verify_internal, Algorithm 8, from
// its step 7 on).
func (pk *PublicKey) VerifyMu(mu, sig []byte) bool {
	p := pk.p
	if len(mu) != MuSize || len(sig) != p.signatureSize() {
		return false
	}
	ctilde, z, h, ok := decodeSignature(p, sig)
	if !ok {
		return false
	}
	for i := range z {
		if infinityNormAtLeast(&z[i], p.gamma1-p.beta()) {
			return false
		}
		z[i] = ntt(z[i])
	}
	return pk.challengeMatches(mu, ctilde, z, h)
}

// challengeMatches is Verify_internal's last steps (9-13): whether c̃ is
// the hash of μ and the high bits the hint recovers from Âz - ct1·2^d,
// for z in the NTT domain.
func (pk *PublicKey) challengeMatches(mu, ctilde []byte, zHat []poly, h [][n]uint32) bool {
	p := pk.p
	cHat := ntt(sampleInBall(ctilde, p.tau))
	w := matrixVectorNTT(pk.a, zHat, p.k, p.l)
	w1 := make([][n]uint32, p.k)
	for i := range w {
		ct1 := nttMul(&cHat, &pk.t1Hat[i])
		approx := polySub(&w[i], &ct1)
		approx = nttInverse(approx)
		for j, c := range approx {
			w1[i][j] = uint32(useHint(h[i][j], c, p.gamma2))
		}
	}
	return bytes.Equal(ctilde, shake256(p.ctilde, mu, w1Encode(w1, p)))
}
