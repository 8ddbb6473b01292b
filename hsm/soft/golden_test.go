package soft

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/trentkms/trent/ciphertext"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const goldenPath = "testdata/sym_v1.json"

// symVector is one end-to-end test vector: key material and blob fields in,
// per-message key, additional data, HSM body and ciphertext blob out.
// docs/ciphertext.md quotes these vectors.
type symVector struct {
	Name       string            `json:"name"`
	Material   string            `json:"material"`
	KeyID      string            `json:"key_id"`
	VersionID  string            `json:"version_id"`
	Nonce      string            `json:"nonce"`
	IV         string            `json:"iv"`
	Context    map[string]string `json:"context"`
	Plaintext  string            `json:"plaintext"`
	MessageKey string            `json:"message_key"`
	AAD        string            `json:"aad"`
	Body       string            `json:"body"`
	Blob       string            `json:"blob"`
}

type symGolden struct {
	Comment string      `json:"comment"`
	Vectors []symVector `json:"vectors"`
}

func hexOf(tb testing.TB, s string, n int) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || (n >= 0 && len(b) != n) {
		tb.Fatalf("bad hex field %q (want %d bytes): %v", s, n, err)
	}
	return b
}

// compute fills in the outputs of v from its inputs.
func (v *symVector) compute(tb testing.TB) symVector {
	tb.Helper()
	out := *v
	material := hexOf(tb, v.Material, keySize)
	b := ciphertext.Blob{
		KeyID:     [16]byte(hexOf(tb, v.KeyID, 16)),
		VersionID: [16]byte(hexOf(tb, v.VersionID, 16)),
		Nonce:     [16]byte(hexOf(tb, v.Nonce, 16)),
	}
	iv := [ivSize]byte(hexOf(tb, v.IV, ivSize))
	pt := hexOf(tb, v.Plaintext, -1)
	k, err := messageKey(material, b.KeyID, b.VersionID, b.Nonce)
	if err != nil {
		tb.Fatal(err)
	}
	aad, err := ciphertext.AAD(b.Header(), v.Context)
	if err != nil {
		tb.Fatal(err)
	}
	body, err := sealWith(material, b.KeyID, b.VersionID, b.Nonce, iv, aad, pt)
	if err != nil {
		tb.Fatal(err)
	}
	b.Body = body
	out.MessageKey = hex.EncodeToString(k)
	out.AAD = hex.EncodeToString(aad)
	out.Body = hex.EncodeToString(body)
	out.Blob = hex.EncodeToString(b.Marshal())

	got, err := openWith(material, b.KeyID, b.VersionID, b.Nonce, aad, body)
	if err != nil || !bytes.Equal(got, pt) {
		tb.Fatalf("%s: openWith = %x, %v", v.Name, got, err)
	}
	return out
}

func TestGoldenVectors(t *testing.T) {
	raw, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	var g symGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Vectors) < 2 {
		t.Fatal("golden file has fewer than two vectors")
	}
	for i := range g.Vectors {
		v := &g.Vectors[i]
		got := v.compute(t)
		if *update {
			*v = got
			continue
		}
		{
			for _, f := range [][3]string{
				{"message_key", got.MessageKey, v.MessageKey},
				{"aad", got.AAD, v.AAD},
				{"body", got.Body, v.Body},
				{"blob", got.Blob, v.Blob},
			} {
				if f[1] != f[2] {
					t.Errorf("%s: %s = %s, want %s", v.Name, f[0], f[1], f[2])
				}
			}
		}
		// The blob parses back to the same fields.
		b, err := ciphertext.Parse(hexOf(t, v.Blob, -1))
		if err != nil || hex.EncodeToString(b.Body) != v.Body {
			t.Errorf("%s: blob does not parse back: %v", v.Name, err)
		}
	}
	if *update {
		out, err := json.MarshalIndent(&g, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMessageKeyIsOneHMAC pins the KDF to its definition: with a 32-byte
// output, HKDF-Expand is HMAC-SHA256(material, info || 0x01), which is what
// a PKCS#11 backend computes with C_Sign(CKM_SHA256_HMAC).
func TestMessageKeyIsOneHMAC(t *testing.T) {
	t.Parallel()
	material := bytes.Repeat([]byte{0x0b}, 32)
	k, err := messageKey(material, id(1), id(2), id(3))
	if err != nil {
		t.Fatal(err)
	}
	info := append([]byte("trent/sym/v1\x00"), bytes.Repeat([]byte{1}, 16)...)
	info = append(info, bytes.Repeat([]byte{2}, 16)...)
	info = append(info, bytes.Repeat([]byte{3}, 16)...)
	if want := hmacSHA256(material, append(info, 1)); !bytes.Equal(k, want) {
		t.Fatalf("K = %x, want %x", k, want)
	}
}
