package fsm

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/google/btree"

	"github.com/trentkms/trent/wire"
)

// Alias is one KMS alias as replicated: a name, unique in its account,
// pointing at one key of that account. A *Alias handed out by the FSM is
// immutable.
//
// Aliases of a key go with it when it is deleted (AWS deletes them with
// the key): DeleteKey removes them (aliasState.removeKey).
type Alias struct {
	Account string `json:"account"`
	// Name is the alias name as the API spells it, "alias/<name>".
	Name string `json:"name"`
	ARN  string `json:"arn"`
	// KeyID is the id of the key the alias points at.
	KeyID           string `json:"key_id"`
	CreationDate    int64  `json:"creation_date"`     // Unix milliseconds
	LastUpdatedDate int64  `json:"last_updated_date"` // Unix milliseconds
}

func aliasLess(a, b *Alias) bool {
	if a.Account != b.Account {
		return a.Account < b.Account
	}
	return a.Name < b.Name
}

// aliasState holds the aliases by (account, name) and, per key, the names
// of its aliases in order (kms:ResourceAliases, the per-key quota).
type aliasState struct {
	byName *btree.BTreeG[*Alias]
	perKey map[string][]string
}

func newAliasState() *aliasState {
	return &aliasState{byName: btree.NewG(32, aliasLess), perKey: map[string][]string{}}
}

func (s *aliasState) get(account, name string) (*Alias, bool) {
	return s.byName.Get(&Alias{Account: account, Name: name})
}

func (s *aliasState) put(a *Alias) {
	if old, ok := s.byName.ReplaceOrInsert(a); ok {
		s.unindex(old)
	}
	names := s.perKey[a.KeyID]
	i, _ := slices.BinarySearch(names, a.Name)
	// A new slice: a published one (KeyAliases) is never modified.
	s.perKey[a.KeyID] = slices.Insert(slices.Clip(names), i, a.Name)
}

func (s *aliasState) remove(a *Alias) {
	if old, ok := s.byName.Delete(a); ok {
		s.unindex(old)
	}
}

func (s *aliasState) unindex(a *Alias) {
	names := slices.DeleteFunc(slices.Clone(s.perKey[a.KeyID]), func(n string) bool { return n == a.Name })
	if len(names) == 0 {
		delete(s.perKey, a.KeyID)
		return
	}
	s.perKey[a.KeyID] = names
}

// removeKey removes the aliases of account that point at key id.
func (s *aliasState) removeKey(account, id string) {
	for _, name := range s.perKey[id] { // remove publishes a new slice
		if a, ok := s.get(account, name); ok && a.KeyID == id {
			s.remove(a)
		}
	}
}

// CreateAlias adds an alias. The name must be free in the account: the
// FSM decides, so of two creates of one name through different nodes
// exactly the first applied wins and the other is refused with
// AlreadyExistsException (a retried create is refused the same way, as
// AWS does). The target must be a key of the same account that is not
// pending deletion and has fewer than MaxAliasesPerKey aliases.
type CreateAlias struct {
	Account string `json:"account"`
	Name    string `json:"name"`
	ARN     string `json:"arn"`
	KeyID   string `json:"key_id"`
	// Date is the creation (and last-updated) date, Unix milliseconds,
	// chosen by the proposer.
	Date int64 `json:"date"`
	// MaxAliasesPerKey is the per-key quota (AWS: 50), chosen by the
	// proposer like CreateGrant's limit.
	MaxAliasesPerKey int `json:"max_aliases_per_key"`
}

func (*CreateAlias) Op() Op { return OpCreateAlias }

func (c *CreateAlias) validate() error {
	return validateAliasFields(c.Account, c.Name, c.ARN, c.KeyID, true)
}

