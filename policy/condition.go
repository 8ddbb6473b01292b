package policy

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/trentkms/trent/ciphertext"
)

// opKind is the comparison at the heart of a condition operator; negated
// operators (StringNotEquals, NotIpAddress, ...) use the same kind with
// condition.negate set.
type opKind uint8

const (
	opStringEquals opKind = iota + 1
	opStringEqualsIgnoreCase
	opStringLike
	opArn // ArnEquals and ArnLike behave the same in IAM
	opBool
	opNull
	opNumEq
	opNumLt
	opNumLe
	opNumGt
	opNumGe
	opDateEq
	opDateLt
	opDateLe
	opDateGt
	opDateGe
	opIP
)

// operators maps each condition operator name (without set prefix or
// IfExists) to its comparison and whether it is negated.
var operators = map[string]struct {
	op     opKind
	negate bool
}{
	"StringEquals":              {opStringEquals, false},
	"StringNotEquals":           {opStringEquals, true},
	"StringEqualsIgnoreCase":    {opStringEqualsIgnoreCase, false},
	"StringNotEqualsIgnoreCase": {opStringEqualsIgnoreCase, true},
	"StringLike":                {opStringLike, false},
	"StringNotLike":             {opStringLike, true},
	"ArnEquals":                 {opArn, false},
	"ArnNotEquals":              {opArn, true},
	"ArnLike":                   {opArn, false},
	"ArnNotLike":                {opArn, true},
	"Bool":                      {opBool, false},
	"Null":                      {opNull, false},
	"NumericEquals":             {opNumEq, false},
	"NumericNotEquals":          {opNumEq, true},
	"NumericLessThan":           {opNumLt, false},
	"NumericLessThanEquals":     {opNumLe, false},
	"NumericGreaterThan":        {opNumGt, false},
	"NumericGreaterThanEquals":  {opNumGe, false},
	"DateEquals":                {opDateEq, false},
	"DateNotEquals":             {opDateEq, true},
	"DateLessThan":              {opDateLt, false},
	"DateLessThanEquals":        {opDateLe, false},
	"DateGreaterThan":           {opDateGt, false},
	"DateGreaterThanEquals":     {opDateGe, false},
	"IpAddress":                 {opIP, false},
	"NotIpAddress":              {opIP, true},
}

// setKind is an operator's set prefix.
type setKind uint8

const (
	setNone setKind = iota
	setAny          // ForAnyValue:
	setAll          // ForAllValues:
)

// A condition is one (operator, key) pair of a Condition element, with its
// values compiled for the operator.
type condition struct {
	op       opKind
	negate   bool
	set      setKind
	ifExists bool
	key      string // folded by foldConditionKey
	// readsContext is set when the condition reads a value of
	// kms:EncryptionContext:<key>, as its key or through a policy
	// variable. With a context whose keys fold together it is undecidable
	// and fails closed (see evaluator.appliesBody).
	readsContext bool
	// foldKeys is set for kms:EncryptionContextKeys, whose values are
	// context keys: StringEqualsIgnoreCase compares them with the key
	// fold, ciphertext.FoldKey, as every other rule on keys does.
	foldKeys bool

	strs  []strValue // string and ARN operators
	nums  []float64
	times []time.Time
	nets  []netip.Prefix
	bools []bool // Bool and Null
}

// A strValue is one value of a string or ARN operator.
type strValue struct {
	raw  string
	vars []tpart    // policy variables; nil when there are none
	g    glob       // StringLike, when vars is nil
	arn  arnPattern // Arn operators, when vars is nil
}

