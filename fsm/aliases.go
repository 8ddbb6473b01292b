package fsm

import (
	"errors"
	"strconv"

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

// aliasState holds the aliases by (account, name) and how many each key has.
type aliasState struct {
	byName *btree.BTreeG[*Alias]
	perKey map[string]int
}

func newAliasState() *aliasState {
	return &aliasState{byName: btree.NewG(32, aliasLess), perKey: map[string]int{}}
}

func (s *aliasState) get(account, name string) (*Alias, bool) {
	return s.byName.Get(&Alias{Account: account, Name: name})
}

func (s *aliasState) put(a *Alias) {
	if old, ok := s.byName.ReplaceOrInsert(a); ok {
		s.perKey[old.KeyID]--
		if s.perKey[old.KeyID] == 0 {
			delete(s.perKey, old.KeyID)
		}
	}
	s.perKey[a.KeyID]++
}

func (s *aliasState) remove(a *Alias) {
	if old, ok := s.byName.Delete(a); ok {
		s.perKey[old.KeyID]--
		if s.perKey[old.KeyID] == 0 {
			delete(s.perKey, old.KeyID)
		}
	}
}

// removeKey removes the aliases of account that point at key id.
func (s *aliasState) removeKey(account, id string) {
	if s.perKey[id] == 0 {
		return
	}
	var as []*Alias
	s.byName.AscendGreaterOrEqual(&Alias{Account: account}, func(a *Alias) bool {
		if a.Account != account {
			return false
		}
		if a.KeyID == id {
			as = append(as, a)
		}
		return true
	})
	for _, a := range as {
		s.remove(a)
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
// deletion (AWS key-state table, note 10).
type UpdateAlias struct {
	Account string `json:"account"`
	Name    string `json:"name"`
	ARN     string `json:"arn"`
	KeyID   string `json:"key_id"`
	// Date is the new last-updated date, Unix milliseconds.
	Date             int64 `json:"date"`
	MaxAliasesPerKey int   `json:"max_aliases_per_key"`
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
	if old.KeyID != c.KeyID {
		if r := f.aliasTarget(c.Account, c.KeyID, c.MaxAliasesPerKey); r != nil {
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
	f.aliases.remove(old)
	return &Result{Alias: old}
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
	if max > 0 && f.aliases.perKey[id] >= max {
		return reject(wire.LimitExceeded, "The request was rejected because the key "+k.ARN+" already has "+strconv.Itoa(max)+" aliases, the most allowed.")
	}
	return nil
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
	return f.aliases.perKey[keyID]
}
