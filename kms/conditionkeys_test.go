package kms_test

import (
	"strings"
	"testing"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/wire"
)

// The alias and tag condition keys reach policies (reference 3.4): each
// case gives bob one identity policy (the key policy is the default, which
// delegates to the account) and makes one call as bob.
func TestAliasAndTagConditionKeys(t *testing.T) {
	t.Parallel()
	const (
		requestAlias = `{"StringEquals":{"kms:RequestAlias":"alias/app"}}`
		aliasLike    = `{"ForAnyValue:StringLike":{"kms:ResourceAliases":"alias/fin-*"}}`
		allAliases   = `{"ForAllValues:StringLike":{"kms:ResourceAliases":"alias/fin-*"}}`
		resourceTag  = `{"StringEquals":{"aws:ResourceTag/Env":"prod"}}`
		resourceTagI = `{"StringEquals":{"aws:resourcetag/env":"prod"}}`
		requestTag   = `{"StringEquals":{"aws:RequestTag/env":"dev"},"ForAllValues:StringEquals":{"aws:TagKeys":["env","owner"]}}`
		onlyTemp     = `{"ForAllValues:StringEquals":{"aws:TagKeys":["temp"]}}`
		anyTagKey    = `{"ForAnyValue:StringEquals":{"aws:TagKeys":"env"}}`
	)
	type fixture struct {
		e    *env
		key  *kmsv1.KeyMetadata // aliases alias/app, alias/fin-db; tag Env=prod
		bare *kmsv1.KeyMetadata // no alias, no tag
	}
	encrypt := func(keyID string) func(f fixture) error {
		return func(f fixture) error {
			_, err := f.e.svc.Encrypt(as(t, bobARN), &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x")})
			return err
		}
	}
	keyOp := func(op func(f fixture, id string) error, bare bool) func(f fixture) error {
		return func(f fixture) error {
			if bare {
				return op(f, f.bare.KeyId)
			}
			return op(f, f.key.KeyId)
		}
	}
	encryptKey := func(f fixture, id string) error {
		_, err := f.e.svc.Encrypt(as(t, bobARN), &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("x")})
		return err
	}
	describe := func(f fixture, id string) error {
		_, err := f.e.svc.DescribeKey(as(t, bobARN), &kmsv1.DescribeKeyRequest{KeyId: id})
		return err
	}
	tag := func(tags ...string) func(f fixture) error {
		return func(f fixture) error {
			req := &kmsv1.TagResourceRequest{KeyId: f.key.KeyId}
			for i := 0; i < len(tags); i += 2 {
				req.Tags = append(req.Tags, &kmsv1.Tag{TagKey: tags[i], TagValue: tags[i+1]})
			}
			_, err := f.e.svc.TagResource(as(t, bobARN), req)
			return err
		}
	}
	untag := func(keys ...string) func(f fixture) error {
		return func(f fixture) error {
			_, err := f.e.svc.UntagResource(as(t, bobARN), &kmsv1.UntagResourceRequest{KeyId: f.key.KeyId, TagKeys: keys})
			return err
		}
	}
	createKey := func(tags ...string) func(f fixture) error {
		return func(f fixture) error {
			req := &kmsv1.CreateKeyRequest{}
			for i := 0; i < len(tags); i += 2 {
				req.Tags = append(req.Tags, &kmsv1.Tag{TagKey: tags[i], TagValue: tags[i+1]})
			}
			_, err := f.e.svc.CreateKey(as(t, bobARN), req)
			return err
		}
	}
	tests := []struct {
		name   string
		action string
		cond   string
		call   func(f fixture) error
		want   string
	}{
		{"RequestAlias by alias name", "kms:Encrypt", requestAlias, encrypt("alias/app"), ""},
		{"RequestAlias by alias ARN", "kms:Encrypt", requestAlias, encrypt(aliasARNPrefix + "alias/app"), ""},
		{"RequestAlias by another alias", "kms:Encrypt", requestAlias, encrypt("alias/fin-db"), wire.AccessDenied},
		{"RequestAlias absent by key id", "kms:Encrypt", requestAlias, keyOp(encryptKey, false), wire.AccessDenied},
		{"RequestAlias on DescribeKey", "kms:DescribeKey", requestAlias, func(f fixture) error { return describe(f, "alias/app") }, ""},
		{"ResourceAliases any matches", "kms:Encrypt", aliasLike, keyOp(encryptKey, false), ""},
		{"ResourceAliases key without aliases", "kms:Encrypt", aliasLike, keyOp(encryptKey, true), wire.AccessDenied},
		{"ResourceAliases all must match", "kms:Encrypt", allAliases, keyOp(encryptKey, false), wire.AccessDenied},
		{"ResourceTag matches", "kms:DescribeKey", resourceTag, keyOp(describe, false), ""},
		{"ResourceTag name is case-insensitive", "kms:DescribeKey", resourceTagI, keyOp(describe, false), ""},
		{"ResourceTag untagged key", "kms:DescribeKey", resourceTag, keyOp(describe, true), wire.AccessDenied},
		{"RequestTag and TagKeys allowed", "kms:TagResource", requestTag, tag("env", "dev", "owner", "bob"), ""},
		{"RequestTag other value", "kms:TagResource", requestTag, tag("env", "prod"), wire.AccessDenied},
		{"TagKeys unlisted key", "kms:TagResource", requestTag, tag("env", "dev", "cost", "1"), wire.AccessDenied},
		{"UntagResource TagKeys allowed", "kms:UntagResource", onlyTemp, untag("temp"), ""},
		{"UntagResource TagKeys refused", "kms:UntagResource", onlyTemp, untag("temp", "Env"), wire.AccessDenied},
		{"TagKeys any on UntagResource", "kms:UntagResource", anyTagKey, untag("env"), ""},
		{"CreateKey RequestTag allowed", "kms:CreateKey", requestTag, createKey("env", "dev"), ""},
		{"CreateKey RequestTag refused", "kms:CreateKey", requestTag, createKey("env", "prod"), wire.AccessDenied},
		{"CreateKey without tags has no RequestTag", "kms:CreateKey", requestTag, createKey(), wire.AccessDenied},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			f := fixture{e: e, key: e.createKey(t), bare: e.createKey(t)}
			e.createAlias(t, "alias/app", f.key.KeyId)
			e.createAlias(t, "alias/fin-db", f.key.KeyId)
			if _, err := e.svc.TagResource(e.root, &kmsv1.TagResourceRequest{KeyId: f.key.KeyId,
				Tags: []*kmsv1.Tag{{TagKey: "Env", TagValue: "prod"}}}); err != nil {
				t.Fatal(err)
			}
			actions := `"` + tt.action + `"`
			if tt.action == "kms:CreateKey" {
				actions = `["kms:CreateKey","kms:TagResource"]`
			}
			e.apply(t, userCmd(acct, "bob"), identityPolicyCmd(acct, "user", "bob", "p", ident("Allow", actions, `"*"`, tt.cond)))
			wantType(t, tt.call(f), tt.want)
		})
	}
}

