package iam

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/trentkms/trent/fsm"
	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/identity"
)

// secretLabel names the HSM MAC subkey that derives access key secrets.
// Changing it changes every secret.
const secretLabel = "trent/access-key/v1"

// secretLen is the length of a secret access key, as in AWS.
const secretLen = 40

// ErrUnknownAccessKey is returned by [AccessKeys.Lookup] for an access key
// that does not exist, was deleted or is not active.
var ErrUnknownAccessKey = errors.New("iam: unknown access key")

// AccessKeys looks up access keys and derives their secrets, for SigV4
// verification. It is safe for concurrent use.
type AccessKeys struct {
	store Store
	hsm   MAC
}

// NewAccessKeys returns an AccessKeys reading store and deriving secrets
// with hsm.
func NewAccessKeys(store Store, hsm MAC) *AccessKeys {
	return &AccessKeys{store: store, hsm: hsm}
}

// Lookup returns the secret of access key accessKeyID and the principal it
// authenticates, or [ErrUnknownAccessKey]. The secret is derived by the
// HSM each time; other errors are HSM failures.
//
// DeleteUser deletes a user's access keys in the same command, so a key
// of a deleted user is unknown; Lookup also refuses a user's key when no
// user of that ARN exists, so that the two can never drift apart.
func (a *AccessKeys) Lookup(ctx context.Context, accessKeyID string) (secret []byte, p identity.Principal, err error) {
	k, ok := a.store.AccessKey(accessKeyID)
	if !ok || k.Status != fsm.AccessKeyActive {
		return nil, identity.Principal{}, ErrUnknownAccessKey
	}
	if k.UserName != "" {
		if u, ok := a.store.User(k.Account, k.UserName); !ok || u.ARN != k.Owner {
			return nil, identity.Principal{}, ErrUnknownAccessKey
		}
	}
	p, err = identity.ParsePrincipal(k.Owner)
	if err != nil {
		return nil, identity.Principal{}, fmt.Errorf("iam: access key %s has an invalid owner: %w", accessKeyID, err)
	}
	secret, err = a.secret(ctx, k.ID)
	if err != nil {
		return nil, identity.Principal{}, err
	}
	return secret, p, nil
}

// secret derives the secret access key of id.
func (a *AccessKeys) secret(ctx context.Context, id string) ([]byte, error) {
	tag, err := a.hsm.MAC(ctx, secretLabel, []byte(id))
	if err != nil {
		return nil, fmt.Errorf("iam: deriving access key secret: %w", err)
	}
	enc := make([]byte, base64.StdEncoding.EncodedLen(len(tag)))
	base64.StdEncoding.Encode(enc, tag)
	return enc[:secretLen], nil
}

// owner is the principal whose access keys a request manages.
type owner struct {
	arn      string
	userName string // "" for an account root
}

// keyOwner resolves the owner of the access keys a request names: the
// user userName, or the caller when userName is empty. Only the root may
// name another user.
func (s *Service) keyOwner(p identity.Principal, action, userName string) (owner, error) {
	if userName == "" {
		switch p.Kind {
		case identity.KindRoot:
			return owner{arn: p.ARN}, nil
		case identity.KindUser:
			userName = p.Name
		default:
			return owner{}, validation("Must specify userName when calling with non-User credentials")
		}
	} else if err := checkUserName(userName); err != nil {
		return owner{}, err
	}
	u, err := s.user(p, action, userName)
	if err != nil {
		return owner{}, err
	}
	return owner{arn: u.ARN, userName: u.Name}, nil
}

// CreateAccessKey creates an access key for a user or, without UserName,
// for the caller. The secret is in this response only.
func (s *Service) CreateAccessKey(ctx context.Context, req *iamv1.CreateAccessKeyRequest) (*iamv1.CreateAccessKeyResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	o, err := s.keyOwner(p, "CreateAccessKey", req.UserName)
	if err != nil {
		return nil, err
	}
	id, err := s.newID("AKIA", accessKeyIDRandLen)
	if err != nil {
		return nil, s.internal(ctx, "CreateAccessKey", err)
	}
	// Derive the secret before proposing: a key whose secret cannot be
	// derived must not exist.
	secret, err := s.keys.secret(ctx, id)
	if err != nil {
		return nil, s.internal(ctx, "CreateAccessKey", err)
	}
	r, err := s.propose(ctx, &fsm.CreateAccessKey{
		MaxKeysPerOwner: MaxAccessKeys,
		Key: fsm.AccessKey{ID: id, Owner: o.arn, Account: p.Account, UserName: o.userName,
			Status: fsm.AccessKeyActive, CreateDate: s.now().UnixMilli()},
	})
	if err != nil {
		return nil, err
	}
	k := r.AccessKey
	return &iamv1.CreateAccessKeyResponse{AccessKey: &iamv1.AccessKey{
		UserName: k.UserName, AccessKeyId: k.ID, Status: k.Status, SecretAccessKey: string(secret), CreateDate: isoDate(k.CreateDate),
	}}, nil
}

// ListAccessKeys lists the access keys of a user or, without UserName, of
// the caller, in id order. Secrets are never listed.
func (s *Service) ListAccessKeys(ctx context.Context, req *iamv1.ListAccessKeysRequest) (*iamv1.ListAccessKeysResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	limit, err := maxItems(req.MaxItems)
	if err != nil {
		return nil, err
	}
	o, err := s.keyOwner(p, "ListAccessKeys", req.UserName)
	if err != nil {
		return nil, err
	}
	resp := &iamv1.ListAccessKeysResponse{AccessKeyMetadata: []*iamv1.AccessKeyMetadata{}}
	for _, k := range s.store.ListAccessKeys(o.arn) {
		if k.ID <= req.Marker {
			continue
		}
		if len(resp.AccessKeyMetadata) == limit {
			resp.IsTruncated = true
			resp.Marker = resp.AccessKeyMetadata[limit-1].AccessKeyId
			break
		}
		resp.AccessKeyMetadata = append(resp.AccessKeyMetadata, &iamv1.AccessKeyMetadata{
			UserName: k.UserName, AccessKeyId: k.ID, Status: k.Status, CreateDate: isoDate(k.CreateDate),
		})
	}
	return resp, nil
}

// DeleteAccessKey deletes an access key of a user or, without UserName,
// of the caller.
func (s *Service) DeleteAccessKey(ctx context.Context, req *iamv1.DeleteAccessKeyRequest) (*iamv1.DeleteAccessKeyResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkAccessKeyID(req.AccessKeyId); err != nil {
		return nil, err
	}
	o, err := s.keyOwner(p, "DeleteAccessKey", req.UserName)
	if err != nil {
		return nil, err
	}
	_, err = s.propose(ctx, &fsm.DeleteAccessKey{ID: req.AccessKeyId, Owner: o.arn})
	if err != nil {
		return nil, err
	}
	return &iamv1.DeleteAccessKeyResponse{}, nil
}

// checkAccessKeyID applies IAM's AccessKeyId constraints: 16 to 128 of \w.
func checkAccessKeyID(id string) error {
	if id == "" {
		return validation("Value null at 'accessKeyId' failed to satisfy constraint: Member must not be null")
	}
	ok := len(id) >= 16 && len(id) <= 128
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
	}
	if !ok {
		return validation("Value '%s' at 'accessKeyId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w]+ and have length between 16 and 128", id)
	}
	return nil
}