// compileCondition compiles the values of one (operator, key) pair. It
// returns a reason when a value does not suit the operator.
func compileCondition(name, key string, values []*jnode, vars bool) (condition, string) {
	c := condition{key: foldConditionKey(key)}
	c.readsContext = strings.HasPrefix(c.key, CondEncryptionContextPrefix)
	c.foldKeys = c.key == CondEncryptionContextKeys
	base := name
	switch {
	case strings.HasPrefix(base, "ForAnyValue:"):
		c.set, base = setAny, base[len("ForAnyValue:"):]
	case strings.HasPrefix(base, "ForAllValues:"):
		c.set, base = setAll, base[len("ForAllValues:"):]
	}
	if b, ok := strings.CutSuffix(base, "IfExists"); ok && b != "Null" {
		base, c.ifExists = b, true
	}
	o, ok := operators[base]
	if !ok {
		return c, "Condition operator " + quote(name) + " is not supported; use String..., Arn..., Bool, Null, Numeric..., Date... or IpAddress operators, optionally with ForAnyValue: or ForAllValues: and ...IfExists"
	}
	c.op, c.negate = o.op, o.negate
	if c.op == opNull && c.set != setNone {
		return c, "Condition operator " + quote(name) + ": Null takes no set prefix"
	}
	if c.set == setAll && strings.HasPrefix(c.key, CondEncryptionContextPrefix) {
		return c, "OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a single-valued condition key matches requests without the specified encryption context or with an unspecified encryption context. To fix, remove ForAllValues."
	}
	bad := func(v *jnode, want string) string {
		return "Condition operator " + quote(name) + ": value " + quote(v.s) + " of " + quote(key) + " is not " + want
	}
	for _, v := range values {
		switch c.op {
		case opStringEquals, opStringEqualsIgnoreCase, opStringLike, opArn:
			sv := strValue{raw: v.s}
			if vars {
				var reason string
				if sv.vars, reason = parseVars(v.s); reason != "" {
					return c, "Condition operator " + quote(name) + ": value " + quote(v.s) + " of " + quote(key) + " " + reason
				}
				for _, p := range sv.vars {
					if strings.HasPrefix(p.key, CondEncryptionContextPrefix) {
						c.readsContext = true
					}
				}
			}
			if sv.vars == nil {
				switch c.op {
				case opStringLike:
					sv.g = compileGlob(false, piece{s: v.s})
				case opArn:
					sv.arn = compileARN(v.s)
				}
			}
			c.strs = append(c.strs, sv)
		case opBool, opNull:
			b, ok := parseBool(v.s)
			if !ok {
				return c, bad(v, "true or false")
			}
			c.bools = append(c.bools, b)
		case opNumEq, opNumLt, opNumLe, opNumGt, opNumGe:
			n, ok := parseNumber(v.s)
			if !ok {
				return c, bad(v, "a number")
			}
			c.nums = append(c.nums, n)
		case opDateEq, opDateLt, opDateLe, opDateGt, opDateGe:
			t, ok := parseDate(v.s)
			if !ok {
				return c, bad(v, "a date (ISO 8601, such as 2026-01-31T12:00:00Z, or seconds since 1970)")
			}
			c.times = append(c.times, t)
		case opIP:
			p, ok := parsePrefix(v.s)
			if !ok {
				return c, bad(v, "an IP address or CIDR block, such as 203.0.113.0/24")
			}
			c.nets = append(c.nets, p)
		}
	}
	return c, ""
}

// eval evaluates the condition against the request, with IAM's rules:
// several values of the request key are OR-ed (plain and ForAnyValue) or
// AND-ed (ForAllValues); a missing key fails a positive operator, passes a
// negated one, passes ForAllValues and anything ...IfExists, and fails
// ForAnyValue. A key with no values counts as missing.
func (e *evaluator) eval(c *condition) bool {
	vals := e.lookup(c.key)
	if c.op == opNull {
		present := len(vals) > 0
		for _, wantAbsent := range c.bools {
			if wantAbsent != present {
				return true
			}
		}
		return false
	}
	switch c.set {
	case setAny:
		if len(vals) == 0 {
			return c.ifExists
		}
		for _, v := range vals {
			if e.matchValue(c, v) != c.negate {
				return true
			}
		}
		return false
	case setAll:
		for _, v := range vals {
			if e.matchValue(c, v) == c.negate {
				return false
			}
		}
		return true
	default:
		if len(vals) == 0 {
			return c.ifExists || c.negate
		}
		for _, v := range vals {
			if e.matchValue(c, v) {
				return !c.negate
			}
		}
		return c.negate
	}
}

// matchValue reports whether one request value matches any of the
// condition's values under the positive form of its operator. A request
// value that does not parse as the operator's type matches nothing.
func (e *evaluator) matchValue(c *condition, v string) bool {
	switch c.op {
	case opStringEquals, opStringEqualsIgnoreCase, opStringLike, opArn:
		for i := range c.strs {
			if e.matchString(c.op, c.foldKeys, &c.strs[i], v) {
				return true
			}
		}
	case opBool:
		b, ok := parseBool(v)
		if !ok {
			return false
		}
		for _, want := range c.bools {
			if b == want {
				return true
			}
		}
	case opNumEq, opNumLt, opNumLe, opNumGt, opNumGe:
		n, ok := parseNumber(v)
		if !ok {
			return false
		}
		for _, want := range c.nums {
			if compareOK(c.op-opNumEq, cmpFloat(n, want)) {
				return true
			}
		}
	case opDateEq, opDateLt, opDateLe, opDateGt, opDateGe:
		t, ok := parseDate(v)
		if !ok {
			return false
		}
		for _, want := range c.times {
			if compareOK(c.op-opDateEq, t.Compare(want)) {
				return true
			}
		}
	case opIP:
		a, err := netip.ParseAddr(v)
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, p := range c.nets {
			if p.Contains(a) {
				return true
			}
		}
	}
	return false
}

