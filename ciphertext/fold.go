package ciphertext

// FoldKey returns the folded form of an encryption context key: the form
// in which grant constraints and kms:EncryptionContext:<key> condition keys
// compare keys. AWS documents both as not case sensitive in the key (and
// case sensitive in the value), while the context itself, the additional
// data a ciphertext is bound to, is compared exactly. Every rule that
// ignores the case of a context key uses this function, and no other fold.
//
// The fold is ASCII only: the letters A to Z become a to z and every other
// byte is kept. Two keys fold together exactly when they differ in the case
// of ASCII letters and in nothing else. It is chosen over Unicode folding
// because:
//
//   - it is the part on which every case-insensitive comparison agrees
//     (simple and full Unicode folding, Go's strings.EqualFold and
//     strings.ToLower, Java's equalsIgnoreCase and toLowerCase): AWS's
//     own keys and the keys AWS's examples use are ASCII;
//   - Unicode folding has pairs that surprise readers and checkers alike:
//     "s" and "ſ" (U+017F), "k" and the Kelvin sign (U+212A), while "İ"
//     (U+0130) lowercases to "i" but does not fold to it, and "ß" folds to
//     "ss" only under full folding. Mixing two of these rules let a grant
//     made under a parent grant constrain a key the parent does not;
//   - it cannot change: Unicode's case tables grow with Go releases, and
//     a grant decision must come out the same on every node of a cluster
//     and in every release that reads the replicated state.
//
// FoldKey does not allocate when k has no ASCII capital letter.
func FoldKey(k string) string {
	for i := 0; i < len(k); i++ {
		if c := k[i]; 'A' <= c && c <= 'Z' {
			b := []byte(k)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + ('a' - 'A')
				}
			}
			return string(b)
		}
	}
	return k
}

// FoldContext returns ec with its keys folded by [FoldKey], values as they
// are. When two keys of ec fold to the same key it returns nil and false:
// such a context is ambiguous to every rule that compares folded keys, and
// those rules refuse it rather than pick one of the pairs. The result does
// not depend on the iteration order of ec.
func FoldContext(ec map[string]string) (map[string]string, bool) {
	folded := make(map[string]string, len(ec))
	for k, v := range ec {
		fk := FoldKey(k)
		if _, dup := folded[fk]; dup {
			return nil, false
		}
		folded[fk] = v
	}
	return folded, true
}
