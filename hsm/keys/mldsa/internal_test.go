package mldsa

import (
	"bytes"
	"crypto/sha3"
	"math/rand/v2"
	"testing"
)

// modPM is r mod± m as FIPS 204 defines it: the representative in
// (-m/2, m/2] for even m.
func modPM(r, m int32) int32 {
	r0 := r % m
	if r0 < 0 {
		r0 += m
	}
	if r0 > m/2 {
		r0 -= m
	}
	return r0
}

// TestRoundingMatchesTheSpecification checks the branch-free power2Round
// and decompose against FIPS 204's definitions (Algorithms 35 and 36), and
// useHint against Algorithm 40 for both hints, for every element of Z_q.
func TestRoundingMatchesTheSpecification(t *testing.T) {
	for r := int32(0); r < q; r++ {
		w0 := modPM(r, 1<<d)
		if r1, r0 := power2Round(fieldElement(r)); r0 != w0 || r1 != (r-w0)>>d {
			t.Fatalf("power2Round(%d) = %d, %d; want %d, %d", r, r1, r0, (r-w0)>>d, w0)
		}
	}
	for _, gamma2 := range []int32{(q - 1) / 88, (q - 1) / 32} {
		t.Run("", func(t *testing.T) {
			for r := int32(0); r < q; r++ {
				w0 := modPM(r, 2*gamma2)
				var w1 int32
				if r-w0 == q-1 {
					w1, w0 = 0, w0-1
				} else {
					w1 = (r - w0) / (2 * gamma2)
				}
				if r1, r0 := decompose(fieldElement(r), gamma2); r1 != w1 || r0 != w0 {
					t.Fatalf("γ2 = %d: decompose(%d) = %d, %d; want %d, %d", gamma2, r, r1, r0, w1, w0)
				}
				m := (q - 1) / (2 * gamma2)
				wantHint := w1 // Algorithm 40, with h = 1
				if w0 > 0 {
					wantHint = (w1 + 1) % m
				} else {
					wantHint = (w1 - 1 + m) % m
				}
				if useHint(0, fieldElement(r), gamma2) != w1 || useHint(1, fieldElement(r), gamma2) != wantHint {
					t.Fatalf("γ2 = %d: useHint(·, %d) = %d, %d; want %d, %d", gamma2, r,
						useHint(0, fieldElement(r), gamma2), useHint(1, fieldElement(r), gamma2), w1, wantHint)
				}
			}
		})
	}
}

// TestHintsRecoverHighBits checks FIPS 204's Lemma: for |z| ≤ γ2,
// useHint(makeHint(z, r), r) is highBits(r + z).
func TestHintsRecoverHighBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, gamma2 := range []int32{(q - 1) / 88, (q - 1) / 32} {
		for i := 0; i < 200000; i++ {
			r := fieldElement(rng.Uint32N(q))
			z := fromCentered(rng.Int32N(2*gamma2+1) - gamma2)
			h := makeHint(z, r, gamma2)
			if got, want := useHint(h, r, gamma2), highBits(fieldAdd(r, z), gamma2); got != want {
				t.Fatalf("γ2 = %d, r = %d, z = %d: useHint gives %d, want %d", gamma2, r, centered(z), got, want)
			}
		}
	}
}

// TestNTTMultipliesInTheRing checks that multiplying in the NTT domain is
// multiplication in Z_q[X]/(X^256 + 1), and that nttInverse undoes ntt.
func TestNTTMultipliesInTheRing(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 20; trial++ {
		var a, b poly
		for i := range a {
			a[i], b[i] = fieldElement(rng.Uint32N(q)), fieldElement(rng.Uint32N(q))
		}
		if back := nttInverse(ntt(a)); back != a {
			t.Fatal("nttInverse(ntt(a)) != a")
		}
		var want poly // schoolbook, with X^256 = -1
		for i := range a {
			for j := range b {
				prod := fieldMul(a[i], b[j])
				if k := i + j; k < n {
					want[k] = fieldAdd(want[k], prod)
				} else {
					want[k-n] = fieldSub(want[k-n], prod)
				}
			}
		}
		ah, bh := ntt(a), ntt(b)
		if got := nttInverse(nttMul(&ah, &bh)); got != want {
			t.Fatal("the NTT product differs from the ring product")
		}
	}
}

