package kms

import (
	"context"
	"errors"
	"strings"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/wire"
)

// maxAliasesPerKey is AWS's "Aliases per KMS key" quota.
const maxAliasesPerKey = 50

// aliasNamePattern is the AliasName pattern of the AWS model.
const aliasNamePattern = "^[a-zA-Z0-9:/_-]+$"

// checkAliasName validates an AliasName member as AWS does: the model's
// length and pattern, then the "alias/" prefix, are the request's own
// validation (ValidationException; AWS also refuses a ':' there, which
// the pattern allows); a well-formed name under "alias/aws/", reserved
// for AWS managed keys, is InvalidAliasNameException when creating.
func checkAliasName(name string, creating bool) error {
	switch {
	case name == "":
		return validation("Value null at 'aliasName' failed to satisfy constraint: Member must not be null")
	case len(name) > 256:
		return validation("Value '%s' at 'aliasName' failed to satisfy constraint: Member must have length less than or equal to 256", name)
	case !aliasNameChars(name):
		return validation("Value '%s' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", name, aliasNamePattern)
	case !strings.HasPrefix(name, "alias/"):
		return validation("Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
	case strings.Contains(name, ":"):
		return validation("Alias name %s must not contain ':'.", name)
	case name == "alias/":
		return validation("Alias name must have at least one character after \"alias/\".")
	case creating && strings.HasPrefix(name, "alias/aws/"):
		return newError(wire.InvalidAliasName, "Alias names that begin with alias/aws/ are reserved for AWS managed keys.")
	}
	return nil
}

func aliasNameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == ':' || c == '/' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// aliasTarget resolves the TargetKeyId of CreateAlias or UpdateAlias: a
// key id or key ARN, never an alias (an alias cannot point at an alias).
func (s *Service) aliasTarget(ctx context.Context, p identity.Principal, target string) (*fsm.Key, error) {
	if strings.HasPrefix(target, "alias/") || strings.HasPrefix(target, "arn:") && strings.Contains(target, ":alias/") {
		return nil, validation("Value '%s' at 'targetKeyId' failed to satisfy constraint: Member must be a key ID or key ARN; an alias cannot point at an alias", target)
	}
	return s.resolveKeyForWrite(ctx, p, target, false)
}

// aliasForWrite looks an alias of the caller's account up for a write
// (UpdateAlias, DeleteAlias), on fresh state if this node does not have
// it: it may have been created a moment ago through another node.
func (s *Service) aliasForWrite(ctx context.Context, p identity.Principal, name string) (*fsm.Alias, error) {
	if a, ok := s.store.Alias(p.Account, name); ok {
		return a, nil
	}
	if err := s.linearize(ctx, 0); err != nil {
		return nil, err
	}
	if a, ok := s.store.Alias(p.Account, name); ok {
		return a, nil
	}
	return nil, errAliasNotFound(s.aliasARN(p.Account, name))
}

func (s *Service) aliasARN(account, name string) string {
	return identity.AliasARN(s.region, account, name)
}

// CreateAlias creates an alias in the caller's account for one of its
// keys. The caller needs kms:CreateAlias on the alias (identity policy)
// and on the key (key policy). Whether the name is free is decided when
// the command applies, so of concurrent creates of one name exactly one
// succeeds.
func (s *Service) CreateAlias(ctx context.Context, req *kmsv1.CreateAliasRequest) (*kmsv1.CreateAliasResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	name := req.GetAliasName()
	if err := checkAliasName(name, true); err != nil {
		return nil, err
	}
	k, err := s.aliasTarget(ctx, p, req.GetTargetKeyId())
	if err != nil {
		return nil, err
	}
	arn := s.aliasARN(p.Account, name)
	if err := s.authorizeAlias(ctx, p, "kms:CreateAlias", arn); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "kms:CreateAlias", k, nil); err != nil {
		return nil, err
	}
	_, err = s.propose(ctx, &fsm.CreateAlias{Account: p.Account, Name: name, ARN: arn, KeyID: k.ID,
		Date: millis(s.now()), MaxAliasesPerKey: maxAliasesPerKey})
	if err != nil {
		return nil, err
	}
	return &kmsv1.CreateAliasResponse{}, nil
}

