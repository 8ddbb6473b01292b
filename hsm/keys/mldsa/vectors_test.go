package mldsa

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The published test vectors: Wycheproof's ML-DSA sets and NIST's ACVP
// sets, as circl's module ships them. They are read from the module
// cache at test time (the module is a test dependency of this package, so
// the go command has it), not copied into this repository.

// circlDir returns the directory of the circl module this build uses.
func circlDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/cloudflare/circl").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Fatalf("locating the circl module for its test vectors: %v", err)
	}
	return dir
}

// readVectors decodes the gzipped JSON file at path into v.
func readVectors(t *testing.T, path string, v any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(z).Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wycheproofTest is one Wycheproof test case.
type wycheproofTest struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Msg     string   `json:"msg"`
	Ctx     *string  `json:"ctx"`
	Sig     string   `json:"sig"`
	Result  string   `json:"result"`
	Flags   []string `json:"flags"`
}

// wycheproofFiles names each set's files (their names are not uniform).
var wycheproofFiles = []struct {
	set                  ParameterSet
	verify, seed, noseed string
}{
	{MLDSA44, "mldsa_44_verify_test", "mldsa_44_sign_seed_test", "mldsa_44_sign_noseed_test"},
	{MLDSA65, "mldsa_65_verify_test", "mldsa_65_seed_sign_test", "mldsa_65_noseed_sign_test"},
	{MLDSA87, "mldsa_87_verify_test", "mldsa_87_sign_seed_test", "mldsa_87_sign_noseed_test"},
}

// muOf is the message representative of a Wycheproof case under the
// public key whose hash is tr, or nil for a context too long to sign.
func muOf(t *testing.T, tr []byte, tc *wycheproofTest) []byte {
	var ctx []byte
	if tc.Ctx != nil {
		ctx = unhex(t, *tc.Ctx)
	}
	if len(ctx) > 255 {
		return nil
	}
	return shake256(MuSize, tr, []byte{0, byte(len(ctx))}, ctx, unhex(t, tc.Msg))
}

// TestWycheproofVerify: VerifyMu's verdict on every Wycheproof
// verification case (malformed hints, boundary z, wrong lengths, zero
// keys), with μ computed from the case's message and context.
func TestWycheproofVerify(t *testing.T) {
	dir := filepath.Join(circlDir(t), "sign/schemes/testdata/wycheproof")
	for _, w := range wycheproofFiles {
		t.Run(w.set.String(), func(t *testing.T) {
			var f struct {
				TestGroups []struct {
					PublicKey string           `json:"publicKey"`
					Tests     []wycheproofTest `json:"tests"`
				} `json:"testGroups"`
			}
			readVectors(t, filepath.Join(dir, w.verify+".json.gz"), &f)
			cases := 0
			for _, g := range f.TestGroups {
				encoded := unhex(t, g.PublicKey)
				pk, err := NewPublicKey(w.set, encoded)
				for _, tc := range g.Tests {
					cases++
					got := false
					if m := muOf(t, shake256(trSize, encoded), &tc); err == nil && m != nil {
						got = pk.VerifyMu(m, unhex(t, tc.Sig))
					}
					if got != (tc.Result == "valid") {
						t.Errorf("case %d (%s %v): verified %v, want %s", tc.TcID, tc.Comment, tc.Flags, got, tc.Result)
					}
				}
			}
			if cases == 0 {
				t.Fatal("no cases")
			}
		})
	}
}

// rejections counts why signing attempts were rejected, for the checks
// that are rare: the test fails unless every check fired at least once.
type rejections struct{ z, r0, ct0, hints int }

// note replays sk's signing of mu with rnd = 0 and counts the reasons.
func (r *rejections) note(sk *PrivateKey, mu []byte) {
	rhoPP := shake256(64, sk.key, make([]byte, 32), mu)
	for kappa := 0; ; kappa += sk.p.l {
		a := sk.attempt(mu, rhoPP, kappa)
		switch {
		case a.valid(sk.p):
			return
		case a.zLarge:
			r.z++
		case a.r0Large:
			r.r0++
		case a.ct0Large:
			r.ct0++
		default:
			r.hints++
		}
	}
}

// TestWycheproofSign: deterministic signatures of μ equal Wycheproof's,
// byte for byte, with keys from seeds and (through a test-only skDecode)
// from expanded private keys; across them every rejection check of the
// signing loop fires, the rare ones (‖ct0‖ ≥ γ2, too many hints)
// included.
func TestWycheproofSign(t *testing.T) {
	dir := filepath.Join(circlDir(t), "sign/schemes/testdata/wycheproof")
	var why rejections
	for _, w := range wycheproofFiles {
		t.Run(w.set.String(), func(t *testing.T) {
			var seeded struct {
				TestGroups []struct {
					PrivateSeed string           `json:"privateSeed"`
					Tests       []wycheproofTest `json:"tests"`
				} `json:"testGroups"`
			}
			readVectors(t, filepath.Join(dir, w.seed+".json.gz"), &seeded)
			for _, g := range seeded.TestGroups {
				sk, err := NewPrivateKey(w.set, unhex(t, g.PrivateSeed))
				if err != nil {
					t.Fatal(err)
				}
				for _, tc := range g.Tests {
					signCase(t, sk, shake256(trSize, sk.public), &tc, &why)
				}
			}
			var expanded struct {
				TestGroups []struct {
					PrivateKey string           `json:"privateKey"`
					Tests      []wycheproofTest `json:"tests"`
				} `json:"testGroups"`
			}
			readVectors(t, filepath.Join(dir, w.noseed+".json.gz"), &expanded)
			p, _ := w.set.lookup()
			for _, g := range expanded.TestGroups {
				sk, tr, ok := decodePrivateKeyForTest(p, unhex(t, g.PrivateKey))
				for _, tc := range g.Tests {
					if !ok {
						if tc.Result == "valid" {
							t.Errorf("case %d: a valid case's private key does not decode", tc.TcID)
						}
						continue
					}
					signCase(t, sk, tr, &tc, &why)
				}
			}
		})
	}
	if why.z == 0 || why.r0 == 0 || why.ct0 == 0 || why.hints == 0 {
		t.Fatalf("not every rejection check fired: %+v", why)
	}
}

