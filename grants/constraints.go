package grants

import (
	"fmt"
	"strings"
)

// Limits on a constraint.
const (
	MaxConstraintPairs = 8
	MaxConstraintValue = 384
)

// Constraints are a grant's encryption-context constraints. Nil maps mean
// no constraint of that kind.
type Constraints struct {
	Subset map[string]string
	Equals map[string]string
}

// Empty reports whether there is no constraint.
func (c Constraints) Empty() bool { return c.Subset == nil && c.Equals == nil }

// Validate checks the AWS limits: at most 8 pairs in each constraint, no
// empty key, values at most 384 characters.
func (c Constraints) Validate() error {
	for name, m := range map[string]map[string]string{"EncryptionContextSubset": c.Subset, "EncryptionContextEquals": c.Equals} {
		if m == nil {
			continue
		}
		if len(m) > MaxConstraintPairs {
			return fmt.Errorf("%s has %d pairs; a constraint can have at most %d", name, len(m), MaxConstraintPairs)
		}
		folded := make(map[string]bool, len(m))
		for k, v := range m {
			switch {
			case k == "":
				return fmt.Errorf("%s has an empty key", name)
			case len([]rune(v)) > MaxConstraintValue:
				return fmt.Errorf("%s has a value longer than %d characters", name, MaxConstraintValue)
			case folded[strings.ToLower(k)]:
				return fmt.Errorf("%s has keys that differ only by case; grant constraint keys are not case sensitive", name)
			}
			folded[strings.ToLower(k)] = true
		}
	}
	return nil
}

// lookupFold finds the value of key k in ec, comparing keys without regard
// to case.
func lookupFold(ec map[string]string, k string) (string, bool) {
	if v, ok := ec[k]; ok {
		return v, true
	}
	for ek, v := range ec {
		if strings.EqualFold(ek, k) {
			return v, true
		}
	}
	return "", false
}

// Satisfied reports whether a request with encryption context ec meets c.
func (c Constraints) Satisfied(ec map[string]string) bool {
	for k, v := range c.Subset {
		if got, ok := lookupFold(ec, k); !ok || got != v {
			return false
		}
	}
	if c.Equals != nil {
		if len(ec) != len(c.Equals) {
			return false
		}
		for k, v := range c.Equals {
			if got, ok := lookupFold(ec, k); !ok || got != v {
				return false
			}
		}
	}
	return true
}

// AtLeastAsStrict reports whether child constrains at least as much as
// parent: the delegation rule for grants made under a grant.
func (child Constraints) AtLeastAsStrict(parent Constraints) bool {
	if parent.Equals != nil {
		return child.Subset == nil && sameFold(child.Equals, parent.Equals)
	}
	if parent.Subset == nil {
		return true
	}
	// A Subset parent: the child must require every parent pair, through
	// its own Subset or an Equals, which is stricter still.
	for k, v := range parent.Subset {
		got, ok := lookupFold(child.Subset, k)
		if !ok {
			got, ok = lookupFold(child.Equals, k)
		}
		if !ok || got != v {
			return false
		}
	}
	return true
}

func sameFold(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if got, ok := lookupFold(a, k); !ok || got != v {
			return false
		}
	}
	return true
}

// Allows reports whether a grant with operations ops and constraints c
// allows op for a request with encryption context ec.
func Allows(ops Set, c Constraints, op Operation, ec map[string]string) bool {
	if !ops.Has(op) {
		return false
	}
	if !TakesContext(op) {
		return true
	}
	return c.Satisfied(ec)
}

// MayDelegate reports whether a parent grant (ops, constraints) that
// includes CreateGrant permits creating a child grant with childOps and
// childConstraints.
func MayDelegate(parentOps Set, parent Constraints, childOps Set, child Constraints) bool {
	return parentOps.Has(CreateGrant) && childOps.SubsetOf(parentOps) && child.AtLeastAsStrict(parent)
}
