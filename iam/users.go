package iam

import (
	"context"
	"strings"

	"github.com/trentkms/trent/fsm"
	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/wire"
)

// newPrincipal checks the path and ARN of a new user or role made by the
// caller p through operation op, and draws its id (prefix AIDA or AROA).
func (s *Service) newPrincipal(ctx context.Context, p identity.Principal, op, idPrefix, path string, arnFor func(path string) string) (cleanPath, arn, id string, err error) {
	if path == "" {
		path = "/"
	}
	if err := checkPath(path); err != nil {
		return "", "", "", err
	}
	arn = arnFor(path)
	if err := requireRoot(p, op, arn); err != nil {
		return "", "", "", err
	}
	if _, err := identity.ParsePrincipal(arn); err != nil {
		return "", "", "", validation("The ARN %s is not valid: %v", arn, err)
	}
	if id, err = s.newID(idPrefix, principalIDRandLen); err != nil {
		return "", "", "", s.internal(ctx, op, err)
	}
	return path, arn, id, nil
}

// CreateUser creates a user in the caller's account.
func (s *Service) CreateUser(ctx context.Context, req *iamv1.CreateUserRequest) (*iamv1.CreateUserResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkUserName(req.UserName); err != nil {
		return nil, err
	}
	path, arn, id, err := s.newPrincipal(ctx, p, "CreateUser", "AIDA", req.Path, func(path string) string { return userARN(p.Account, path, req.UserName) })
	if err != nil {
		return nil, err
	}
	r, err := s.propose(ctx, &fsm.CreateUser{User: fsm.User{
		Account: p.Account, Name: req.UserName, Path: path, ID: id, ARN: arn, CreateDate: s.now().UnixMilli(),
	}})
	if err != nil {
		return nil, err
	}
	return &iamv1.CreateUserResponse{User: userOut(r.User)}, nil
}

// GetUser returns a user of the caller's account or, without UserName,
// the caller itself.
func (s *Service) GetUser(ctx context.Context, req *iamv1.GetUserRequest) (*iamv1.GetUserResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	name := req.UserName
	if name == "" {
		switch p.Kind {
		case identity.KindRoot:
			return &iamv1.GetUserResponse{User: &iamv1.User{UserId: p.Account, Arn: p.ARN}}, nil
		case identity.KindUser:
			name = p.Name
		default:
			return nil, validation("Must specify userName when calling with non-User credentials")
		}
	} else if err := checkUserName(name); err != nil {
		return nil, err
	}
	u, err := s.user(p, "GetUser", name)
	if err != nil {
		return nil, err
	}
	return &iamv1.GetUserResponse{User: userOut(u)}, nil
}

// ListUsers lists the users of the caller's account whose path starts with
// PathPrefix, in name order.
func (s *Service) ListUsers(ctx context.Context, req *iamv1.ListUsersRequest) (*iamv1.ListUsersResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	limit, err := maxItems(req.MaxItems)
	if err != nil {
		return nil, err
	}
	prefix, err := checkListing(req.PathPrefix, req.Marker)
	if err != nil {
		return nil, err
	}
	if err := requireRoot(p, "ListUsers", "arn:aws:iam::"+p.Account+":user/"); err != nil {
		return nil, err
	}
	users, truncated := listByPath(func(after string, n int) ([]*fsm.User, bool) { return s.store.ListUsers(p.Account, after, n) },
		func(u *fsm.User) (string, string) { return u.Name, u.Path }, req.Marker, prefix, limit)
	resp := &iamv1.ListUsersResponse{Users: make([]*iamv1.User, 0, len(users)), IsTruncated: truncated}
	for _, u := range users {
		resp.Users = append(resp.Users, userOut(u))
	}
	if truncated {
		resp.Marker = users[len(users)-1].Name
	}
	return resp, nil
}

// checkListing validates a listing's PathPrefix (default "/") and Marker.
func checkListing(prefix, marker string) (string, error) {
	if prefix == "" {
		prefix = "/"
	}
	if len(prefix) > 512 || prefix[0] != '/' {
		return "", validation("Value '%s' at 'pathPrefix' failed to satisfy constraint: Member must satisfy regular expression pattern: \\u002F[\\u0021-\\u007F]*", prefix)
	}
	if len(marker) > 320 {
		return "", validation("Value at 'marker' failed to satisfy constraint: Member must have length less than or equal to 320")
	}
	return prefix, nil
}

