package fsm

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/btree"

	"github.com/trentkms/trent/wire"
)

// AccessKeyActive is the status of a usable access key. It is the only
// status until UpdateAccessKey exists.
const AccessKeyActive = "Active"

// User is an IAM user as replicated. Like Key, a *User handed out by the
// FSM is immutable.
//
// User names are unique in an account regardless of case, as in IAM: with
// "Bob" present, "bob" can be neither created nor told apart on lookup.
// The stored Name keeps the case it was created with, and so does the ARN.
type User struct {
	Account string `json:"account"`
	Name    string `json:"name"`
	// Path is "/" or "/a/b/".
	Path string `json:"path"`
	// ID is the unique user id, "AIDA" and 17 upper-case letters and
	// digits (16 for users created before ids were bound into
	// certificates). A user re-created under the same name gets a new one.
	ID string `json:"id"`
	// ARN is arn:aws:iam::<account>:user<path><name>.
	ARN        string `json:"arn"`
	CreateDate int64  `json:"create_date"` // Unix milliseconds
}

// AccessKey is an access key as replicated: its id, owner and status. The
// secret is not here, nor anything it could be computed from without an
// HSM holding the cluster domain key (see package iam).
type AccessKey struct {
	// ID is the access key id, "AKIA" and 16 upper-case letters and digits.
	ID string `json:"id"`
	// Owner is the ARN of the principal the key authenticates as: a user
	// or an account root.
	Owner   string `json:"owner"`
	Account string `json:"account"`
	// UserName is the owning user's name, or "" when Owner is the root.
	UserName   string `json:"user_name,omitempty"`
	Status     string `json:"status"`
	CreateDate int64  `json:"create_date"` // Unix milliseconds
}

// CreateUser adds a user. Applying the same CreateUser twice (a retry
// after a lost leadership) returns the user created the first time
// (Result.Existing); another user of the same name is EntityAlreadyExists.
type CreateUser struct {
	User User `json:"user"`
}

func (*CreateUser) Op() Op { return OpCreateUser }

func (c *CreateUser) validate() error {
	if c.User.ID == "" {
		return errors.New("no user id")
	}
	return nil
}

func (c *CreateUser) apply(f *FSM, _ uint64) *Result {
	s := f.iam
	u := c.User
	if u.Account == "" || u.Name == "" || u.ID == "" || u.ARN == "" {
		return &Result{Err: reject(wire.IAMValidation, "A user needs an account, a name, an id and an ARN.")}
	}
	if old, ok := s.user(u.Account, u.Name); ok {
		if old.ID == u.ID {
			return &Result{User: old, Existing: true}
		}
		return &Result{Err: reject(wire.EntityAlreadyExists, "User with name "+u.Name+" already exists.")}
	}
	nu := u
	s.users.ReplaceOrInsert(&nu)
	return &Result{User: &nu}
}

// DeleteUser removes a user, every access key it owns and its identity
// policies, and puts every certificate issued to it on the deny list, all
// in one command: no request sees the user gone but its credentials live.
type DeleteUser struct {
	Account string `json:"account"`
	Name    string `json:"name"`
	// RevokedAt is the proposer's time, for the deny-list records.
	RevokedAt int64 `json:"revoked_at,omitempty"` // Unix milliseconds
}

func (*DeleteUser) Op() Op          { return OpDeleteUser }
func (*DeleteUser) validate() error { return nil }

func (d *DeleteUser) apply(f *FSM, _ uint64) *Result {
	s := f.iam
	u, ok := s.user(d.Account, d.Name)
	if !ok {
		return &Result{Err: reject(wire.NoSuchEntity, "The user with name "+d.Name+" cannot be found.")}
	}
	var owned []*AccessKey
	s.forOwner(u.ARN, func(k *AccessKey) bool {
		owned = append(owned, k)
		return true
	})
	for _, k := range owned {
		s.removeKey(k)
	}
	f.authz.deletePoliciesOf(u.ARN)
	f.revokeIssuedTo(u.ID, d.RevokedAt)
	s.users.Delete(u)
	return &Result{User: u}
}

