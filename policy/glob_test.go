package policy

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/trentkms/trent/identity"
)

// TestGlobMatchesReference compares compiled globs with a dumb reference,
// a regular expression, on random patterns and inputs.
func TestGlobMatchesReference(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(alphabet []string, n int) string {
		var b strings.Builder
		for i := r.IntN(n + 1); i > 0; i-- {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	for i := 0; i < 20000; i++ {
		pat := pick([]string{"a", "b", "*", "?", "é", "A"}, 8)
		s := pick([]string{"a", "b", "é", "A", "B"}, 10)
		fold := i%2 == 1
		re := "^"
		for _, c := range pat {
			switch c {
			case '*':
				re += ".*"
			case '?':
				re += "."
			default:
				re += regexp.QuoteMeta(string(c))
			}
		}
		if fold {
			re = "(?i)" + re
		}
		want := regexp.MustCompile(re + "$").MatchString(s)
		g := compileGlob(fold, piece{s: pat})
		if fold {
			// Reference folding is Unicode; ours is ASCII. Keep to cases
			// where they agree.
			if strings.ContainsRune(pat, 'é') || strings.ContainsRune(s, 'é') {
				continue
			}
		}
		if got := g.match(s); got != want {
			t.Fatalf("glob %q (fold %v) match %q = %v, want %v", pat, fold, s, got, want)
		}
	}
}

func TestGlobLiteralPieces(t *testing.T) {
	t.Parallel()
	g := compileGlob(false, piece{s: "home/"}, piece{s: "a*b?", literal: true}, piece{s: "/*"})
	for s, want := range map[string]bool{"home/a*b?/x": true, "home/aXbY/x": false, "home/a*b?": false} {
		if got := g.match(s); got != want {
			t.Errorf("match %q = %v, want %v", s, got, want)
		}
	}
}

func TestARNPattern(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		pat, arn string
		want     bool
	}{
		{"*", "anything", true},
		{"arn:aws:kms:*:111122223333:key/*", "arn:aws:kms:us-east-1:111122223333:key/abc", true},
		{"arn:aws:kms:*:111122223333:key/*", "arn:aws:kms:us-east-1:444455556666:key/abc", false},
		{"arn:aws:kms:*", "arn:aws:kms:us-east-1:111122223333:key/abc", true},
		{"arn:aws:*:us-east-1:111122223333:key/*", "arn:aws:kms:us-east-1:111122223333:key/abc", true},
		{"arn:aws:kms:us-*-1111:key/*", "arn:aws:kms:us-east-1:111122223333:key/abc", false},
		{"arn:aws:iam::111122223333:role/a:b", "arn:aws:iam::111122223333:role/a:b", true},
		{"arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333", false},
	} {
		a := compileARN(tt.pat)
		if got := a.match(tt.arn); got != tt.want {
			t.Errorf("ARN %q match %q = %v, want %v", tt.pat, tt.arn, got, tt.want)
		}
	}
}

func TestParseVars(t *testing.T) {
	t.Parallel()
	parts, reason := parseVars("a/${aws:username}/${*}/${kms:x, 'dflt'}")
	if reason != "" || len(parts) != 6 {
		t.Fatalf("parseVars = %+v, %q", parts, reason)
	}
	req := &Request{Context: map[string][]string{}}
	e := evaluator{req: req}
	e.init()
	if s, ok := e.renderString(parts); !ok && s != "" {
		t.Errorf("renderString without username = %q, %v", s, ok)
	}
	req.Principal = identity.Principal{ARN: "arn:aws:iam::111122223333:user/bob", Account: "111122223333", Kind: identity.KindUser, Path: "/", Name: "bob"}
	e = evaluator{req: req}
	e.init()
	if s, ok := e.renderString(parts); !ok || s != "a/bob/*/dflt" {
		t.Errorf("renderString = %q, %v", s, ok)
	}
	for _, bad := range []string{"${aws:username", "${nocolon}", "${aws:x, dflt}"} {
		if _, reason := parseVars(bad); reason == "" {
			t.Errorf("parseVars(%q) accepted", bad)
		}
	}
}
