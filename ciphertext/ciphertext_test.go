package ciphertext_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trentkms/trent/ciphertext"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden is the layout of testdata/vectors.json.
type golden struct {
	Comment  string          `json:"comment"`
	Contexts []contextVector `json:"contexts"`
	Blobs    []blobVector    `json:"blobs"`
}

type contextVector struct {
	Name      string            `json:"name"`
	Context   map[string]string `json:"context"`
	Canonical string            `json:"canonical"`
}

type blobVector struct {
	Name      string `json:"name"`
	KeyID     string `json:"key_id"`
	VersionID string `json:"version_id"`
	Nonce     string `json:"nonce"`
	Body      string `json:"body"`
	Header    string `json:"header"`
	Blob      string `json:"blob"`
}

const goldenPath = "testdata/vectors.json"

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func unhex16(tb testing.TB, s string) [16]byte {
	tb.Helper()
	b := unhex(tb, s)
	if len(b) != 16 {
		tb.Fatalf("want 16 bytes, got %d", len(b))
	}
	return [16]byte(b)
}

func TestGolden(t *testing.T) {
	raw, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Contexts) == 0 || len(g.Blobs) == 0 {
		t.Fatal("golden file has no vectors")
	}
	for i := range g.Contexts {
		v := &g.Contexts[i]
		got, err := ciphertext.CanonicalContext(v.Context)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if *update {
			v.Canonical = hex.EncodeToString(got)
			continue
		}
		if want := unhex(t, v.Canonical); !bytes.Equal(got, want) {
			t.Errorf("%s: canonical = %x, want %x", v.Name, got, want)
		}
		back, err := ciphertext.ParseCanonicalContext(got)
		if err != nil || !maps.Equal(back, v.Context) {
			t.Errorf("%s: parse(canonical) = %v, %v", v.Name, back, err)
		}
	}
	for i := range g.Blobs {
		v := &g.Blobs[i]
		b := &ciphertext.Blob{
			KeyID:     unhex16(t, v.KeyID),
			VersionID: unhex16(t, v.VersionID),
			Nonce:     unhex16(t, v.Nonce),
			Body:      unhex(t, v.Body),
		}
		got := b.Marshal()
		if *update {
			v.Header = hex.EncodeToString(b.Header())
			v.Blob = hex.EncodeToString(got)
			continue
		}
		if want := unhex(t, v.Header); !bytes.Equal(b.Header(), want) {
			t.Errorf("%s: header = %x, want %x", v.Name, b.Header(), want)
		}
		if want := unhex(t, v.Blob); !bytes.Equal(got, want) {
			t.Errorf("%s: blob = %x, want %x", v.Name, got, want)
		}
		p, err := ciphertext.Parse(got)
		if err != nil {
			t.Fatalf("%s: Parse: %v", v.Name, err)
		}
		if p.KeyID != b.KeyID || p.VersionID != b.VersionID || p.Nonce != b.Nonce || !bytes.Equal(p.Body, b.Body) {
			t.Errorf("%s: Parse = %+v, want %+v", v.Name, p, b)
		}
	}
	if *update {
		out, err := json.MarshalIndent(&g, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.FromSlash(goldenPath), append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseLengthsAndFields(t *testing.T) {
	t.Parallel()
	valid := func(n int) []byte {
		b := bytes.Repeat([]byte{0xA5}, n)
		b[0], b[1] = ciphertext.Version, ciphertext.SuiteAES256GCM
		return b
	}
	with := func(b []byte, i int, v byte) []byte { b[i] = v; return b }
	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"nil", nil, false},
		{"empty", []byte{}, false},
		{"header_only", valid(ciphertext.HeaderSize), false},
		{"one_short", valid(ciphertext.Overhead - 1), false},
		{"empty_plaintext", valid(ciphertext.Overhead), true},
		{"max_plaintext", valid(ciphertext.MaxSize), true},
		{"plaintext_too_long", valid(ciphertext.MaxSize + 1), false},
		{"far_too_long", valid(1 << 16), false},
		{"version_0", with(valid(100), 0, 0x00), false},
		{"version_2", with(valid(100), 0, 0x02), false},
		{"version_ff", with(valid(100), 0, 0xFF), false},
		{"suite_0", with(valid(100), 1, 0x00), false},
		{"suite_2", with(valid(100), 1, 0x02), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := ciphertext.Parse(tt.data)
			if !tt.ok {
				if err != ciphertext.ErrInvalid || b != nil {
					t.Fatalf("Parse = %v, %v; want nil, ErrInvalid", b, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !bytes.Equal(b.Marshal(), tt.data) {
				t.Fatal("Marshal(Parse(x)) != x")
			}
		})
	}
}

func TestParseDoesNotAlias(t *testing.T) {
	t.Parallel()
	data := make([]byte, 100)
	data[0], data[1] = ciphertext.Version, ciphertext.SuiteAES256GCM
	b, err := ciphertext.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	clear(data)
	if b.Body[0] != 0 || len(b.Body) != 50 {
		t.Fatal("unexpected body")
	}
	data[60] = 1
	if b.Body[10] != 0 {
		t.Fatal("Body aliases the input")
	}
}

func TestHeaderLayout(t *testing.T) {
	t.Parallel()
	b := &ciphertext.Blob{Body: make([]byte, 28)}
	for i := range 16 {
		b.KeyID[i] = byte(0x10 + i)
		b.VersionID[i] = byte(0x20 + i)
		b.Nonce[i] = byte(0x30 + i)
	}
	h := b.Header()
	if len(h) != ciphertext.HeaderSize || h[0] != 1 || h[1] != 1 ||
		!bytes.Equal(h[2:18], b.KeyID[:]) || !bytes.Equal(h[18:34], b.VersionID[:]) ||
		!bytes.Equal(h[34:50], b.Nonce[:]) {
		t.Fatalf("header = %x", h)
	}
	if m := b.Marshal(); !bytes.Equal(m[:ciphertext.HeaderSize], h) || len(m) != 78 {
		t.Fatalf("marshal = %x", m)
	}
}

func TestAAD(t *testing.T) {
	t.Parallel()
	h := (&ciphertext.Blob{}).Header()
	ec := map[string]string{"b": "2", "a": "1"}
	got, err := ciphertext.AAD(h, ec)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := ciphertext.CanonicalContext(ec)
	if !bytes.Equal(got, append(h, c...)) {
		t.Fatalf("AAD = %x", got)
	}
	if got, _ := ciphertext.AAD(h, nil); !bytes.Equal(got, append(h, 0, 0)) {
		t.Fatalf("AAD(nil) = %x", got)
	}
	for _, n := range []int{0, 49, 51} {
		if _, err := ciphertext.AAD(make([]byte, n), nil); err != ciphertext.ErrInvalid {
			t.Errorf("AAD(header of %d bytes) err = %v", n, err)
		}
	}
	if _, err := ciphertext.AAD(h, map[string]string{"": "x"}); !errors.Is(err, ciphertext.ErrInvalidContext) {
		t.Errorf("AAD(bad context) err = %v", err)
	}
}

func TestCanonicalContextEmpty(t *testing.T) {
	t.Parallel()
	for _, ec := range []map[string]string{nil, {}} {
		got, err := ciphertext.CanonicalContext(ec)
		if err != nil || !bytes.Equal(got, []byte{0, 0}) {
			t.Fatalf("CanonicalContext(%v) = %x, %v", ec, got, err)
		}
	}
	m, err := ciphertext.ParseCanonicalContext([]byte{0, 0})
	if err != nil || m == nil || len(m) != 0 {
		t.Fatalf("ParseCanonicalContext(0000) = %v, %v", m, err)
	}
}

// secret marks a value that must never appear in an error message.
const secret = "s3cr3t-value"

func TestCanonicalContextRejects(t *testing.T) {
	t.Parallel()
	many := make(map[string]string, 65536)
	for i := range 65536 {
		many[string(rune(0x10000+i))] = ""
	}
	tests := []struct {
		name string
		ec   map[string]string
		rule string
	}{
		{"empty_key", map[string]string{"": secret}, "empty key"},
		{"key_invalid_utf8", map[string]string{"k\xff" + secret: "v"}, "key is not valid UTF-8"},
		{"value_invalid_utf8", map[string]string{"k": secret + "\xc3\x28"}, "value is not valid UTF-8"},
		{"value_surrogate", map[string]string{"k": secret + "\xed\xa0\x80"}, "value is not valid UTF-8"},
		{"key_too_long", map[string]string{strings.Repeat("k", 65536): secret}, "key longer than 65535 bytes"},
		{"value_too_long", map[string]string{"k": secret + strings.Repeat("v", 65536)}, "value longer than 65535 bytes"},
		{"total_too_long", map[string]string{"k": secret + strings.Repeat("v", 8192-2-4-1-len(secret)+1)}, "encoding longer than 8192 bytes"},
		{"too_many_pairs", many, "more than 65535 pairs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ciphertext.CanonicalContext(tt.ec)
			if !errors.Is(err, ciphertext.ErrInvalidContext) || got != nil {
				t.Fatalf("CanonicalContext = %x, %v", got, err)
			}
			if ce := (*ciphertext.ContextError)(nil); !errors.As(err, &ce) || ce.Rule != tt.rule {
				t.Errorf("error %q does not name rule %q", err, tt.rule)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q leaks the context", err)
			}
		})
	}
}

func TestCanonicalContextLimit(t *testing.T) {
	t.Parallel()
	// Exactly 8192 bytes: 2 (count) + 4 (lengths) + 1 (key) + 8185 (value).
	ec := map[string]string{"k": strings.Repeat("v", 8185)}
	got, err := ciphertext.CanonicalContext(ec)
	if err != nil || len(got) != ciphertext.MaxContextSize {
		t.Fatalf("len = %d, err = %v", len(got), err)
	}
	back, err := ciphertext.ParseCanonicalContext(got)
	if err != nil || !maps.Equal(back, ec) {
		t.Fatalf("round trip: %v", err)
	}
}

func TestParseCanonicalContextRejects(t *testing.T) {
	t.Parallel()
	big := append([]byte{0, 1, 0, 1, 'k', 0x20, 0x00}, bytes.Repeat([]byte{'v'}, 0x2000)...)
	tests := []struct {
		name string
		hex  string
		raw  []byte
		rule string
	}{
		{name: "nil", rule: "truncated"},
		{name: "one_byte", hex: "00", rule: "truncated"},
		{name: "count_without_pairs", hex: "0001", rule: "truncated"},
		{name: "short_key_length", hex: "000100", rule: "truncated"},
		{name: "short_key", hex: "00010002" + "61", rule: "truncated"},
		{name: "missing_value", hex: "00010001" + "61", rule: "truncated"},
		{name: "short_value", hex: "00010001" + "61" + "0002" + "62", rule: "truncated"},
		{name: "count_too_high", hex: "0002" + "0001" + "61" + "0000", rule: "truncated"},
		{name: "trailing_byte", hex: "0000" + "00", rule: "trailing bytes"},
		{name: "count_too_low", hex: "0001" + "0001" + "61" + "0000" + "0001" + "62" + "0000", rule: "trailing bytes"},
		{name: "empty_key", hex: "0001" + "0000" + "0001" + "76", rule: "empty key"},
		{name: "unsorted", hex: "0002" + "0001" + "62" + "0000" + "0001" + "61" + "0000", rule: "keys not strictly ascending"},
		{name: "duplicate", hex: "0002" + "0001" + "61" + "0001" + "31" + "0001" + "61" + "0001" + "32", rule: "keys not strictly ascending"},
		{name: "prefix_after_longer", hex: "0002" + "0002" + "6161" + "0000" + "0001" + "61" + "0000", rule: "keys not strictly ascending"},
		{name: "key_invalid_utf8", hex: "0001" + "0001" + "ff" + "0000", rule: "key is not valid UTF-8"},
		{name: "value_invalid_utf8", hex: "0001" + "0001" + "61" + "0001" + "80", rule: "value is not valid UTF-8"},
		{name: "too_long", raw: big, rule: "encoding longer than 8192 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := tt.raw
			if in == nil && tt.hex != "" {
				in = unhex(t, tt.hex)
			}
			m, err := ciphertext.ParseCanonicalContext(in)
			if !errors.Is(err, ciphertext.ErrInvalidContext) || m != nil {
				t.Fatalf("ParseCanonicalContext = %v, %v", m, err)
			}
			if ce := (*ciphertext.ContextError)(nil); !errors.As(err, &ce) || ce.Rule != tt.rule {
				t.Errorf("error %q does not name rule %q", err, tt.rule)
			}
		})
	}
}