// UpdateAlias points an alias at another key of the caller's account. The
// caller needs kms:UpdateAlias on the alias, on the key it points at and
// on the new key.
func (s *Service) UpdateAlias(ctx context.Context, req *kmsv1.UpdateAliasRequest) (*kmsv1.UpdateAliasResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	name := req.GetAliasName()
	if err := checkAliasName(name, false); err != nil {
		return nil, err
	}
	k, err := s.aliasTarget(ctx, p, req.GetTargetKeyId())
	if err != nil {
		return nil, err
	}
	err = s.onAlias(ctx, p, name, "kms:UpdateAlias", func(a *fsm.Alias) error {
		if err := s.authorize(ctx, p, "kms:UpdateAlias", k, nil); err != nil {
			return err
		}
		_, err := s.propose(ctx, &fsm.UpdateAlias{Account: p.Account, Name: name, ARN: a.ARN, KeyID: k.ID,
			Date: millis(s.now()), MaxAliasesPerKey: maxAliasesPerKey, ExpectKeyID: a.KeyID})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &kmsv1.UpdateAliasResponse{}, nil
}

// DeleteAlias deletes an alias of the caller's account; the key is not
// affected. The caller needs kms:DeleteAlias on the alias and on its key.
func (s *Service) DeleteAlias(ctx context.Context, req *kmsv1.DeleteAliasRequest) (*kmsv1.DeleteAliasResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	name := req.GetAliasName()
	if err := checkAliasName(name, false); err != nil {
		return nil, err
	}
	err = s.onAlias(ctx, p, name, "kms:DeleteAlias", func(a *fsm.Alias) error {
		_, err := s.propose(ctx, &fsm.DeleteAlias{Account: p.Account, Name: name, ARN: a.ARN, ExpectKeyID: a.KeyID})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &kmsv1.DeleteAliasResponse{}, nil
}

// aliasAttempts bounds how often onAlias decides again when the alias
// moves under it.
const aliasAttempts = 3

// onAlias runs an UpdateAlias or DeleteAlias (action) on the caller's
// alias name: it authorizes action on the alias and on the key the alias
// points at, then calls change, whose command carries that key as its
// ExpectKeyID. If another UpdateAlias moved the alias in between, the
// command is refused at apply time (fsm.AliasMoved) and all of it is
// decided again on fresh state, so the call never changes an alias on the
// strength of a permission on a key the alias no longer points at.
func (s *Service) onAlias(ctx context.Context, p identity.Principal, name, action string, change func(*fsm.Alias) error) error {
	for attempt := 1; ; attempt++ {
		a, err := s.aliasForWrite(ctx, p, name)
		if err != nil {
			return err
		}
		if err := s.authorizeAlias(ctx, p, action, a.ARN); err != nil {
			return err
		}
		cur, err := s.keyOf(a.Account, a.KeyID)
		if err != nil {
			return err
		}
		if err := s.authorize(ctx, p, action, cur, nil); err != nil {
			return err
		}
		err = change(a)
		var we *wire.Error
		if !errors.As(err, &we) || we.Type != fsm.AliasMoved {
			return err
		}
		if attempt == aliasAttempts {
			return newError(wire.DependencyTimeout, "The alias %s kept changing while the request was decided; retry the request.", a.ARN)
		}
		if err := s.linearize(ctx, 0); err != nil {
			return err
		}
	}
}

// ListAliases lists the aliases of the caller's account in name order,
// Limit (1-100, default 50) at a time, optionally only those of one key
// (KeyId: a key id or key ARN). It needs kms:ListAliases from identity
// policies only.
func (s *Service) ListAliases(ctx context.Context, req *kmsv1.ListAliasesRequest) (*kmsv1.ListAliasesResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(req.Limit, 100, 50)
	if err != nil {
		return nil, err
	}
	after, err := decodeMarker(req.GetMarker())
	if err != nil {
		return nil, err
	}
	keyID := ""
	if req.GetKeyId() != "" {
		k, err := s.resolveKey(p, req.GetKeyId(), false)
		if err != nil {
			return nil, err
		}
		keyID = k.ID
	}
	if err := s.authorize(ctx, p, "kms:ListAliases", nil, nil); err != nil {
		return nil, err
	}
	list, more := s.store.ListAliases(p.Account, after, keyID, limit)
	resp := &kmsv1.ListAliasesResponse{Aliases: make([]*kmsv1.AliasListEntry, len(list))}
	for i, a := range list {
		resp.Aliases[i] = &kmsv1.AliasListEntry{AliasName: a.Name, AliasArn: a.ARN, TargetKeyId: a.KeyID,
			CreationDate: seconds(a.CreationDate), LastUpdatedDate: seconds(a.LastUpdatedDate)}
	}
	if more {
		resp.Truncated = true
		resp.NextMarker = encodeMarker(list[len(list)-1].Name)
	}
	return resp, nil
}
