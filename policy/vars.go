package policy

import (
	"strings"
)

// A tpart is one part of a value that contains policy variables: literal
// text (which keeps its wildcards in a Like pattern), or a variable.
type tpart struct {
	text   string
	isVar  bool
	key    string // condition key of a variable, folded by foldConditionKey
	def    string // default value, ${key, 'def'}
	hasDef bool
}

// parseVars splits s at its policy variables: ${aws:username},
// ${kms:CallerAccount, 'default'}, and the escapes ${*}, ${?} and ${$}. It
// returns nil when s has none, and a reason when a variable is malformed.
func parseVars(s string) ([]tpart, string) {
	if !strings.Contains(s, "${") {
		return nil, ""
	}
	var parts []tpart
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			if s != "" {
				parts = append(parts, tpart{text: s})
			}
			return parts, ""
		}
		if i > 0 {
			parts = append(parts, tpart{text: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, "has an unterminated policy variable (\"${\" without \"}\")"
		}
		body := strings.TrimSpace(s[i+2 : i+j])
		s = s[i+j+1:]
		switch body {
		case "*", "?", "$":
			parts = append(parts, tpart{isVar: true, text: body})
			continue
		}
		key, def, hasDef := strings.Cut(body, ",")
		key = strings.TrimSpace(key)
		if !validConditionKey(key) {
			return nil, "has a policy variable that is not a condition key: " + quote("${"+body+"}")
		}
		t := tpart{isVar: true, key: foldConditionKey(key)}
		if hasDef {
			def = strings.TrimSpace(def)
			if len(def) < 2 || def[0] != '\'' || def[len(def)-1] != '\'' {
				return nil, "has a policy variable whose default is not in single quotes: " + quote("${"+body+"}")
			}
			t.def, t.hasDef = def[1:len(def)-1], true
		}
		parts = append(parts, t)
	}
}

// validConditionKey reports whether k looks like a condition key:
// "<prefix>:<name>" with a non-empty prefix of letters and digits.
func validConditionKey(k string) bool {
	prefix, name, ok := strings.Cut(k, ":")
	if !ok || prefix == "" || name == "" {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// render resolves parts against the request, appending pieces to dst.
// Variables become literal pieces; ${*}, ${?} and ${$} become literal "*",
// "?" and "$". It reports false when a variable has no single value and no
// default: such a value matches nothing, as in IAM.
func (e *evaluator) render(dst []piece, parts []tpart) ([]piece, bool) {
	for _, p := range parts {
		switch {
		case !p.isVar:
			dst = append(dst, piece{s: p.text})
		case p.key == "":
			dst = append(dst, piece{s: p.text, literal: true})
		default:
			v := e.lookup(p.key)
			switch {
			case len(v) == 1:
				dst = append(dst, piece{s: v[0], literal: true})
			case p.hasDef && len(v) == 0:
				dst = append(dst, piece{s: p.def, literal: true})
			default:
				return dst, false
			}
		}
	}
	return dst, true
}

// renderString resolves parts into one string.
func (e *evaluator) renderString(parts []tpart) (string, bool) {
	var buf [8]piece
	pieces, ok := e.render(buf[:0], parts)
	if !ok {
		return "", false
	}
	var b strings.Builder
	for _, p := range pieces {
		b.WriteString(p.s)
	}
	return b.String(), true
}
