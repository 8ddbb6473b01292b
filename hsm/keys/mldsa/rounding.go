package mldsa

// power2Round splits r into r1·2^d + r0 with r0 in (-2^(d-1), 2^(d-1)]
// (FIPS 204, Algorithm 35).
func power2Round(r fieldElement) (r1, r0 int32) {
	v := int32(r)
	r0 = v & (1<<d - 1)
	r0 -= 1 << d & int32(mask(1<<(d-1)-r0)) // r0 > 2^(d-1)
	return (v - r0) >> d, r0
}

// decompose splits r into r1·2γ2 + r0 with r0 in (-γ2, γ2], except that
// the top value of r1 wraps to 0 (FIPS 204, Algorithm 36). The divisions
// are by constants, so they compile to multiplications; the branch is on
// the parameter set only.
func decompose(r fieldElement, gamma2 int32) (r1, r0 int32) {
	const twoGamma88, twoGamma32 = (q - 1) / 44, (q - 1) / 16
	narrow := gamma2 == (q-1)/88
	if narrow {
		r0 = int32(uint32(r) % twoGamma88)
	} else {
		r0 = int32(uint32(r) % twoGamma32)
	}
	r0 -= 2 * gamma2 & int32(mask(gamma2-r0)) // r0 > γ2
	diff := int32(r) - r0                     // a multiple of 2γ2 in [0, q-1]
	if narrow {
		r1 = diff / twoGamma88
	} else {
		r1 = diff / twoGamma32
	}
	top := int32(^mask(diff-(q-1)) & ^mask(q-1-diff)) // diff == q-1
	return r1 &^ top, r0 - 1&top
}

// highBits is decompose's r1 (FIPS 204, Algorithm 37).
func highBits(r fieldElement, gamma2 int32) int32 {
	r1, _ := decompose(r, gamma2)
	return r1
}

// lowBits is decompose's r0 (FIPS 204, Algorithm 38).
func lowBits(r fieldElement, gamma2 int32) int32 {
	_, r0 := decompose(r, gamma2)
	return r0
}

// makeHint returns 1 if adding z to r changes r's high bits, else 0
// (FIPS 204, Algorithm 39).
func makeHint(z, r fieldElement, gamma2 int32) uint32 {
	x := uint32(highBits(r, gamma2) ^ highBits(fieldAdd(r, z), gamma2))
	return (x | -x) >> 31
}

// useHint returns r's high bits corrected by hint h (FIPS 204, Algorithm
// 40). It runs on public values only (Verify).
func useHint(h uint32, r fieldElement, gamma2 int32) int32 {
	m := (q - 1) / (2 * gamma2)
	r1, r0 := decompose(r, gamma2)
	switch {
	case h == 1 && r0 > 0:
		return (r1 + 1) % m
	case h == 1:
		return (r1 - 1 + m) % m
	}
	return r1
}