// kms:ResourceAliases follows the aliases as they change.
func TestResourceAliasesFollowAliasChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k, other := e.createKey(t), e.createKey(t)
	e.apply(t, userCmd(acct, "bob"), identityPolicyCmd(acct, "user", "bob", "p",
		ident("Allow", `"kms:Encrypt"`, `"*"`, `{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/fin"}}`)))
	enc := func() error {
		_, err := e.svc.Encrypt(as(t, bobARN), &kmsv1.EncryptRequest{KeyId: k.KeyId, Plaintext: []byte("x")})
		return err
	}
	wantType(t, enc(), wire.AccessDenied)
	e.createAlias(t, "alias/fin", k.KeyId)
	wantType(t, enc(), "")
	if _, err := e.svc.UpdateAlias(e.root, &kmsv1.UpdateAliasRequest{AliasName: "alias/fin", TargetKeyId: other.KeyId}); err != nil {
		t.Fatal(err)
	}
	wantType(t, enc(), wire.AccessDenied)
	if _, err := e.svc.UpdateAlias(e.root, &kmsv1.UpdateAliasRequest{AliasName: "alias/fin", TargetKeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	wantType(t, enc(), "")
	if _, err := e.svc.DeleteAlias(e.root, &kmsv1.DeleteAliasRequest{AliasName: "alias/fin"}); err != nil {
		t.Fatal(err)
	}
	wantType(t, enc(), wire.AccessDenied)
}
