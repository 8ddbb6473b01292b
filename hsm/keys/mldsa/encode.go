package mldsa

// packBits appends the low bits bits of each of vals, least significant
// bit first (FIPS 204's SimpleBitPack, Algorithm 16). n·bits is a
// multiple of 8 for every use.
func packBits(b []byte, vals *[n]uint32, bits int) []byte {
	var acc uint64
	held := 0
	for _, v := range vals {
		acc |= uint64(v) << held
		held += bits
		for held >= 8 {
			b = append(b, byte(acc))
			acc >>= 8
			held -= 8
		}
	}
	return b
}

// unpackBits is packBits's inverse on the first n·bits/8 bytes of b
// (SimpleBitUnpack, Algorithm 18).
func unpackBits(b []byte, bits int) (vals [n]uint32) {
	var acc uint64
	held, next := 0, 0
	for i := range vals {
		for held < bits {
			acc |= uint64(b[next]) << held
			next++
			held += 8
		}
		vals[i] = uint32(acc) & (1<<bits - 1)
		acc >>= bits
		held -= bits
	}
	return vals
}

// packZ appends z with each coefficient stored as γ1 - z (BitPack(z,
// γ1-1, γ1), Algorithm 17).
func packZ(b []byte, z *poly, p *params) []byte {
	var vals [n]uint32
	for i, c := range z {
		vals[i] = uint32(p.gamma1 - centered(c))
	}
	return packBits(b, &vals, p.g1Bits)
}

// unpackZ is packZ's inverse (BitUnpack, Algorithm 19); every input
// decodes to a coefficient in [-γ1+1, γ1].
func unpackZ(b []byte, p *params) (z poly) {
	vals := unpackBits(b, p.g1Bits)
	for i, v := range vals {
		z[i] = fromCentered(p.gamma1 - int32(v))
	}
	clear(vals[:])
	return z
}

// w1Encode returns w1's k polynomials packed at w1Bits bits a coefficient
// (Algorithm 28).
func w1Encode(w1 [][n]uint32, p *params) []byte {
	b := make([]byte, 0, p.k*n*p.w1Bits/8)
	for i := range w1 {
		b = packBits(b, &w1[i], p.w1Bits)
	}
	return b
}

// encodePublicKey returns ρ || t1 at 10 bits a coefficient (pkEncode,
// Algorithm 22).
func encodePublicKey(rho []byte, t1 [][n]uint32) []byte {
	b := append(make([]byte, 0, 32+len(t1)*n*10/8), rho...)
	for i := range t1 {
		b = packBits(b, &t1[i], 10)
	}
	return b
}

// decodePublicKey splits an encoded public key of the right size into ρ
// and t1 (pkDecode, Algorithm 23).
func decodePublicKey(b []byte, p *params) (rho []byte, t1 []poly) {
	rho, b = b[:32], b[32:]
	t1 = make([]poly, p.k)
	for i := range t1 {
		vals := unpackBits(b[i*n*10/8:], 10)
		for j, v := range vals {
			t1[i][j] = fieldElement(v)
		}
	}
	return rho, t1
}

// encodeSignature returns c̃ || z || h (sigEncode, Algorithm 26); h has
// at most ω ones.
func encodeSignature(p *params, ctilde []byte, z []poly, h [][n]uint32) []byte {
	b := append(make([]byte, 0, p.signatureSize()), ctilde...)
	for i := range z {
		b = packZ(b, &z[i], p)
	}
	// HintBitPack (Algorithm 20): the positions of the ones, polynomial
	// by polynomial, then each polynomial's end index.
	hints := make([]byte, p.omega+p.k)
	index := 0
	for i := range h {
		for j, bit := range h[i] {
			if bit != 0 {
				hints[index] = byte(j)
				index++
			}
		}
		hints[p.omega+i] = byte(index)
	}
	return append(b, hints...)
}

// decodeSignature splits a signature of the right size into c̃, z and h
// (sigDecode, Algorithm 27). ok is false for a malformed hint encoding
// (HintBitUnpack, Algorithm 21): end indexes that decrease or pass ω,
// positions not strictly increasing within a polynomial, or nonzero
// padding.
func decodeSignature(p *params, sig []byte) (ctilde []byte, z []poly, h [][n]uint32, ok bool) {
	ctilde, sig = sig[:p.ctilde], sig[p.ctilde:]
	z = make([]poly, p.l)
	size := n * p.g1Bits / 8
	for i := range z {
		z[i] = unpackZ(sig[i*size:], p)
	}
	hints := sig[p.l*size:]
	h = make([][n]uint32, p.k)
	index := 0
	for i := range h {
		end := int(hints[p.omega+i])
		if end < index || end > p.omega {
			return nil, nil, nil, false
		}
		first := index
		for ; index < end; index++ {
			if index > first && hints[index-1] >= hints[index] {
				return nil, nil, nil, false
			}
			h[i][hints[index]] = 1
		}
	}
	for ; index < p.omega; index++ {
		if hints[index] != 0 {
			return nil, nil, nil, false
		}
	}
	return ctilde, z, h, true
}
