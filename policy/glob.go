package policy

import (
	"strings"
	"unicode/utf8"
)

// A piece is part of the text a glob is compiled from. Wildcards in a
// literal piece (the value of a policy variable, or ${*}) match themselves.
type piece struct {
	s       string
	literal bool
}

// A glob is a compiled IAM wildcard pattern: '*' matches any run of
// characters, including none, and '?' matches exactly one character.
// Matching never backtracks more than once per '*'-separated group, so it
// costs at most O(len(pattern) × len(input)), and usually one pass with
// strings.Index.
type glob struct {
	literal bool    // no wildcards: the pattern is lit
	lit     string  // the pattern, when literal
	star    bool    // the pattern contains at least one '*'
	fold    bool    // ASCII case-insensitive (patterns are lowercased)
	groups  []group // the runs between '*'s
}

// A group is a run of literal text and '?'s between two '*'s.
type group struct {
	parts []gpart
	runes int // characters the group matches
}

// A gpart is literal text, or q '?'s when lit is "".
type gpart struct {
	lit string
	q   int
}

// compileGlob compiles one pattern made of pieces. With fold, the pattern is
// lowercased and matches input in any ASCII case.
func compileGlob(fold bool, pieces ...piece) glob {
	g := glob{fold: fold}
	var (
		cur group
		lit strings.Builder
	)
	flush := func() {
		if lit.Len() > 0 {
			s := lit.String()
			cur.parts = append(cur.parts, gpart{lit: s})
			cur.runes += utf8.RuneCountInString(s)
			lit.Reset()
		}
	}
	for _, p := range pieces {
		s := p.s
		if fold {
			s = strings.ToLower(s)
		}
		if p.literal {
			lit.WriteString(s)
			continue
		}
		for i := 0; i < len(s); i++ {
			switch c := s[i]; c {
			case '*':
				flush()
				g.groups = append(g.groups, cur)
				cur = group{}
				g.star = true
			case '?':
				flush()
				if n := len(cur.parts); n > 0 && cur.parts[n-1].lit == "" {
					cur.parts[n-1].q++
				} else {
					cur.parts = append(cur.parts, gpart{q: 1})
				}
				cur.runes++
			default:
				lit.WriteByte(c)
			}
		}
	}
	flush()
	g.groups = append(g.groups, cur)
	if !g.star && len(cur.parts) <= 1 && (len(cur.parts) == 0 || cur.parts[0].lit != "") {
		g.literal = true
		if len(cur.parts) == 1 {
			g.lit = cur.parts[0].lit
		}
		g.groups = nil
	}
	return g
}

func (g *glob) match(s string) bool {
	if g.literal {
		if g.fold {
			return foldEqual(s, g.lit)
		}
		return s == g.lit
	}
	first := &g.groups[0]
	pos, ok := g.matchAt(first, s, 0)
	if !ok {
		return false
	}
	if !g.star {
		return pos == len(s)
	}
	// The last group is anchored at the end: it starts exactly its
	// character count before the end.
	last := &g.groups[len(g.groups)-1]
	start := len(s)
	for i := 0; i < last.runes; i++ {
		if start <= 0 {
			return false
		}
		_, size := utf8.DecodeLastRuneInString(s[:start])
		start -= size
	}
	if start < pos {
		return false
	}
	if end, ok := g.matchAt(last, s, start); !ok || end != len(s) {
		return false
	}
	// The groups in between match leftmost-first in s[pos:start]; taking
	// the earliest match of each leaves the most room for the rest.
	limit := s[:start]
	for i := 1; i < len(g.groups)-1; i++ {
		pos, ok = g.find(&g.groups[i], limit, pos)
		if !ok {
			return false
		}
	}
	return true
}

// matchAt matches grp at s[i:] and returns where the match ends.
func (g *glob) matchAt(grp *group, s string, i int) (int, bool) {
	for _, p := range grp.parts {
		if p.lit != "" {
			if len(s)-i < len(p.lit) {
				return 0, false
			}
			if g.fold {
				if !foldEqual(s[i:i+len(p.lit)], p.lit) {
					return 0, false
				}
			} else if s[i:i+len(p.lit)] != p.lit {
				return 0, false
			}
			i += len(p.lit)
			continue
		}
		for q := 0; q < p.q; q++ {
			if i >= len(s) {
				return 0, false
			}
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
		}
	}
	return i, true
}

// find returns the end of the leftmost match of grp in s at or after from.
func (g *glob) find(grp *group, s string, from int) (int, bool) {
	if len(grp.parts) == 0 {
		return from, true
	}
	lead := grp.parts[0].lit
	for from <= len(s) {
		if lead != "" && !g.fold {
			j := strings.Index(s[from:], lead)
			if j < 0 {
				return 0, false
			}
			from += j
		}
		if end, ok := g.matchAt(grp, s, from); ok {
			return end, true
		}
		if from == len(s) {
			break
		}
		_, size := utf8.DecodeRuneInString(s[from:])
		from += size
	}
	return 0, false
}

// foldEqual reports whether s equals the lowercase ASCII pattern p when s
// is lowercased in ASCII.
func foldEqual(s, p string) bool {
	if len(s) != len(p) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}

// An arnPattern matches ARNs field by field, as IAM does: each of the
// colon-separated fields is a glob that cannot match across a colon, except
// the last, which matches the rest of the ARN (resource IDs may contain
// colons). "*" alone matches anything.
type arnPattern struct {
	any    bool
	fields []glob
}

func compileARN(s string) arnPattern {
	if s == "*" {
		return arnPattern{any: true}
	}
	parts := strings.SplitN(s, ":", 6)
	a := arnPattern{fields: make([]glob, len(parts))}
	for i, f := range parts {
		a.fields[i] = compileGlob(false, piece{s: f})
	}
	return a
}

func (a *arnPattern) match(s string) bool {
	if a.any {
		return true
	}
	for i := range a.fields {
		f := &a.fields[i]
		if i == len(a.fields)-1 {
			return f.match(s)
		}
		j := strings.IndexByte(s, ':')
		if j < 0 {
			return false
		}
		if !f.match(s[:j]) {
			return false
		}
		s = s[j+1:]
	}
	return false
}