// CreateAccessKey adds an access key for its owner, which must exist when
// it is a user. A retry of the same command returns the key made the first
// time (Result.Existing).
type CreateAccessKey struct {
	Key AccessKey `json:"key"`
	// MaxKeysPerOwner is the limit in force when the key was proposed
	// (IAM's is 2); carrying it keeps Apply independent of configuration.
	// Zero means no limit.
	MaxKeysPerOwner int `json:"max_keys_per_owner"`
}

func (*CreateAccessKey) Op() Op { return OpCreateAccessKey }

func (c *CreateAccessKey) validate() error {
	if c.Key.ID == "" {
		return errors.New("no access key id")
	}
	return nil
}

// DeleteAccessKey removes access key ID if Owner owns it.
type DeleteAccessKey struct {
	ID    string `json:"id"`
	Owner string `json:"owner"`
}

func (*DeleteAccessKey) Op() Op          { return OpDeleteAccessKey }
func (*DeleteAccessKey) validate() error { return nil }

func (d *DeleteAccessKey) apply(f *FSM, _ uint64) *Result {
	s := f.iam
	k, ok := s.keys.Get(&AccessKey{ID: d.ID})
	if !ok || k.Owner != d.Owner {
		return &Result{Err: reject(wire.NoSuchEntity, "The Access Key with id "+d.ID+" cannot be found.")}
	}
	s.removeKey(k)
	return &Result{AccessKey: k}
}

// iamState holds the users and access keys. The trees are copy-on-write;
// byOwner is derived and rebuilt on restore, never snapshotted.
type iamState struct {
	users   *btree.BTreeG[*User]      // (account, folded name)
	keys    *btree.BTreeG[*AccessKey] // id
	byOwner *btree.BTreeG[*AccessKey] // (owner, id)
}

func newIAMState() *iamState {
	return &iamState{
		users:   btree.NewG(16, userLess),
		keys:    btree.NewG(16, accessKeyLess),
		byOwner: btree.NewG(16, accessKeyByOwnerLess),
	}
}

// clone returns a snapshot of the state: the trees a snapshot writes.
func (s *iamState) clone() *iamState {
	return &iamState{users: s.users.Clone(), keys: s.keys.Clone()}
}

func userLess(a, b *User) bool {
	if a.Account != b.Account {
		return a.Account < b.Account
	}
	return compareFold(a.Name, b.Name) < 0
}

func accessKeyLess(a, b *AccessKey) bool { return a.ID < b.ID }

func accessKeyByOwnerLess(a, b *AccessKey) bool {
	if a.Owner != b.Owner {
		return a.Owner < b.Owner
	}
	return a.ID < b.ID
}