func (c *CreateAlias) apply(f *FSM, _ uint64) *Result {
	if _, taken := f.aliases.get(c.Account, c.Name); taken {
		return &Result{Err: reject(wire.AlreadyExists, "An alias with the name "+c.ARN+" already exists")}
	}
	if r := f.aliasTarget(c.Account, c.KeyID, c.MaxAliasesPerKey); r != nil {
		return &Result{Err: r}
	}
	a := &Alias{Account: c.Account, Name: c.Name, ARN: c.ARN, KeyID: c.KeyID, CreationDate: c.Date, LastUpdatedDate: c.Date}
	f.aliases.put(a)
	return &Result{Alias: a}
}

// UpdateAlias points an existing alias at another key of its account. The
// key it pointed at may be in any state; the new one may not be pending
// deletion (AWS key-state table, note 10) and must be of the same kind
// (symmetric, asymmetric or HMAC) and key usage as the one the alias
// points at when the command applies, so code that uses the alias keeps
// working. All of it is decided here, against the alias's target of the
// moment: a check before proposing could race with another UpdateAlias.
type UpdateAlias struct {
	Account string `json:"account"`
	Name    string `json:"name"`
	ARN     string `json:"arn"`
	KeyID   string `json:"key_id"`
	// Date is the new last-updated date, Unix milliseconds.
	Date             int64 `json:"date"`
	MaxAliasesPerKey int   `json:"max_aliases_per_key"`
	// ExpectKeyID, if set, is the key the alias pointed at when the
	// proposer authorized the call on it; see AliasMoved.
	ExpectKeyID string `json:"expect_key_id,omitempty"`
}

func (*UpdateAlias) Op() Op { return OpUpdateAlias }

func (c *UpdateAlias) validate() error {
	return validateAliasFields(c.Account, c.Name, c.ARN, c.KeyID, true)
}

func (c *UpdateAlias) apply(f *FSM, _ uint64) *Result {
	old, ok := f.aliases.get(c.Account, c.Name)
	if !ok {
		return &Result{Err: aliasNotFound(c.ARN)}
	}
	if r := moved(old, c.ExpectKeyID); r != nil {
		return &Result{Err: r}
	}
	if old.KeyID != c.KeyID {
		if r := f.aliasTarget(c.Account, c.KeyID, c.MaxAliasesPerKey); r != nil {
			return &Result{Err: r}
		}
		if r := f.sameKind(old, c.KeyID); r != nil {
			return &Result{Err: r}
		}
	} else if r := f.aliasTarget(c.Account, c.KeyID, 0); r != nil {
		return &Result{Err: r}
	}
	a := *old
	a.KeyID, a.LastUpdatedDate = c.KeyID, c.Date
	f.aliases.put(&a)
	return &Result{Alias: &a}
}

// DeleteAlias removes an alias; the key it pointed at may be in any state.
type DeleteAlias struct {
	Account string `json:"account"`
	Name    string `json:"name"`
	ARN     string `json:"arn"`
	// ExpectKeyID, if set, is the key the alias pointed at when the
	// proposer authorized the call on it; see AliasMoved.
	ExpectKeyID string `json:"expect_key_id,omitempty"`
}

func (*DeleteAlias) Op() Op { return OpDeleteAlias }

func (c *DeleteAlias) validate() error {
	return validateAliasFields(c.Account, c.Name, c.ARN, "", false)
}

func (c *DeleteAlias) apply(f *FSM, _ uint64) *Result {
	old, ok := f.aliases.get(c.Account, c.Name)
	if !ok {
		return &Result{Err: aliasNotFound(c.ARN)}
	}
	if r := moved(old, c.ExpectKeyID); r != nil {
		return &Result{Err: r}
	}
	f.aliases.remove(old)
	return &Result{Alias: old}
}

// AliasMoved is the type of the rejection of an UpdateAlias or DeleteAlias
// whose alias no longer points at ExpectKeyID: another UpdateAlias applied
// between the proposer's authorization (on the key it saw) and this
// command. It is not an AWS error: the proposer looks again and decides
// on the key the alias points at now.
const AliasMoved = "TrentAliasMoved"

