// Package mldsa signs and verifies ML-DSA (FIPS 204) signatures of an
// external message representative μ: ExternalMu-ML-DSA, the variant in
// which the caller computes μ = SHAKE256(SHAKE256(pk, 64) || M′, 64) and
// the signer never sees the message. It is FIPS 204's ML-DSA.Sign_internal
// and ML-DSA.Verify_internal (Algorithms 7 and 8) with μ given, and
// ML-DSA.KeyGen_internal (Algorithm 6) from the 32-byte seed ξ, for the
// three parameter sets.
//
// It exists because the ML-DSA implementation Trent uses for messages
// (circl) does not export these internal functions, and Go's crypto/mldsa
// (Go 1.27) signs μ but does not verify it. Keys and signatures are FIPS
// 204's encodings, so a key made from a seed here is the same key circl
// or Go makes from that seed, and a signature over μ verifies as a
// signature over the message μ was computed from. The tests check this
// byte for byte against circl.
//
// Arithmetic on secret values (the key, the mask y, the hint inputs) has
// no branches or memory accesses that depend on them: reduction modulo q
// and the divisions in decompose are by constants, which Go compiles to
// multiplications (checked in the assembly on amd64, 386 and arm when this
// was written; only useHint, in Verify, divides by a variable). What leaks
// is what FIPS 204 practice accepts (Dilithium round 3, section 5.5): how
// many attempts signing took and which check rejected each, the positions
// of rejected samples in the private key's expansion, and the challenge's
// sampling, which depends on c̃ (public once the signature is released).
package mldsa

import "fmt"

// FIPS 204's constants.
const (
	n = 256     // coefficients per polynomial
	q = 8380417 // the modulus, 2^23 - 2^13 + 1
	d = 13      // bits dropped from t

	// SeedSize is the size of a private key's seed ξ.
	SeedSize = 32
	// MuSize is the size of the message representative μ.
	MuSize = 64
	// trSize is the size of tr, the hash of the public key.
	trSize = 64
)

// ParameterSet names an ML-DSA parameter set by its security category
// number as FIPS 204 does: 44, 65 or 87.
type ParameterSet int

// The parameter sets.
const (
	MLDSA44 ParameterSet = 44
	MLDSA65 ParameterSet = 65
	MLDSA87 ParameterSet = 87
)

// params holds one parameter set (FIPS 204, Table 1).
type params struct {
	k, l   int   // the matrix A is k x l
	eta    int32 // the private key's coefficient range
	tau    int   // the number of ±1s in the challenge
	ctilde int   // bytes of the commitment hash c̃: λ/4
	gamma1 int32 // the mask's coefficient range, 2^17 or 2^19
	g1Bits int   // bits per packed z coefficient: 1 + bitlen(γ1 - 1)
	gamma2 int32 // the low-order rounding range
	w1Bits int   // bits per packed w1 coefficient: bitlen((q-1)/(2γ2) - 1)
	omega  int   // the most hint bits that may be set
}

// beta is τ·η, the bound that z and r0 must keep from their ranges.
func (p *params) beta() int32 { return int32(p.tau) * p.eta }

// publicKeySize is the size of an encoded public key: ρ and t1 at 10
// bits a coefficient.
func (p *params) publicKeySize() int { return 32 + p.k*n*10/8 }

// signatureSize is the size of an encoded signature.
func (p *params) signatureSize() int { return p.ctilde + p.l*n*p.g1Bits/8 + p.omega + p.k }

var (
	params44 = params{k: 4, l: 4, eta: 2, tau: 39, ctilde: 32, gamma1: 1 << 17, g1Bits: 18, gamma2: (q - 1) / 88, w1Bits: 6, omega: 80}
	params65 = params{k: 6, l: 5, eta: 4, tau: 49, ctilde: 48, gamma1: 1 << 19, g1Bits: 20, gamma2: (q - 1) / 32, w1Bits: 4, omega: 55}
	params87 = params{k: 8, l: 7, eta: 2, tau: 60, ctilde: 64, gamma1: 1 << 19, g1Bits: 20, gamma2: (q - 1) / 32, w1Bits: 4, omega: 75}
)

// lookup returns set's parameters.
func (set ParameterSet) lookup() (*params, error) {
	switch set {
	case MLDSA44:
		return &params44, nil
	case MLDSA65:
		return &params65, nil
	case MLDSA87:
		return &params87, nil
	}
	return nil, fmt.Errorf("mldsa: no parameter set ML-DSA-%d", int(set))
}

// PublicKeySize returns the size of set's encoded public keys, 0 for an
// unknown set.
func (set ParameterSet) PublicKeySize() int {
	p, err := set.lookup()
	if err != nil {
		return 0
	}
	return p.publicKeySize()
}

// SignatureSize returns the size of set's signatures, 0 for an unknown
// set.
func (set ParameterSet) SignatureSize() int {
	p, err := set.lookup()
	if err != nil {
		return 0
	}
	return p.signatureSize()
}

// String returns the set's FIPS 204 name.
func (set ParameterSet) String() string { return fmt.Sprintf("ML-DSA-%d", int(set)) }
