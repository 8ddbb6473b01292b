package uuid

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestNewFormatParse(t *testing.T) {
	s, b, err := New(bytes.NewReader(bytes.Repeat([]byte{0xff}, 16)))
	if err != nil {
		t.Fatal(err)
	}
	if s != "ffffffff-ffff-4fff-bfff-ffffffffffff" {
		t.Fatalf("New = %s: version and variant bits not set", s)
	}
	for _, in := range []string{s, strings.ToUpper(s)} {
		got, err := Parse(in)
		if err != nil || got != b {
			t.Fatalf("Parse(%s) = %x, %v", in, got, err)
		}
	}
	if _, _, err := New(bytes.NewReader(nil)); err == nil {
		t.Fatal("New with no randomness succeeded")
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{"", "1234abcd-12ab-34cd-56ef-1234567890a", "1234abcd+12ab-34cd-56ef-1234567890ab", "1234abcg-12ab-34cd-56ef-1234567890ab", "arn:aws:kms:us-east-1:1:key/x"} {
		if _, err := Parse(in); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) = %v, want ErrSyntax", in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("1234abcd-12ab-34cd-56ef-1234567890ab")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := Parse(s)
		if err != nil {
			return
		}
		if !strings.EqualFold(Format(b), s) {
			t.Fatalf("Parse(%q) = %x, which formats as %s", s, b, Format(b))
		}
	})
}

// Parse runs on every call that names a key: it must not allocate.
func TestParseAllocatesNothing(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _ = Parse("1234ABCD-12ab-34cd-56ef-1234567890ab") }); n != 0 {
		t.Fatalf("Parse allocates %v times", n)
	}
}