// listByPath pages through list (entries in name order, after a name) and
// keeps the entries whose path starts with prefix: at most limit of them,
// and whether more remain.
func listByPath[T any](list func(after string, n int) ([]T, bool), namePath func(T) (string, string), marker, prefix string, limit int) (out []T, truncated bool) {
	after := marker
	for {
		batch, more := list(after, limit)
		for _, v := range batch {
			if _, path := namePath(v); !strings.HasPrefix(path, prefix) {
				continue
			}
			if len(out) == limit {
				return out, true
			}
			out = append(out, v)
		}
		if !more || len(batch) == 0 {
			return out, false
		}
		after, _ = namePath(batch[len(batch)-1])
	}
}

// DeleteUser deletes a user of the caller's account, its access keys and
// policies, and revokes every certificate issued to it.
func (s *Service) DeleteUser(ctx context.Context, req *iamv1.DeleteUserRequest) (*iamv1.DeleteUserResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkUserName(req.UserName); err != nil {
		return nil, err
	}
	if err := requireRoot(p, "DeleteUser", userARN(p.Account, "/", req.UserName)); err != nil {
		return nil, err
	}
	_, err = s.propose(ctx, &fsm.DeleteUser{Account: p.Account, Name: req.UserName, RevokedAt: s.now().UnixMilli()})
	if err != nil {
		return nil, err
	}
	return &iamv1.DeleteUserResponse{}, nil
}

// user finds a user of p's account that p may act on: any of them for the
// root, only itself for a user.
func (s *Service) user(p identity.Principal, action, name string) (*fsm.User, error) {
	u, ok := s.store.User(p.Account, name)
	// A user may act on itself; if it no longer exists, it learns so.
	self := p.Kind == identity.KindUser && (ok && u.ARN == p.ARN || !ok && strings.EqualFold(p.Name, name))
	if !p.IsRoot() && !self {
		arn := userARN(p.Account, "/", name)
		if ok {
			arn = u.ARN
		}
		return nil, denied(p, action, arn)
	}
	if !ok {
		return nil, noSuchUser(name)
	}
	return u, nil
}

func noSuchUser(name string) error {
	return newError(wire.NoSuchEntity, "The user with name %s cannot be found.", name)
}

func userARN(account, path, name string) string {
	return "arn:aws:iam::" + account + ":user" + path + name
}

func userOut(u *fsm.User) *iamv1.User {
	return &iamv1.User{Path: u.Path, UserName: u.Name, UserId: u.ID, Arn: u.ARN, CreateDate: isoDate(u.CreateDate)}
}

// checkUserName applies IAM's UserName constraints: 1 to 64 of [\w+=,.@-].
func checkUserName(name string) error {
	switch {
	case name == "":
		return validation("Value null at 'userName' failed to satisfy constraint: Member must not be null")
	case len(name) > 64:
		return validation("Value '%s' at 'userName' failed to satisfy constraint: Member must have length less than or equal to 64", name)
	}
	for i := 0; i < len(name); i++ {
		if !isNameChar(name[i]) {
			return validation("Value '%s' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+", name)
		}
	}
	return nil
}

// checkPath accepts "/" and "/seg/.../" with segments of name characters,
// which is what principal ARNs allow (see identity.ParsePrincipal).
func checkPath(path string) error {
	bad := len(path) > 512 || path[0] != '/' || path[len(path)-1] != '/'
	if !bad && path != "/" {
		for _, seg := range strings.Split(path[1:len(path)-1], "/") {
			if seg == "" {
				bad = true
			}
			for i := 0; i < len(seg); i++ {
				bad = bad || !isNameChar(seg[i])
			}
		}
	}
	if bad {
		return validation("Value '%s' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\w+=,.@-]+)*\\u002F", path)
	}
	return nil
}

func isNameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_+=,.@-", c) >= 0
}

func maxItems(v *int32) (int, error) {
	if v == nil {
		return defaultMaxItems, nil
	}
	if *v < 1 || *v > maxMaxItems {
		return 0, validation("Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and %d", *v, maxMaxItems)
	}
	return int(*v), nil
}