// TestFieldHelpers covers the branch-free helpers at their edges.
func TestFieldHelpers(t *testing.T) {
	for _, c := range []struct {
		v    int32
		want fieldElement
	}{{0, 0}, {1, 1}, {-1, q - 1}, {q - 1, q - 1}, {-(q - 1), 1}} {
		if got := fromCentered(c.v); got != c.want {
			t.Errorf("fromCentered(%d) = %d, want %d", c.v, got, c.want)
		}
	}
	for _, c := range []struct {
		a    fieldElement
		want int32
	}{{0, 0}, {(q - 1) / 2, (q - 1) / 2}, {(q + 1) / 2, -(q - 1) / 2}, {q - 1, -1}} {
		if got := centered(c.a); got != c.want {
			t.Errorf("centered(%d) = %d, want %d", c.a, got, c.want)
		}
	}
	var p poly
	p[7] = fromCentered(-100)
	for _, c := range []struct {
		bound int32
		want  bool
	}{{100, true}, {101, false}, {1, true}} {
		if got := infinityNormAtLeast(&p, c.bound); got != c.want {
			t.Errorf("‖p‖ ≥ %d = %v, want %v", c.bound, got, c.want)
		}
	}
	if fieldAdd(q-1, 1) != 0 || fieldSub(0, 1) != q-1 || fieldMul(q-1, q-1) != 1 {
		t.Error("field arithmetic wraps wrongly")
	}
}

// TestVerifyRefusesALargeZ makes, for each parameter set, a signature
// whose only fault is a z coefficient at or past γ1-β (an attempt the
// signer rejects for that reason alone): its challenge matches, so only
// Verify's norm check refuses it. A second search finds one whose largest
// coefficient is exactly γ1-β, which FIPS 204 refuses too.
func TestVerifyRefusesALargeZ(t *testing.T) {
	for _, set := range []ParameterSet{MLDSA44, MLDSA65, MLDSA87} {
		t.Run(set.String(), func(t *testing.T) {
			sk, err := NewPrivateKey(set, make([]byte, SeedSize))
			if err != nil {
				t.Fatal(err)
			}
			pk, err := NewPublicKey(set, sk.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			p := sk.p
			mu, _ := pk.Mu([]byte("large z"), nil)
			rhoPP := shake256(64, sk.key, make([]byte, 32), mu)
			for kappa := 0; kappa < 1000*p.l; kappa += p.l {
				a := sk.attempt(mu, rhoPP, kappa)
				if !a.zLarge || a.r0Large || a.ct0Large || a.ones > p.omega {
					continue
				}
				sig := encodeSignature(p, a.ctilde, a.z, a.hint)
				_, z, h, ok := decodeSignature(p, sig)
				if !ok {
					t.Fatal("the candidate does not decode")
				}
				for i := range z {
					z[i] = ntt(z[i])
				}
				if !pk.challengeMatches(mu, a.ctilde, z, h) {
					t.Fatal("the candidate's challenge does not match")
				}
				if pk.VerifyMu(mu, sig) {
					t.Fatal("VerifyMu accepts a signature with ‖z‖∞ ≥ γ1-β")
				}
				return
			}
			t.Fatal("no attempt was rejected for z alone")
		})
	}
}

// maxAbs returns the largest |coefficient| of z, taken mod± q.
func maxAbs(z []poly) int32 {
	var m int32
	for i := range z {
		for _, c := range z[i] {
			m = max(m, centered(c), -centered(c))
		}
	}
	return m
}

// TestVerifyRefusesZAtTheBound: a candidate whose checks all pass except
// that max|z| is exactly γ1-β is refused (the bound is exclusive).
func TestVerifyRefusesZAtTheBound(t *testing.T) {
	for _, set := range []ParameterSet{MLDSA44, MLDSA65, MLDSA87} {
		t.Run(set.String(), func(t *testing.T) {
			sk, _ := NewPrivateKey(set, make([]byte, SeedSize))
			pk, _ := NewPublicKey(set, sk.PublicKey())
			p := sk.p
			for m := 0; m < 400; m++ {
				mu, _ := pk.Mu([]byte{byte(m), byte(m >> 8)}, nil)
				rhoPP := shake256(64, sk.key, make([]byte, 32), mu)
				for kappa := 0; kappa < 50*p.l; kappa += p.l {
					a := sk.attempt(mu, rhoPP, kappa)
					if a.r0Large || a.ct0Large || a.ones > p.omega || maxAbs(a.z) != p.gamma1-p.beta() {
						continue
					}
					if pk.VerifyMu(mu, encodeSignature(p, a.ctilde, a.z, a.hint)) {
						t.Fatal("VerifyMu accepts ‖z‖∞ = γ1-β")
					}
					return
				}
			}
			t.Fatal("no candidate with ‖z‖∞ = γ1-β")
		})
	}
}

// TestExpandMaskEncodesTheCounterInTwoBytes: κ+r is written as two
// little-endian bytes, also past 255 (no signing reaches that in tests).
func TestExpandMaskEncodesTheCounterInTwoBytes(t *testing.T) {
	p := &params44
	rhoPP := make([]byte, 64)
	for i := range rhoPP {
		rhoPP[i] = byte(i)
	}
	y := expandMask(p, rhoPP, 0x1234)
	seed := append(bytes.Clone(rhoPP), 0x35, 0x12) // κ+1 = 0x1235
	if want := unpackZ(sha3.SumSHAKE256(seed, n*p.g1Bits/8), p); y[1] != want {
		t.Fatal("expandMask(κ = 0x1234)[1] is not from H(ρ″ || 0x35 0x12)")
	}
}
