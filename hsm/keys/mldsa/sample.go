package mldsa

import (
	"crypto/sha3"
	"encoding/binary"
)

// shake256 returns the first size bytes of SHAKE256 of the
// concatenation of parts (FIPS 204's H).
func shake256(size int, parts ...[]byte) []byte {
	h := sha3.NewSHAKE256()
	for _, p := range parts {
		h.Write(p)
	}
	out := make([]byte, size)
	h.Read(out)
	h.Reset() // the state holds what was squeezed: K, ρ′ or ρ″
	return out
}

// expandA returns Â, the k x l matrix of NTT-domain polynomials derived
// from ρ, row-major (FIPS 204, Algorithm 32).
func expandA(p *params, rho []byte) []poly {
	a := make([]poly, p.k*p.l)
	seed := make([]byte, 34)
	copy(seed, rho)
	for r := 0; r < p.k; r++ {
		for s := 0; s < p.l; s++ {
			seed[32], seed[33] = byte(s), byte(r)
			a[r*p.l+s] = rejNTTPoly(seed)
		}
	}
	return a
}

// rejNTTPoly samples a uniform NTT-domain polynomial from SHAKE128 of
// seed, three bytes a candidate (FIPS 204, Algorithms 30 and 14).
func rejNTTPoly(seed []byte) (a poly) {
	h := sha3.NewSHAKE128()
	h.Write(seed)
	var buf [168]byte // SHAKE128's rate, a multiple of 3
	for j := 0; j < n; {
		h.Read(buf[:])
		for i := 0; i < len(buf) && j < n; i += 3 {
			z := uint32(buf[i]) | uint32(buf[i+1])<<8 | uint32(buf[i+2]&0x7f)<<16
			if z < q {
				a[j] = fieldElement(z)
				j++
			}
		}
	}
	return a
}

// expandS returns the private vectors s1 (l polynomials) and s2 (k) with
// coefficients in [-η, η], derived from ρ′ (FIPS 204, Algorithm 33).
func expandS(p *params, rhoPrime []byte) (s1, s2 []poly) {
	seed := make([]byte, 66)
	copy(seed, rhoPrime)
	all := make([]poly, p.l+p.k)
	for r := range all {
		binary.LittleEndian.PutUint16(seed[64:], uint16(r))
		all[r] = rejBoundedPoly(seed, p.eta)
	}
	clear(seed)
	return all[:p.l], all[p.l:]
}

// rejBoundedPoly samples a polynomial with coefficients in [-η, η] from
// SHAKE256 of seed, two half-bytes a byte (FIPS 204, Algorithms 31 and
// 15). Which half-bytes are rejected does not depend on the values kept.
func rejBoundedPoly(seed []byte, eta int32) (a poly) {
	h := sha3.NewSHAKE256()
	h.Write(seed)
	var buf [136]byte // SHAKE256's rate
	defer clear(buf[:])
	defer h.Reset()
	j := 0
	for j < n {
		h.Read(buf[:])
		for i := 0; i < len(buf) && j < n; i++ {
			for _, b := range [2]int32{int32(buf[i] & 15), int32(buf[i] >> 4)} {
				if j == n {
					break
				}
				switch {
				case eta == 2 && b < 15:
					a[j] = fromCentered(2 - b%5)
					j++
				case eta == 4 && b < 9:
					a[j] = fromCentered(4 - b)
					j++
				}
			}
		}
	}
	return a
}

// expandMask returns the mask y, l polynomials with coefficients in
// [-γ1+1, γ1], for the κ-th attempt (FIPS 204, Algorithm 34).
func expandMask(p *params, rhoPP []byte, kappa int) []poly {
	y := make([]poly, p.l)
	seed := make([]byte, 66)
	copy(seed, rhoPP)
	buf := make([]byte, n*p.g1Bits/8)
	for r := range y {
		binary.LittleEndian.PutUint16(seed[64:], uint16(kappa+r))
		h := sha3.NewSHAKE256()
		h.Write(seed)
		h.Read(buf)
		h.Reset()
		y[r] = unpackZ(buf, p)
	}
	clear(seed)
	clear(buf)
	return y
}

// sampleInBall returns the challenge c: τ coefficients ±1, the rest 0,
// derived from c̃ (FIPS 204, Algorithm 29). It branches on and indexes by
// values derived from c̃, which is public for the released signature; for
// rejected attempts this is the leak FIPS 204 practice accepts (Dilithium
// round 3, section 5.5).
func sampleInBall(ctilde []byte, tau int) (c poly) {
	h := sha3.NewSHAKE256()
	h.Write(ctilde)
	var b [8]byte
	h.Read(b[:])
	signs := binary.LittleEndian.Uint64(b[:])
	for i := n - tau; i < n; i++ {
		j := n
		for j > i {
			h.Read(b[:1]) // SHAKE buffers a block itself
			j = int(b[0])
		}
		c[i] = c[j]
		c[j] = fieldElement(1)
		if signs&1 == 1 {
			c[j] = q - 1
		}
		signs >>= 1
	}
	h.Reset()
	return c
}
