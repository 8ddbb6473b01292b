package grants

import (
	"errors"
	"fmt"
	"maps"

	"github.com/trentkms/trent/ciphertext"
)

// Limits on a constraint.
const (
	MaxConstraintPairs = 8
	MaxConstraintValue = 384
)

// Why a grant does not allow a request, from [Check] and
// [Constraints.Check].
var (
	// ErrOperation: the grant does not include the operation.
	ErrOperation = errors.New("grants: the grant does not include the operation")
	// ErrConstraint: the encryption context does not satisfy the grant's
	// constraints.
	ErrConstraint = errors.New("grants: the encryption context does not satisfy the grant constraints")
	// ErrAmbiguousContext: the grant has constraints and the encryption
	// context has two keys that differ only in the case of ASCII letters,
	// so it cannot be said which of them a constraint key names.
	ErrAmbiguousContext = errors.New("grants: the encryption context has keys that differ only by case, which grant constraints refuse")
)

// Constraints are a grant's encryption-context constraints. Nil maps mean
// no constraint of that kind.
//
// Keys are compared folded by [ciphertext.FoldKey] (ASCII letters only,
// see there for why) in validation, matching and delegation alike, and
// values exactly. A request context with two keys that fold together is
// refused by every constraint that has a pair.
type Constraints struct {
	Subset map[string]string
	Equals map[string]string
}

// Empty reports whether there is no constraint.
func (c Constraints) Empty() bool { return c.Subset == nil && c.Equals == nil }

// Validate checks the AWS limits: at most 8 pairs in each constraint, no
// empty key, values at most 384 characters; and that no two keys of a
// constraint fold to the same key.
func (c Constraints) Validate() error {
	for _, m := range []struct {
		name  string
		pairs map[string]string
	}{{"EncryptionContextSubset", c.Subset}, {"EncryptionContextEquals", c.Equals}} {
		if m.pairs == nil {
			continue
		}
		if len(m.pairs) > MaxConstraintPairs {
			return fmt.Errorf("%s has %d pairs; a constraint can have at most %d", m.name, len(m.pairs), MaxConstraintPairs)
		}
		for k, v := range m.pairs {
			switch {
			case k == "":
				return fmt.Errorf("%s has an empty key", m.name)
			case len([]rune(v)) > MaxConstraintValue:
				return fmt.Errorf("%s has a value longer than %d characters", m.name, MaxConstraintValue)
			}
		}
		if _, ok := ciphertext.FoldContext(m.pairs); !ok {
			return fmt.Errorf("%s has keys that differ only by case; grant constraint keys are not case sensitive", m.name)
		}
	}
	return nil
}

// folded is a constraint with its keys folded, or ok false when two of its
// keys fold together (which Validate refuses, so only a constraint that
// was never validated can have them; it then allows nothing).
type folded struct {
	subset, equals map[string]string
	ok             bool
}

func (c Constraints) fold() folded {
	f := folded{ok: true}
	var ok bool
	if c.Subset != nil {
		f.subset, ok = ciphertext.FoldContext(c.Subset)
		f.ok = f.ok && ok
	}
	if c.Equals != nil {
		f.equals, ok = ciphertext.FoldContext(c.Equals)
		f.ok = f.ok && ok
	}
	return f
}

// Check returns nil when a request with encryption context ec meets c,
// ErrAmbiguousContext when c has a pair and two keys of ec fold together,
// and ErrConstraint otherwise.
func (c Constraints) Check(ec map[string]string) error {
	if len(c.Subset) == 0 && len(c.Equals) == 0 {
		if c.Equals != nil && len(ec) != 0 {
			return ErrConstraint // an empty Equals admits only an empty context
		}
		return nil
	}
	f := c.fold()
	if !f.ok {
		return ErrConstraint
	}
	got, ok := ciphertext.FoldContext(ec)
	if !ok {
		return ErrAmbiguousContext
	}
	for k, v := range f.subset {
		if w, ok := got[k]; !ok || w != v {
			return ErrConstraint
		}
	}
	if c.Equals != nil && !maps.Equal(got, f.equals) {
		return ErrConstraint
	}
	return nil
}

// Satisfied reports whether a request with encryption context ec meets c.
func (c Constraints) Satisfied(ec map[string]string) bool { return c.Check(ec) == nil }

// AtLeastAsStrict reports whether child constrains at least as much as
// parent: the delegation rule for grants made under a grant. Every context
// child allows, parent allows.
func (child Constraints) AtLeastAsStrict(parent Constraints) bool {
	cf, pf := child.fold(), parent.fold()
	if !cf.ok || !pf.ok {
		return false
	}
	if parent.Equals != nil && (child.Subset != nil || child.Equals == nil || !maps.Equal(cf.equals, pf.equals)) {
		return false
	}
	// Every parent Subset pair must be required by the child, through its
	// own Subset or an Equals, which is stricter still. (With an Equals
	// parent, the Equals alone may not cover the parent's Subset.)
	for k, v := range pf.subset {
		got, ok := cf.subset[k]
		if !ok {
			got, ok = cf.equals[k]
		}
		if !ok || got != v {
			return false
		}
	}
	return true
}

// Check returns nil when a grant with operations ops and constraints c
// allows op for a request with encryption context ec, and otherwise why
// not: ErrOperation, or an error of [Constraints.Check].
func Check(ops Set, c Constraints, op Operation, ec map[string]string) error {
	if !ops.Has(op) {
		return ErrOperation
	}
	if !TakesContext(op) {
		return nil
	}
	return c.Check(ec)
}

// Allows reports whether a grant with operations ops and constraints c
// allows op for a request with encryption context ec.
func Allows(ops Set, c Constraints, op Operation, ec map[string]string) bool {
	return Check(ops, c, op, ec) == nil
}

// MayDelegate reports whether a parent grant (ops, constraints) that
// includes CreateGrant permits creating a child grant with childOps and
// childConstraints.
func MayDelegate(parentOps Set, parent Constraints, childOps Set, child Constraints) bool {
	return parentOps.Has(CreateGrant) && childOps.SubsetOf(parentOps) && child.AtLeastAsStrict(parent)
}