// compareOK applies a comparison (0 =, 1 <, 2 <=, 3 >, 4 >=, in the order
// of the op constants) to the result of a three-way compare.
func compareOK(rel opKind, cmp int) bool {
	switch rel {
	case 0:
		return cmp == 0
	case 1:
		return cmp < 0
	case 2:
		return cmp <= 0
	case 3:
		return cmp > 0
	default:
		return cmp >= 0
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// matchString matches one request value. With foldKeys the values are
// encryption context keys, which StringEqualsIgnoreCase compares folded by
// ciphertext.FoldKey; other values it compares with strings.EqualFold.
func (e *evaluator) matchString(op opKind, foldKeys bool, sv *strValue, v string) bool {
	if sv.vars == nil {
		switch op {
		case opStringEquals:
			return v == sv.raw
		case opStringEqualsIgnoreCase:
			return equalIgnoreCase(foldKeys, v, sv.raw)
		case opStringLike:
			return sv.g.match(v)
		default:
			return sv.arn.match(v)
		}
	}
	switch op {
	case opStringEquals, opStringEqualsIgnoreCase:
		want, ok := e.renderString(sv.vars)
		if !ok {
			return false
		}
		if op == opStringEquals {
			return v == want
		}
		return equalIgnoreCase(foldKeys, v, want)
	case opStringLike:
		var buf [8]piece
		pieces, ok := e.render(buf[:0], sv.vars)
		if !ok {
			return false
		}
		g := compileGlob(false, pieces...)
		return g.match(v)
	default:
		return e.matchARNVars(sv.vars, v)
	}
}

func equalIgnoreCase(foldKeys bool, a, b string) bool {
	if foldKeys {
		return ciphertext.FoldKey(a) == ciphertext.FoldKey(b)
	}
	return strings.EqualFold(a, b)
}

// matchARNVars matches v against an ARN pattern with policy variables:
// the pattern is split into fields at the colons of its literal text, and
// each field is rendered and compiled on the spot.
func (e *evaluator) matchARNVars(parts []tpart, v string) bool {
	fields := splitVarFields(parts)
	if len(fields) == 1 && len(fields[0]) == 1 && !fields[0][0].isVar && fields[0][0].text == "*" {
		return true
	}
	for i, f := range fields {
		field := v
		if i < len(fields)-1 {
			j := strings.IndexByte(v, ':')
			if j < 0 {
				return false
			}
			field, v = v[:j], v[j+1:]
		}
		var buf [8]piece
		pieces, ok := e.render(buf[:0], f)
		if !ok {
			return false
		}
		g := compileGlob(false, pieces...)
		if !g.match(field) {
			return false
		}
	}
	return true
}

// splitVarFields splits a pattern with variables into at most six ARN
// fields at the colons of its literal text.
func splitVarFields(parts []tpart) [][]tpart {
	fields := [][]tpart{nil}
	for _, p := range parts {
		if p.isVar {
			fields[len(fields)-1] = append(fields[len(fields)-1], p)
			continue
		}
		text := p.text
		for len(fields) < 6 {
			j := strings.IndexByte(text, ':')
			if j < 0 {
				break
			}
			if j > 0 {
				fields[len(fields)-1] = append(fields[len(fields)-1], tpart{text: text[:j]})
			}
			fields = append(fields, nil)
			text = text[j+1:]
		}
		if text != "" {
			fields[len(fields)-1] = append(fields[len(fields)-1], tpart{text: text})
		}
	}
	return fields
}

// parseBool parses "true" or "false" in any case.
func parseBool(s string) (bool, bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

// parseNumber parses a decimal number: an optional sign, digits, and an
// optional fraction. Exponents, NaN and infinities are not numbers here.
func parseNumber(s string) (float64, bool) {
	t := s
	if t != "" && (t[0] == '-' || t[0] == '+') {
		t = t[1:]
	}
	digits, frac, dot := strings.Cut(t, ".")
	if !allDigits(digits) || dot && !allDigits(frac) {
		return 0, false
	}
	n, err := strconv.ParseFloat(s, 64)
	return n, err == nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// dateLayouts are the ISO 8601 forms accepted in Date conditions. Times
// without a zone are UTC. RFC 3339 parsing also accepts fractional seconds.
var dateLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	"20060102T150405Z",
	"2006-01-02",
}

// parseDate parses an ISO 8601 date or time, or seconds since 1970.
func parseDate(s string) (time.Time, bool) {
	if t := strings.TrimPrefix(s, "-"); allDigits(t) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		return time.Unix(n, 0).UTC(), true
	}
	if len(s) < 8 || len(s) > 40 || s[0] < '0' || s[0] > '9' {
		return time.Time{}, false
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// parsePrefix parses a CIDR block or a single address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}
