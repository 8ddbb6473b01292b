package mldsa_test

import (
	"bytes"
	mrand "math/rand/v2"
	"testing"

	"github.com/cloudflare/circl/sign"
	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/cloudflare/circl/sign/mldsa/mldsa87"

	"github.com/trentkms/trent/hsm/keys/mldsa"
)

// reference is circl's implementation of one parameter set: an
// independent implementation of FIPS 204 to check against.
type reference struct {
	set    mldsa.ParameterSet
	scheme sign.Scheme
	// signDeterministic signs msg with context ctx and rnd = 0.
	signDeterministic func(sk sign.PrivateKey, msg, ctx []byte) []byte
	verify            func(pk sign.PublicKey, msg, ctx, sig []byte) bool
}

var references = []reference{
	{mldsa.MLDSA44, mldsa44.Scheme(), func(sk sign.PrivateKey, msg, ctx []byte) []byte {
		sig := make([]byte, mldsa44.SignatureSize)
		must(mldsa44.SignTo(sk.(*mldsa44.PrivateKey), msg, ctx, false, sig))
		return sig
	}, func(pk sign.PublicKey, msg, ctx, sig []byte) bool {
		return mldsa44.Verify(pk.(*mldsa44.PublicKey), msg, ctx, sig)
	}},
	{mldsa.MLDSA65, mldsa65.Scheme(), func(sk sign.PrivateKey, msg, ctx []byte) []byte {
		sig := make([]byte, mldsa65.SignatureSize)
		must(mldsa65.SignTo(sk.(*mldsa65.PrivateKey), msg, ctx, false, sig))
		return sig
	}, func(pk sign.PublicKey, msg, ctx, sig []byte) bool {
		return mldsa65.Verify(pk.(*mldsa65.PublicKey), msg, ctx, sig)
	}},
	{mldsa.MLDSA87, mldsa87.Scheme(), func(sk sign.PrivateKey, msg, ctx []byte) []byte {
		sig := make([]byte, mldsa87.SignatureSize)
		must(mldsa87.SignTo(sk.(*mldsa87.PrivateKey), msg, ctx, false, sig))
		return sig
	}, func(pk sign.PublicKey, msg, ctx, sig []byte) bool {
		return mldsa87.Verify(pk.(*mldsa87.PublicKey), msg, ctx, sig)
	}},
}

// fill fills b from rng: the test's inputs follow from its seed.
func fill(rng *mrand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// pair makes the same key pair from seed in both implementations.
func pair(t testing.TB, ref reference, seed []byte) (*mldsa.PrivateKey, *mldsa.PublicKey, sign.PublicKey, sign.PrivateKey) {
	t.Helper()
	sk, err := mldsa.NewPrivateKey(ref.set, seed)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := mldsa.NewPublicKey(ref.set, sk.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	rpk, rsk := ref.scheme.DeriveKey(seed)
	return sk, pk, rpk, rsk
}

func mu(t testing.TB, pk *mldsa.PublicKey, msg, ctx []byte) []byte {
	t.Helper()
	m, err := pk.Mu(msg, ctx)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMatchesCircl checks the package byte for byte against circl, per
// parameter set, over keys from random seeds and messages of several
// sizes and contexts: the same public key from the same seed, the same
// deterministic signature of μ as circl's of the message, hedged
// signatures of μ that circl verifies for the message, and the same
// verdict as circl's on valid and damaged signatures.
func TestMatchesCircl(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(5, 6))
	for _, ref := range references {
		t.Run(ref.set.String(), func(t *testing.T) {
			for trial := 0; trial < 12; trial++ {
				seed := make([]byte, mldsa.SeedSize)
				for i := range seed {
					seed[i] = byte(rng.Uint32())
				}
				sk, pk, rpk, rsk := pair(t, ref, seed)
				want, _ := rpk.MarshalBinary()
				if !bytes.Equal(sk.PublicKey(), want) {
					t.Fatal("the public key from a seed differs from circl's")
				}
				msg := make([]byte, rng.IntN(300))
				fill(rng, msg)
				ctx := make([]byte, []int{0, 0, 1, 255}[trial%4])
				fill(rng, ctx)
				m := mu(t, pk, msg, ctx)

				det, err := sk.SignMu(m, make([]byte, 32))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(det, ref.signDeterministic(rsk, msg, ctx)) {
					t.Fatal("the deterministic signature of μ differs from circl's of the message")
				}
				rnd := make([]byte, 32)
				fill(rng, rnd)
				hedged, err := sk.SignMu(m, rnd)
				if err != nil {
					t.Fatal(err)
				}
				if len(hedged) != ref.set.SignatureSize() || !ref.verify(rpk, msg, ctx, hedged) {
					t.Fatal("circl does not verify a hedged signature of μ")
				}
				if !pk.VerifyMu(m, hedged) || !pk.VerifyMu(m, det) {
					t.Fatal("VerifyMu refuses a valid signature")
				}
				other := bytes.Clone(m)
				other[rng.IntN(len(other))] ^= 1 << rng.IntN(8)
				if pk.VerifyMu(other, hedged) {
					t.Fatal("VerifyMu accepts a signature for another μ")
				}
				for i := 0; i < 40; i++ {
					bad := bytes.Clone(hedged)
					bad[rng.IntN(len(bad))] ^= 1 << rng.IntN(8)
					if got, want := pk.VerifyMu(m, bad), ref.verify(rpk, msg, ctx, bad); got != want {
						t.Fatalf("VerifyMu says %v for a damaged signature, circl %v", got, want)
					}
				}
			}
		})
	}
}

// TestRefusesMalformedInput covers the size checks.
func TestRefusesMalformedInput(t *testing.T) {
	seed := make([]byte, mldsa.SeedSize)
	sk, err := mldsa.NewPrivateKey(mldsa.MLDSA65, seed)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := mldsa.NewPublicKey(mldsa.MLDSA65, sk.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	m := mu(t, pk, []byte("m"), nil)
	sig, err := sk.SignMu(m, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		err  error
	}{
		{"unknown set", func() error { _, err := mldsa.NewPrivateKey(50, seed); return err }()},
		{"short seed", func() error { _, err := mldsa.NewPrivateKey(mldsa.MLDSA44, seed[:31]); return err }()},
		{"short μ", func() error { _, err := sk.SignMu(m[:63], make([]byte, 32)); return err }()},
		{"short randomness", func() error { _, err := sk.SignMu(m, make([]byte, 31)); return err }()},
		{"public key of another set", func() error { _, err := mldsa.NewPublicKey(mldsa.MLDSA44, sk.PublicKey()); return err }()},
		{"long context", func() error { _, err := pk.Mu(nil, make([]byte, 256)); return err }()},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil {
				t.Fatal("accepted")
			}
		})
	}
	for _, c := range []struct {
		name    string
		mu, sig []byte
	}{
		{"short signature", m, sig[:len(sig)-1]},
		{"long signature", m, append(bytes.Clone(sig), 0)},
		{"short μ", m[:63], sig},
		{"empty", nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if pk.VerifyMu(c.mu, c.sig) {
				t.Fatal("verified")
			}
		})
	}
}