func moved(a *Alias, expect string) *Rejection {
	if expect == "" || a.KeyID == expect {
		return nil
	}
	return reject(AliasMoved, "The alias "+a.ARN+" was pointed at another key while the request was decided.")
}

func validateAliasFields(account, name, arn, keyID string, needKey bool) error {
	switch {
	case account == "" || name == "" || arn == "":
		return errors.New("alias account, name and ARN are required")
	case needKey && keyID == "":
		return errors.New("no target key id")
	}
	return nil
}

func aliasNotFound(arn string) *Rejection {
	return reject(wire.NotFound, "Alias "+arn+" is not found.")
}

// aliasTarget checks that key id of account can take one more alias
// (max > 0) or merely exists and is not pending deletion (max == 0).
func (f *FSM) aliasTarget(account, id string, max int) *Rejection {
	k, ok := f.keys.Get(&Key{ID: id})
	if !ok || k.Account != account {
		return reject(wire.NotFound, "Key '"+id+"' does not exist")
	}
	if r := notPendingDeletion(k); r != nil {
		return r
	}
	if max > 0 && len(f.aliases.perKey[id]) >= max {
		return reject(wire.LimitExceeded, "The request was rejected because the key "+k.ARN+" already has "+strconv.Itoa(max)+" aliases, the most allowed.")
	}
	return nil
}

// sameKind refuses a new target of another kind or key usage than the key
// alias a points at (AWS: ValidationException, as emulators answer; AWS
// documents the rule, not the error). A current target that no longer
// exists constrains nothing.
func (f *FSM) sameKind(a *Alias, newKeyID string) *Rejection {
	cur, ok := f.keys.Get(&Key{ID: a.KeyID})
	nk, ok2 := f.keys.Get(&Key{ID: newKeyID})
	if !ok || !ok2 || keyKind(cur.KeySpec) == keyKind(nk.KeySpec) && cur.KeyUsage == nk.KeyUsage {
		return nil
	}
	return reject(wire.Validation, "The alias "+a.Name+" points at a "+keyKind(cur.KeySpec)+" "+cur.KeyUsage+" key; "+
		nk.ARN+" is a "+keyKind(nk.KeySpec)+" "+nk.KeyUsage+" key. An alias can only be pointed at a key of the same type and key usage.")
}

// keyKind is the type of key a key spec makes: symmetric, HMAC or
// asymmetric (RSA, elliptic curve, SM2, ML-DSA).
func keyKind(spec string) string {
	switch {
	case spec == "SYMMETRIC_DEFAULT":
		return "symmetric"
	case strings.HasPrefix(spec, "HMAC_"):
		return "HMAC"
	}
	return "asymmetric"
}

// Alias returns the alias of account with the given name ("alias/<name>").
func (f *FSM) Alias(account, name string) (*Alias, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.aliases.get(account, name)
}

// ListAliases returns up to limit aliases of account with names after
// `after`, in name order, only those pointing at keyID unless it is "",
// and whether more follow.
func (f *FSM) ListAliases(account, after, keyID string, limit int) (out []*Alias, more bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	f.aliases.byName.AscendGreaterOrEqual(&Alias{Account: account, Name: after}, func(a *Alias) bool {
		if a.Account != account {
			return false
		}
		if a.Name == after || (keyID != "" && a.KeyID != keyID) {
			return true
		}
		if len(out) == limit {
			more = true
			return false
		}
		out = append(out, a)
		return true
	})
	return out, more
}

// AliasCount returns the number of aliases pointing at a key.
func (f *FSM) AliasCount(keyID string) int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.aliases.perKey[keyID])
}

// KeyAliases returns the names of the aliases pointing at a key, in order.
// The slice is shared: never modify it.
func (f *FSM) KeyAliases(keyID string) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.aliases.perKey[keyID]
}