// compareFold compares ASCII strings as if both were lower case. IAM names
// are ASCII ([\w+=,.@-]); other bytes compare as they are.
func compareFold(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := lowerASCII(a[i]), lowerASCII(b[i])
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func (s *iamState) user(account, name string) (*User, bool) {
	return s.users.Get(&User{Account: account, Name: name})
}

func (s *iamState) insertKey(k *AccessKey) {
	s.keys.ReplaceOrInsert(k)
	s.byOwner.ReplaceOrInsert(k)
}

func (s *iamState) removeKey(k *AccessKey) {
	s.keys.Delete(k)
	s.byOwner.Delete(k)
}

// forOwner calls fn for each access key of owner in id order until fn
// returns false.
func (s *iamState) forOwner(owner string, fn func(*AccessKey) bool) {
	s.byOwner.AscendGreaterOrEqual(&AccessKey{Owner: owner}, func(k *AccessKey) bool {
		return k.Owner == owner && fn(k)
	})
}

func (c *CreateAccessKey) apply(f *FSM, _ uint64) *Result {
	s := f.iam
	k := c.Key
	if k.ID == "" || k.Owner == "" || k.Account == "" {
		return &Result{Err: reject(wire.IAMValidation, "An access key needs an id, an owner and an account.")}
	}
	if old, ok := s.keys.Get(&AccessKey{ID: k.ID}); ok {
		if old.Owner == k.Owner && old.CreateDate == k.CreateDate {
			return &Result{AccessKey: old, Existing: true}
		}
		return &Result{Err: reject(wire.ServiceFailure, "access key id collision")}
	}
	if k.UserName != "" {
		u, ok := s.user(k.Account, k.UserName)
		if !ok || u.ARN != k.Owner {
			return &Result{Err: reject(wire.NoSuchEntity, "The user with name "+k.UserName+" cannot be found.")}
		}
	}
	if c.MaxKeysPerOwner > 0 {
		n := 0
		s.forOwner(k.Owner, func(*AccessKey) bool { n++; return true })
		if n >= c.MaxKeysPerOwner {
			return &Result{Err: reject(wire.IAMLimitExceeded, fmt.Sprintf("Cannot exceed quota for AccessKeysPerUser: %d", c.MaxKeysPerOwner))}
		}
	}
	nk := k
	s.insertKey(&nk)
	return &Result{AccessKey: &nk}
}

// User returns the user of account named name, compared without regard
// to case.
func (f *FSM) User(account, name string) (*User, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.iam.user(account, name)
}

// ListUsers returns up to limit users of account whose names sort after
// `after` (without regard to case), in that order, and whether more follow.
func (f *FSM) ListUsers(account, after string, limit int) (users []*User, more bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return pageByName(f.iam.users, &User{Account: account, Name: after}, func(u *User) (string, string) { return u.Account, u.Name }, limit)
}

// pageByName returns up to limit entries of t after pivot (an entry of an
// account and a name) in the same account, skipping the pivot's name
// itself (compared without regard to case), and whether more follow.
func pageByName[T any](t *btree.BTreeG[T], pivot T, accountName func(T) (string, string), limit int) (out []T, more bool) {
	account, after := accountName(pivot)
	t.AscendGreaterOrEqual(pivot, func(v T) bool {
		a, name := accountName(v)
		if a != account {
			return false
		}
		if compareFold(name, after) == 0 {
			return true
		}
		if len(out) == limit {
			more = true
			return false
		}
		out = append(out, v)
		return true
	})
	return out, more
}

// AccessKey returns the access key with the given id.
func (f *FSM) AccessKey(id string) (*AccessKey, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.iam.keys.Get(&AccessKey{ID: id})
}

// ListAccessKeys returns the access keys owned by the principal with ARN
// owner, in id order. There are few: IAM allows two per principal.
func (f *FSM) ListAccessKeys(owner string) []*AccessKey {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []*AccessKey
	f.iam.forOwner(owner, func(k *AccessKey) bool {
		out = append(out, k)
		return true
	})
	return out
}

// writeIAM writes the IAM records of a snapshot: users in (account, name)
// order, then access keys in id order.
func (s *Snapshot) writeIAM(enc *json.Encoder) error {
	if err := encodeTree(enc, s.iam.users, func(u *User) snapshotRecord { return snapshotRecord{User: u} }); err != nil {
		return err
	}
	return encodeTree(enc, s.iam.keys, func(k *AccessKey) snapshotRecord { return snapshotRecord{AccessKey: k} })
}

// restore adds one snapshot record. Records are trusted to be what
// writeIAM wrote; duplicates and empty ids mean a corrupt snapshot.
func (s *iamState) restore(rec *snapshotRecord) error {
	switch {
	case rec.User != nil && rec.User.Name != "" && rec.User.Account != "":
		if _, dup := s.users.ReplaceOrInsert(rec.User); dup {
			return fmt.Errorf("%w: duplicate user %s", ErrSnapshotFormat, rec.User.ARN)
		}
	case rec.AccessKey != nil && rec.AccessKey.ID != "":
		if _, dup := s.keys.Get(rec.AccessKey); dup {
			return fmt.Errorf("%w: duplicate access key %s", ErrSnapshotFormat, rec.AccessKey.ID)
		}
		s.insertKey(rec.AccessKey)
	default:
		return fmt.Errorf("%w: empty IAM record", ErrSnapshotFormat)
	}
	return nil
}
