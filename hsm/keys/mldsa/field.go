package mldsa

// A fieldElement is an integer modulo q, kept in [0, q). The operations
// are free of secret-dependent branches: reduction modulo the constant q
// compiles to multiplications and shifts, and conditional subtractions
// use masks.
type fieldElement uint32

// poly is a polynomial of R_q (or, for NTT-domain values, of T_q).
type poly [n]fieldElement

// mask returns all ones if v is negative, else zero.
func mask(v int32) uint32 { return uint32(v >> 31) }

// fieldReduceOnce maps a in [0, 2q) to [0, q).
func fieldReduceOnce(a uint32) fieldElement {
	r := a - q
	r += q & mask(int32(r))
	return fieldElement(r)
}

func fieldAdd(a, b fieldElement) fieldElement { return fieldReduceOnce(uint32(a) + uint32(b)) }

func fieldSub(a, b fieldElement) fieldElement { return fieldReduceOnce(uint32(a) - uint32(b) + q) }

func fieldMul(a, b fieldElement) fieldElement {
	return fieldElement(uint64(a) * uint64(b) % q)
}

// fromCentered maps an integer in (-q, q) to its element.
func fromCentered(v int32) fieldElement {
	return fieldElement(uint32(v) + q&mask(v))
}

// centered returns a's representative in [-(q-1)/2, (q-1)/2] (mod±).
func centered(a fieldElement) int32 {
	v := int32(a)
	return v - int32(q&mask((q-1)/2-v))
}

// infinityNormAtLeast reports whether some coefficient of p, taken mod±
// q, has absolute value at least bound, without branching on which.
func infinityNormAtLeast(p *poly, bound int32) bool {
	var over uint32
	for _, a := range p {
		v := centered(a)
		abs := v ^ int32(mask(v)) - int32(mask(v))
		over |= ^mask(abs - bound) // abs >= bound
	}
	return over != 0
}

// zetas[m] is ζ^brv8(m) mod q for ζ = 1753, the 512th root of unity
// (FIPS 204, Appendix B).
var zetas = computeZetas()

func computeZetas() (z [n]fieldElement) {
	const zeta = 1753
	for m := 0; m < n; m++ {
		brv := 0
		for b := 0; b < 8; b++ {
			brv |= (m >> b & 1) << (7 - b)
		}
		x := fieldElement(1)
		for i := 0; i < brv; i++ {
			x = fieldMul(x, zeta)
		}
		z[m] = x
	}
	return z
}

// ntt returns the NTT of f (FIPS 204, Algorithm 41).
func ntt(f poly) poly {
	m := 0
	for length := 128; length >= 1; length /= 2 {
		for start := 0; start < n; start += 2 * length {
			m++
			zeta := zetas[m]
			for j := start; j < start+length; j++ {
				t := fieldMul(zeta, f[j+length])
				f[j+length] = fieldSub(f[j], t)
				f[j] = fieldAdd(f[j], t)
			}
		}
	}
	return f
}

// nttInverse returns the inverse NTT of f (FIPS 204, Algorithm 42).
func nttInverse(f poly) poly {
	m := n
	for length := 1; length < n; length *= 2 {
		for start := 0; start < n; start += 2 * length {
			m--
			zeta := q - zetas[m] // -ζ
			for j := start; j < start+length; j++ {
				t := f[j]
				f[j] = fieldAdd(t, f[j+length])
				f[j+length] = fieldMul(zeta, fieldSub(t, f[j+length]))
			}
		}
	}
	const nInverse = 8347681 // 256^-1 mod q
	for j := range f {
		f[j] = fieldMul(nInverse, f[j])
	}
	return f
}

// nttMul returns the product of a and b in T_q, coefficient by
// coefficient.
func nttMul(a, b *poly) (r poly) {
	for i := range r {
		r[i] = fieldMul(a[i], b[i])
	}
	return r
}

func polyAdd(a, b *poly) (r poly) {
	for i := range r {
		r[i] = fieldAdd(a[i], b[i])
	}
	return r
}

func polySub(a, b *poly) (r poly) {
	for i := range r {
		r[i] = fieldSub(a[i], b[i])
	}
	return r
}

// matrixVectorNTT returns Â ∘ v̂: k NTT-domain polynomials from the k x l
// matrix a (row-major) and l NTT-domain polynomials v.
func matrixVectorNTT(a []poly, v []poly, k, l int) []poly {
	r := make([]poly, k)
	for i := 0; i < k; i++ {
		for j := 0; j < l; j++ {
			t := nttMul(&a[i*l+j], &v[j])
			r[i] = polyAdd(&r[i], &t)
		}
	}
	return r
}