func TestCanonicalContextSortsByBytes(t *testing.T) {
	t.Parallel()
	// "Z" (0x5a) < "a" (0x61) < "é" (0xc3 0xa9) < "😀" (0xf0 ...): byte order,
	// not case-folded and not UTF-16 order.
	ec := map[string]string{"😀": "4", "é": "3", "a": "2", "Z": "1"}
	got, err := ciphertext.CanonicalContext(ec)
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "0004"+"00015a"+"000131"+"000161"+"000132"+"0002c3a9"+"000133"+"0004f09f9880"+"000134")
	if !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\xff0000"))
	seed := make([]byte, 110)
	seed[0], seed[1] = 1, 1
	f.Add(seed)
	f.Add(make([]byte, ciphertext.MaxSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ciphertext.Parse(data)
		if err != nil {
			if err != ciphertext.ErrInvalid || b != nil {
				t.Fatalf("Parse = %v, %v", b, err)
			}
			return
		}
		if !bytes.Equal(b.Marshal(), data) {
			t.Fatalf("Marshal(Parse(x)) != x")
		}
		if !bytes.Equal(b.Header(), data[:ciphertext.HeaderSize]) {
			t.Fatalf("Header() != data[:50]")
		}
		if n := len(b.Body) - ciphertext.IVSize - ciphertext.TagSize; n < 0 || n > ciphertext.MaxPlaintext {
			t.Fatalf("accepted plaintext length %d", n)
		}
	})
}