// signCase signs one Wycheproof case's μ deterministically and compares
// the signature with the expected one.
func signCase(t *testing.T, sk *PrivateKey, tr []byte, tc *wycheproofTest, why *rejections) {
	t.Helper()
	m := muOf(t, tr, tc)
	if m == nil {
		if tc.Result == "valid" {
			t.Errorf("case %d: a valid case has a context longer than 255 bytes", tc.TcID)
		}
		return
	}
	sig, err := sk.SignMu(m, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	if tc.Result == "valid" && !bytes.Equal(sig, unhex(t, tc.Sig)) {
		t.Errorf("case %d (%s): the signature differs", tc.TcID, tc.Comment)
	}
	why.note(sk, m)
}

// decodePrivateKeyForTest is FIPS 204's skDecode (Algorithm 25), which
// the package does not need (it keeps seeds): the private key and tr.
func decodePrivateKeyForTest(p *params, b []byte) (*PrivateKey, []byte, bool) {
	etaBits := 3
	if p.eta == 4 {
		etaBits = 4
	}
	size := n * etaBits / 8
	if len(b) != 128+(p.l+p.k)*size+p.k*n*d/8 {
		return nil, nil, false
	}
	rho, key, tr := b[:32], b[32:64], b[64:128]
	sk := &PrivateKey{p: p, key: bytes.Clone(key), a: expandA(p, rho)}
	small := func(x []byte) (r poly) {
		for i, v := range unpackBits(x, etaBits) {
			r[i] = fromCentered(p.eta - int32(v))
		}
		return r
	}
	b = b[128:]
	for i := 0; i < p.l; i++ {
		sk.s1Hat = append(sk.s1Hat, ntt(small(b[i*size:])))
	}
	b = b[p.l*size:]
	for i := 0; i < p.k; i++ {
		sk.s2Hat = append(sk.s2Hat, ntt(small(b[i*size:])))
	}
	b = b[p.k*size:]
	for i := 0; i < p.k; i++ {
		var t0 poly
		for j, v := range unpackBits(b[i*n*d/8:], d) {
			t0[j] = fromCentered(1<<(d-1) - int32(v))
		}
		sk.t0Hat = append(sk.t0Hat, ntt(t0))
	}
	return sk, tr, true
}

// acvpGroups is the shape of an ACVP prompt or result file: groups of
// tests whose members the caller's type names.
type acvpGroups[T any] struct {
	TestGroups []struct {
		ParameterSet string `json:"parameterSet"`
		Pk           string `json:"pk"`
		Tests        []T    `json:"tests"`
	} `json:"testGroups"`
}

var acvpSets = map[string]ParameterSet{"ML-DSA-44": MLDSA44, "ML-DSA-65": MLDSA65, "ML-DSA-87": MLDSA87}

// TestACVP: NIST's key generation vectors (the public key from the seed)
// and signature verification vectors (internal interface: μ = H(tr || M))
// for all three sets.
func TestACVP(t *testing.T) {
	dir := filepath.Join(circlDir(t), "sign/mldsa/testdata")
	t.Run("keyGen", func(t *testing.T) {
		type prompt struct {
			TcID int    `json:"tcId"`
			Seed string `json:"seed"`
		}
		type result struct {
			Pk string `json:"pk"`
		}
		var p acvpGroups[prompt]
		var r acvpGroups[result]
		readVectors(t, filepath.Join(dir, "ML-DSA-keyGen-FIPS204/prompt.json.gz"), &p)
		readVectors(t, filepath.Join(dir, "ML-DSA-keyGen-FIPS204/expectedResults.json.gz"), &r)
		for gi, g := range p.TestGroups {
			for ti, tc := range g.Tests {
				sk, err := NewPrivateKey(acvpSets[g.ParameterSet], unhex(t, tc.Seed))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(sk.PublicKey(), unhex(t, r.TestGroups[gi].Tests[ti].Pk)) {
					t.Errorf("case %d: the public key differs", tc.TcID)
				}
			}
		}
	})
	t.Run("sigVer", func(t *testing.T) {
		type prompt struct {
			TcID      int    `json:"tcId"`
			Message   string `json:"message"`
			Signature string `json:"signature"`
		}
		type result struct {
			TestPassed bool `json:"testPassed"`
		}
		var p acvpGroups[prompt]
		var r acvpGroups[result]
		readVectors(t, filepath.Join(dir, "ML-DSA-sigVer-FIPS204/prompt.json.gz"), &p)
		readVectors(t, filepath.Join(dir, "ML-DSA-sigVer-FIPS204/expectedResults.json.gz"), &r)
		for gi, g := range p.TestGroups {
			encoded := unhex(t, g.Pk)
			pk, err := NewPublicKey(acvpSets[g.ParameterSet], encoded)
			if err != nil {
				t.Fatal(err)
			}
			for ti, tc := range g.Tests {
				m := shake256(MuSize, shake256(trSize, encoded), unhex(t, tc.Message))
				if got, want := pk.VerifyMu(m, unhex(t, tc.Signature)), r.TestGroups[gi].Tests[ti].TestPassed; got != want {
					t.Errorf("case %d: verified %v, want %v", tc.TcID, got, want)
				}
			}
		}
	})
}