// FuzzVerifyMuMatchesCircl gives VerifyMu and circl the same fuzzed
// signature (a valid one damaged by the fuzzer) and message, for the
// parameter set the first input byte picks: their verdicts must agree,
// which covers the hint decoding's corner cases for every k and ω.
func FuzzVerifyMuMatchesCircl(f *testing.F) {
	type fixture struct {
		ref reference
		pk  *mldsa.PublicKey
		rpk sign.PublicKey
	}
	var fixtures []fixture
	for i, ref := range references {
		sk, pk, rpk, _ := pair(f, ref, make([]byte, mldsa.SeedSize))
		fixtures = append(fixtures, fixture{ref, pk, rpk})
		msg := []byte("fuzz")
		sig, err := sk.SignMu(mu(f, pk, msg, nil), make([]byte, 32))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(i), msg, sig)
		f.Add(byte(i), msg, make([]byte, len(sig)))
		hints := bytes.Clone(sig)
		hints[len(hints)-1] = 0xff // an end index past ω
		f.Add(byte(i), msg, hints)
	}
	f.Fuzz(func(t *testing.T, set byte, msg, sig []byte) {
		x := fixtures[int(set)%len(fixtures)]
		if got, want := x.pk.VerifyMu(mu(t, x.pk, msg, nil), sig), x.ref.verify(x.rpk, msg, nil, sig); got != want {
			t.Fatalf("%v: VerifyMu %v, circl %v", x.ref.set, got, want)
		}
	})
}

// BenchmarkSignMu signs μ with this package and, as the baseline in the
// same run, the message with circl (which computes μ itself).
func BenchmarkSignMu(b *testing.B) {
	for _, ref := range references {
		sk, pk, _, rsk := pair(b, ref, make([]byte, mldsa.SeedSize))
		msg := []byte("message")
		m := mu(b, pk, msg, nil)
		rnd := make([]byte, 32)
		b.Run(ref.set.String()+"/mu", func(b *testing.B) {
			for b.Loop() {
				if _, err := sk.SignMu(m, rnd); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(ref.set.String()+"/circl", func(b *testing.B) {
			for b.Loop() {
				ref.signDeterministic(rsk, msg, nil)
			}
		})
	}
}

// BenchmarkVerifyMu verifies a signature given μ and, as the baseline,
// given the message with circl.
func BenchmarkVerifyMu(b *testing.B) {
	for _, ref := range references {
		sk, pk, rpk, _ := pair(b, ref, make([]byte, mldsa.SeedSize))
		msg := []byte("message")
		m := mu(b, pk, msg, nil)
		sig, _ := sk.SignMu(m, make([]byte, 32))
		b.Run(ref.set.String()+"/mu", func(b *testing.B) {
			for b.Loop() {
				if !pk.VerifyMu(m, sig) {
					b.Fatal("refused")
				}
			}
		})
		b.Run(ref.set.String()+"/circl", func(b *testing.B) {
			for b.Loop() {
				if !ref.verify(rpk, msg, nil, sig) {
					b.Fatal("refused")
				}
			}
		})
	}
}