func FuzzParseCanonicalContext(f *testing.F) {
	f.Add([]byte{0, 0})
	f.Add(unhex(f, "0002"+"0001"+"61"+"0001"+"31"+"0001"+"62"+"0000"))
	f.Add(unhex(f, "0002"+"0001"+"61"+"0001"+"31"+"0001"+"61"+"0000"))
	f.Add(unhex(f, "0001"+"0001"+"ff"+"0000"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ciphertext.ParseCanonicalContext(data)
		if err != nil {
			if !errors.Is(err, ciphertext.ErrInvalidContext) || m != nil {
				t.Fatalf("ParseCanonicalContext = %v, %v", m, err)
			}
		} else {
			// Every accepted encoding is the canonical one.
			back, err := ciphertext.CanonicalContext(m)
			if err != nil {
				t.Fatalf("CanonicalContext(parsed) failed: %v", err)
			}
			if !bytes.Equal(back, data) {
				t.Fatalf("accepted a non-canonical encoding\n in  %x\n out %x", data, back)
			}
		}

		// Also read data as NUL-separated key/value strings: encoding then
		// decoding any valid map gives the same map.
		parts := strings.Split(string(data), "\x00")
		ec := make(map[string]string)
		for i := 0; i+1 < len(parts); i += 2 {
			ec[parts[i]] = parts[i+1]
		}
		enc, err := ciphertext.CanonicalContext(ec)
		if err != nil {
			if !errors.Is(err, ciphertext.ErrInvalidContext) {
				t.Fatalf("CanonicalContext err = %v", err)
			}
			return
		}
		dec, err := ciphertext.ParseCanonicalContext(enc)
		if err != nil || !maps.Equal(dec, ec) {
			t.Fatalf("round trip of %q: %v, %v", ec, dec, err)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	data := make([]byte, ciphertext.Overhead+32)
	data[0], data[1] = 1, 1
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ciphertext.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAAD(b *testing.B) {
	h := (&ciphertext.Blob{}).Header()
	ec := map[string]string{"tenant": "acme", "purpose": "backup", "aws:s3:arn": "arn:aws:s3:::bucket/object"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ciphertext.AAD(h, ec); err != nil {
			b.Fatal(err)
		}
	}
}
