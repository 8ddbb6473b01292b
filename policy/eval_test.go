package policy_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/policy"
)

// consolePolicy is the key policy the AWS console writes for a symmetric
// key with key administrators and key users (key-policy-default.md).
var consolePolicy = `{
  "Id": "key-consolepolicy-3",
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "Enable IAM User Permissions",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
      "Action": "kms:*",
      "Resource": "*"
    },
    {
      "Sid": "Allow access for Key Administrators",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::111122223333:role/KeyAdmin"},
      "Action": [
        "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
        "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
        "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
        "kms:CancelKeyDeletion"
      ],
      "Resource": "*"
    },
    {
      "Sid": "Allow use of the key",
      "Effect": "Allow",
      "Principal": {"AWS": ["arn:aws:iam::111122223333:role/KeyUser"]},
      "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
      "Resource": "*"
    },
    {
      "Sid": "Allow attachment of persistent resources",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::111122223333:role/KeyUser"},
      "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
      "Resource": "*",
      "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    }
  ]
}`

// userStatement allows bob the given actions under a condition.
func userStatement(action, condition string) string {
	s := `{"Sid":"User","Effect":"Allow","Principal":{"AWS":"` + bobARN + `"},"Action":` + action + `,"Resource":"*"`
	if condition != "" {
		s += `,"Condition":` + condition
	}
	return s + "}"
}

var rootStatement = `{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"` + rootARN + `"},"Action":"kms:*","Resource":"*"}`

type evalCase struct {
	name     string
	key      string   // key policy; "" for operations without a key
	ident    []string // the caller's identity policies
	caller   string
	action   string
	resource string // default keyARN ("*" when key is "")
	resAcct  string // default acct
	setup    func(r *policy.Request)
	want     policy.Reason
	sids     []string // if set, the Sids of Decision.Statements
}

func ec(kv ...string) func(*policy.Request) {
	return func(r *policy.Request) {
		m := make(map[string]string)
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		r.SetEncryptionContext(m)
	}
}

func set(key string, values ...string) func(*policy.Request) {
	return func(r *policy.Request) { r.Set(key, values...) }
}

func grant(g policy.GrantRequest) func(*policy.Request) {
	return func(r *policy.Request) { r.SetGrant(g) }
}

var (
	deny     = policy.ExplicitDeny
	implicit = policy.ImplicitDeny
	byKey    = policy.KeyPolicyAllow
	byIdent  = policy.IdentityPolicyAllow
)

func evalCases() []evalCase {
	def := policy.DefaultKeyPolicy(acct)
	ecPolicy := func(cond string) string {
		return doc(rootStatement, userStatement(`["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey*"]`, cond))
	}
	grantPolicy := func(cond string) string {
		return doc(userStatement(`"kms:CreateGrant"`, cond))
	}
	at := func(ts string) func(*policy.Request) {
		return func(r *policy.Request) {
			t, err := time.Parse(time.RFC3339, ts)
			if err != nil {
				panic(err)
			}
			r.SetTime(t)
		}
	}
	ip := func(s string) func(*policy.Request) {
		return func(r *policy.Request) { r.SetSourceIP(netip.MustParseAddr(s)) }
	}
	secure := func(b bool) func(*policy.Request) {
		return func(r *policy.Request) { r.SetSecureTransport(b) }
	}
	crossKey := doc(rootStatement,
		`{"Sid":"External","Effect":"Allow","Principal":{"AWS":"`+extRoot+`"},"Action":["kms:Decrypt","kms:DescribeKey"],"Resource":"*"}`)
	return []evalCase{
		// The default key policy: the root statement allows the root and
		// delegates to the account's identity policies.
		{name: "default/root_allowed", key: def, caller: rootARN, action: "kms:Decrypt", want: byKey, sids: []string{"Enable IAM User Permissions"}},
		{name: "default/root_may_put_key_policy", key: def, caller: rootARN, action: "kms:PutKeyPolicy", want: byKey},
		{name: "default/user_without_identity_policy", key: def, caller: bobARN, action: "kms:Decrypt", want: implicit, sids: []string{"Enable IAM User Permissions"}},
		{name: "default/user_with_identity_policy", key: def, ident: []string{allowAll}, caller: bobARN, action: "kms:Decrypt", want: byIdent, sids: []string{"Enable IAM User Permissions", ""}},
		{name: "default/role_with_identity_policy", key: def, ident: []string{allowAll}, caller: appRole, action: "kms:Encrypt", want: byIdent},
		{name: "default/identity_allows_other_action", key: def, caller: bobARN, action: "kms:Decrypt",
			ident: []string{doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}`)}, want: implicit},
		{name: "default/identity_allows_other_key", key: def, caller: bobARN, action: "kms:Decrypt",
			ident: []string{doc(`{"Effect":"Allow","Action":"kms:Decrypt","Resource":"` + key2ARN + `"}`)}, want: implicit},
		{name: "default/identity_resource_wildcards", key: def, caller: bobARN, action: "kms:Decrypt",
			ident: []string{doc(`{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:111122223333:key/*"}`)}, want: byIdent},
		{name: "default/identity_resource_wildcard_cannot_cross_fields", key: def, caller: bobARN, action: "kms:Decrypt",
			ident: []string{doc(`{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-*-1111:key/*"}`)}, want: implicit},
		{name: "default/identity_deny_overrides", key: def, caller: bobARN, action: "kms:ScheduleKeyDeletion",
			ident: []string{allowAll, doc(`{"Sid":"NoDelete","Effect":"Deny","Action":"kms:ScheduleKeyDeletion","Resource":"*"}`)}, want: deny, sids: []string{"NoDelete"}},
		{name: "default/other_account_root", key: def, caller: extRoot, action: "kms:Decrypt", want: implicit},
		{name: "default/other_account_user_with_identity_policy", key: def, ident: []string{allowAll}, caller: extBobARN, action: "kms:Decrypt", want: implicit},

		// Operations without a key: only identity policies.
		{name: "keyless/create_key_with_identity_policy", caller: bobARN, action: "kms:CreateKey",
			ident: []string{doc(`{"Effect":"Allow","Action":"kms:CreateKey","Resource":"*"}`)}, want: byIdent},
		{name: "keyless/create_key_without_identity_policy", caller: bobARN, action: "kms:CreateKey", want: implicit},
		{name: "keyless/root_may_list_keys", caller: rootARN, action: "kms:ListKeys", want: byIdent},
		{name: "keyless/resource_arn_does_not_match_star", caller: bobARN, action: "kms:ListKeys",
			ident: []string{doc(`{"Effect":"Allow","Action":"kms:ListKeys","Resource":"arn:aws:kms:*:111122223333:key/*"}`)}, want: implicit},

		// The console's key policy.
		{name: "console/admin_may_put_key_policy", key: consolePolicy, caller: adminARN, action: "kms:PutKeyPolicy", want: byKey, sids: []string{"Allow access for Key Administrators"}},
		{name: "console/admin_may_schedule_deletion", key: consolePolicy, caller: adminARN, action: "kms:ScheduleKeyDeletion", want: byKey},
		{name: "console/admin_may_not_decrypt", key: consolePolicy, caller: adminARN, action: "kms:Decrypt", want: implicit},
		{name: "console/admin_decrypts_with_identity_policy", key: consolePolicy, ident: []string{allowAll}, caller: adminARN, action: "kms:Decrypt", want: byIdent},
		{name: "console/user_may_encrypt", key: consolePolicy, caller: userRole, action: "kms:Encrypt", want: byKey, sids: []string{"Allow use of the key"}},
		{name: "console/user_may_reencrypt_from", key: consolePolicy, caller: userRole, action: "kms:ReEncryptFrom", want: byKey},
		{name: "console/user_may_generate_data_key_without_plaintext", key: consolePolicy, caller: userRole, action: "kms:GenerateDataKeyWithoutPlaintext", want: byKey},
		{name: "console/user_may_not_schedule_deletion", key: consolePolicy, caller: userRole, action: "kms:ScheduleKeyDeletion", want: implicit},
		{name: "console/user_create_grant_not_for_aws_resource", key: consolePolicy, caller: userRole, action: "kms:CreateGrant",
			setup: grant(policy.GrantRequest{Operations: []string{"Decrypt"}, GranteePrincipal: appRole}), want: implicit},
		{name: "console/user_create_grant_key_absent", key: consolePolicy, caller: userRole, action: "kms:CreateGrant", want: implicit},
		{name: "console/user_create_grant_for_aws_resource", key: consolePolicy, caller: userRole, action: "kms:CreateGrant",
			setup: set(policy.CondGrantIsForAWSResource, "true"), want: byKey, sids: []string{"Allow attachment of persistent resources"}},

		// Actions match case-insensitively, with wildcards.
		{name: "action/request_in_upper_case", key: consolePolicy, caller: userRole, action: "KMS:DECRYPT", want: byKey},
		{name: "action/policy_in_lower_case", key: doc(userStatement(`"kms:generatedatakey"`, "")), caller: bobARN, action: "kms:GenerateDataKey", want: byKey},
		{name: "action/question_mark", key: doc(userStatement(`"kms:?ncrypt"`, "")), caller: bobARN, action: "kms:Encrypt", want: byKey},
		{name: "action/prefix_wildcard_does_not_overmatch", key: doc(userStatement(`"kms:Describe*"`, "")), caller: bobARN, action: "kms:Decrypt", want: implicit},
		{name: "action/star_matches_everything", key: doc(userStatement(`"*"`, "")), caller: bobARN, action: "kms:DeleteAlias", want: byKey},
		{name: "action/other_service", key: doc(userStatement(`"s3:*"`, "")), caller: bobARN, action: "kms:Decrypt", want: implicit},

		// Encryption context conditions.
		{name: "ec/string_equals", key: ecPolicy(`{"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}`), caller: bobARN, action: "kms:Decrypt",
			setup: ec("AppName", "ExampleApp"), want: byKey, sids: []string{"User"}},
		{name: "ec/string_equals_value_is_case_sensitive", key: ecPolicy(`{"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}`), caller: bobARN, action: "kms:Decrypt",
			setup: ec("AppName", "exampleapp"), want: implicit},
		{name: "ec/context_key_is_case_insensitive", key: ecPolicy(`{"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}`), caller: bobARN, action: "kms:Decrypt",
			setup: ec("appname", "ExampleApp"), want: byKey},
		{name: "ec/condition_key_prefix_is_case_insensitive", key: ecPolicy(`{"StringEquals":{"KMS:ENCRYPTIONCONTEXT:appname":"ExampleApp"}}`), caller: bobARN, action: "kms:Decrypt",
			setup: ec("AppName", "ExampleApp"), want: byKey},
		{name: "ec/string_equals_ignore_case", key: ecPolicy(`{"StringEqualsIgnoreCase":{"kms:EncryptionContext:AppName":"ExampleApp"}}`), caller: bobARN, action: "kms:Decrypt",
			setup: ec("AppName", "EXAMPLEAPP"), want: byKey},
		{name: "ec/missing_pair", key: ecPolicy(`{"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}`), caller: bobARN, action: "kms:Decrypt",
			setup: ec("Other", "ExampleApp"), want: implicit},
		{name: "ec/several_values_are_alternatives", key: ecPolicy(`{"StringEquals":{"kms:EncryptionContext:Dept":["IT","Finance"]}}`), caller: bobARN, action: "kms:Encrypt",
			setup: ec("Dept", "Finance"), want: byKey},
		{name: "ec/several_keys_are_all_required", key: ecPolicy(`{"StringEquals":{"kms:EncryptionContext:Dept":"IT","kms:EncryptionContext:Project":"Alpha"}}`), caller: bobARN, action: "kms:Encrypt",
			setup: ec("Dept", "IT"), want: implicit},
		{name: "ec/string_like", key: ecPolicy(`{"StringLike":{"kms:EncryptionContext:Project":"proj-*"}}`), caller: bobARN, action: "kms:Encrypt",
			setup: ec("Project", "proj-42"), want: byKey},
		{name: "ec/string_not_equals_absent_is_true", key: ecPolicy(`{"StringNotEquals":{"kms:EncryptionContext:Dept":"HR"}}`), caller: bobARN, action: "kms:Encrypt",
			want: byKey},
		{name: "ec/string_not_equals_present", key: ecPolicy(`{"StringNotEquals":{"kms:EncryptionContext:Dept":"HR"}}`), caller: bobARN, action: "kms:Encrypt",
			setup: ec("Dept", "HR"), want: implicit},
		{name: "ec/keys_for_any_value_present", key: ecPolicy(`{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":["Purpose","AppName"]}}`), caller: bobARN, action: "kms:Encrypt",
			setup: ec("AppName", "x", "Other", "y"), want: byKey},
		{name: "ec/keys_for_any_value_no_context", key: ecPolicy(`{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"AppName"}}`), caller: bobARN, action: "kms:Encrypt",
			want: implicit},
		{name: "ec/keys_for_any_value_is_case_sensitive", key: ecPolicy(`{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"AppName"}}`), caller: bobARN, action: "kms:Encrypt",
			setup: ec("appname", "x"), want: implicit},
		{name: "ec/keys_for_all_values_subset", key: ecPolicy(`{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["Purpose","AppName"]}}`), caller: bobARN, action: "kms:Encrypt",
			setup: ec("AppName", "x"), want: byKey},
		{name: "ec/keys_for_all_values_extra_key", key: ecPolicy(`{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["Purpose","AppName"]}}`), caller: bobARN, action: "kms:Encrypt",
			setup: ec("AppName", "x", "Extra", "y"), want: implicit},
		{name: "ec/keys_for_all_values_empty_context_is_true", key: ecPolicy(`{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["Purpose"]}}`), caller: bobARN, action: "kms:Encrypt",
			want: byKey},
		{name: "ec/keys_for_all_values_with_null_false_needs_context", key: ecPolicy(`{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["Purpose"]},"Null":{"kms:EncryptionContextKeys":"false"}}`), caller: bobARN, action: "kms:Encrypt",
			want: implicit},
		{name: "ec/policy_variable_username", key: ecPolicy(`{"StringEquals":{"kms:EncryptionContext:Owner":"${aws:username}"}}`), caller: bobARN, action: "kms:Decrypt",
			setup: ec("Owner", "bob"), want: byKey},
		{name: "ec/policy_variable_other_user", key: ecPolicy(`{"StringEquals":{"kms:EncryptionContext:Owner":"${aws:username}"}}`), caller: bobARN, action: "kms:Decrypt",
			setup: ec("Owner", "alice"), want: implicit},
		{name: "ec/policy_variable_value_is_literal_in_like", key: ecPolicy(`{"StringLike":{"kms:EncryptionContext:Path":"home/${kms:EncryptionContext:User}/*"}}`), caller: bobARN, action: "kms:Decrypt",
			setup: ec("Path", "home/x/y", "User", "*"), want: implicit},

		// Grant conditions on CreateGrant.
		{name: "grant/operations_for_all_values_subset", key: grantPolicy(`{"ForAllValues:StringEquals":{"kms:GrantOperations":["Encrypt","Decrypt"]}}`), caller: bobARN, action: "kms:CreateGrant",
			setup: grant(policy.GrantRequest{Operations: []string{"Decrypt"}, GranteePrincipal: appRole}), want: byKey},
		{name: "grant/operations_for_all_values_extra", key: grantPolicy(`{"ForAllValues:StringEquals":{"kms:GrantOperations":["Encrypt","Decrypt"]}}`), caller: bobARN, action: "kms:CreateGrant",
			setup: grant(policy.GrantRequest{Operations: []string{"Decrypt", "CreateGrant"}, GranteePrincipal: appRole}), want: implicit},
		{name: "grant/operations_for_any_value", key: grantPolicy(`{"ForAnyValue:StringEquals":{"kms:GrantOperations":"RetireGrant"}}`), caller: bobARN, action: "kms:CreateGrant",
			setup: grant(policy.GrantRequest{Operations: []string{"Decrypt", "RetireGrant"}}), want: byKey},
		{name: "grant/grantee_principal", key: grantPolicy(`{"StringEquals":{"kms:GranteePrincipal":"` + appRole + `"}}`), caller: bobARN, action: "kms:CreateGrant",
			setup: grant(policy.GrantRequest{Operations: []string{"Decrypt"}, GranteePrincipal: appRole}), want: byKey},
		{name: "grant/grantee_principal_arn_like_other_account", key: grantPolicy(`{"ArnLike":{"kms:GranteePrincipal":"arn:aws:iam::111122223333:role/*"}}`), caller: bobARN, action: "kms:CreateGrant",
			setup: grant(policy.GrantRequest{Operations: []string{"Decrypt"}, GranteePrincipal: "arn:aws:iam::444455556666:role/app"}), want: implicit},
		{name: "grant/retiring_principal", key: grantPolicy(`{"StringEquals":{"kms:RetiringPrincipal":"` + adminARN + `"}}`), caller: bobARN, action: "kms:CreateGrant",
			setup: grant(policy.GrantRequest{Operations: []string{"Decrypt"}, GranteePrincipal: appRole, RetiringPrincipal: adminARN}), want: byKey},
		{name: "grant/constraint_type", key: grantPolicy(`{"StringEquals":{"kms:GrantConstraintType":"EncryptionContextEquals"}}`), caller: bobARN, action: "kms:CreateGrant",
			setup: grant(policy.GrantRequest{Operations: []string{"Decrypt"}, ConstraintTypes: []string{"EncryptionContextSubset"}}), want: implicit},
		{name: "grant/deny_unless_for_aws_resource", key: doc(userStatement(`"kms:*"`, ""),
			`{"Sid":"OnlyForAWS","Effect":"Deny","Principal":"*","Action":"kms:CreateGrant","Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":false}}}`),
			caller: bobARN, action: "kms:CreateGrant", setup: grant(policy.GrantRequest{Operations: []string{"Decrypt"}}), want: deny, sids: []string{"OnlyForAWS"}},

		// Cross-account use: the key policy allows the other account, and
		// the caller's identity policy in that account must allow too.
		{name: "cross/user_with_identity_policy", key: crossKey, ident: []string{allowAll}, caller: extBobARN, action: "kms:Decrypt", want: byIdent, sids: []string{"External", ""}},
		{name: "cross/user_without_identity_policy", key: crossKey, caller: extBobARN, action: "kms:Decrypt", want: implicit, sids: []string{"External"}},
		{name: "cross/action_not_in_key_policy", key: crossKey, ident: []string{allowAll}, caller: extBobARN, action: "kms:Encrypt", want: implicit},
		{name: "cross/root_needs_no_identity_policy", key: crossKey, caller: extRoot, action: "kms:DescribeKey", want: byKey},
		{name: "cross/named_user_still_needs_identity_policy", key: doc(`{"Sid":"Bob","Effect":"Allow","Principal":{"AWS":"` + extBobARN + `"},"Action":"kms:Decrypt","Resource":"*"}`),
			caller: extBobARN, action: "kms:Decrypt", want: implicit},
		{name: "cross/named_user_with_identity_policy", key: doc(`{"Sid":"Bob","Effect":"Allow","Principal":{"AWS":"` + extBobARN + `"},"Action":"kms:Decrypt","Resource":"*"}`),
			ident: []string{allowAll}, caller: extBobARN, action: "kms:Decrypt", want: byIdent},
		{name: "cross/other_user_of_named_account", key: doc(`{"Sid":"Bob","Effect":"Allow","Principal":{"AWS":"` + extBobARN + `"},"Action":"kms:Decrypt","Resource":"*"}`),
			ident: []string{allowAll}, caller: extEveARN, action: "kms:Decrypt", want: implicit},
		{name: "cross/bare_account_id", key: doc(`{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:Decrypt","Resource":"*"}`),
			ident: []string{allowAll}, caller: extBobARN, action: "kms:Decrypt", want: byIdent},
		{name: "cross/caller_account_condition", key: doc(rootStatement,
			`{"Sid":"Star","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"111122223333"}}}`),
			ident: []string{allowAll}, caller: extBobARN, action: "kms:Decrypt", want: implicit},
		{name: "cross/caller_account_condition_same_account", key: doc(
			`{"Sid":"Star","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"111122223333"}}}`),
			caller: aliceARN, action: "kms:Decrypt", want: byKey},

		// Deny overrides every allow.
		{name: "deny/key_policy_deny_beats_key_policy_allow", key: doc(userStatement(`"kms:*"`, ""),
			`{"Sid":"NoDelete","Effect":"Deny","Principal":{"AWS":"`+bobARN+`"},"Action":"kms:ScheduleKeyDeletion","Resource":"*"}`),
			caller: bobARN, action: "kms:ScheduleKeyDeletion", want: deny, sids: []string{"NoDelete"}},
		{name: "deny/account_principal_denies_its_users", key: doc(userStatement(`"kms:*"`, ""),
			`{"Sid":"NoDisable","Effect":"Deny","Principal":{"AWS":"111122223333"},"Action":"kms:Disable*","Resource":"*"}`),
			caller: bobARN, action: "kms:DisableKey", want: deny},
		{name: "deny/identity_deny_beats_key_policy_allow", key: consolePolicy, caller: userRole, action: "kms:Decrypt",
			ident: []string{doc(`{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}`)}, want: deny},
		{name: "deny/condition_not_met", key: doc(userStatement(`"kms:*"`, ""),
			`{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalType":"AssumedRole"}}}`),
			caller: bobARN, action: "kms:Decrypt", want: byKey},
		{name: "deny/all_denies_reported", key: doc(userStatement(`"kms:*"`, ""),
			`{"Sid":"D1","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}`,
			`{"Sid":"D2","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"}`),
			caller: bobARN, action: "kms:Decrypt", want: deny, sids: []string{"D1", "D2"}},

		// NotAction, NotPrincipal, NotResource.
		{name: "notaction/allows_others", key: doc(`{"Sid":"NotAdmin","Effect":"Allow","Principal":{"AWS":"` + bobARN + `"},"NotAction":["kms:PutKeyPolicy","kms:ScheduleKeyDeletion"],"Resource":"*"}`),
			caller: bobARN, action: "kms:Decrypt", want: byKey},
		{name: "notaction/excludes_listed", key: doc(`{"Sid":"NotAdmin","Effect":"Allow","Principal":{"AWS":"` + bobARN + `"},"NotAction":["kms:PutKeyPolicy","kms:ScheduleKeyDeletion"],"Resource":"*"}`),
			caller: bobARN, action: "kms:putkeypolicy", want: implicit},
		{name: "notaction/deny_all_but_decrypt", key: doc(userStatement(`"kms:*"`, ""),
			`{"Sid":"OnlyDecrypt","Effect":"Deny","Principal":"*","NotAction":"kms:Decrypt","Resource":"*"}`),
			caller: bobARN, action: "kms:Encrypt", want: deny},
		{name: "notaction/deny_all_but_decrypt_allows_decrypt", key: doc(userStatement(`"kms:*"`, ""),
			`{"Sid":"OnlyDecrypt","Effect":"Deny","Principal":"*","NotAction":"kms:Decrypt","Resource":"*"}`),
			caller: bobARN, action: "kms:Decrypt", want: byKey},
		{name: "notprincipal/exempt_user_and_account", key: doc(rootStatement, userStatement(`"kms:*"`, ""),
			`{"Sid":"OnlyBob","Effect":"Deny","NotPrincipal":{"AWS":["`+bobARN+`","`+rootARN+`"]},"Action":"kms:*","Resource":"*"}`),
			caller: bobARN, action: "kms:Decrypt", want: byKey},
		{name: "notprincipal/others_denied", key: doc(rootStatement, userStatement(`"kms:*"`, ""),
			`{"Sid":"OnlyBob","Effect":"Deny","NotPrincipal":{"AWS":["`+bobARN+`","`+rootARN+`"]},"Action":"kms:*","Resource":"*"}`),
			ident: []string{allowAll}, caller: aliceARN, action: "kms:Decrypt", want: deny, sids: []string{"OnlyBob"}},
		{name: "notprincipal/user_without_account_is_not_exempt", key: doc(userStatement(`"kms:*"`, ""),
			`{"Sid":"OnlyBob","Effect":"Deny","NotPrincipal":{"AWS":"`+bobARN+`"},"Action":"kms:*","Resource":"*"}`),
			caller: bobARN, action: "kms:Decrypt", want: deny},
		{name: "notprincipal/account_alone_exempts_root", key: doc(rootStatement,
			`{"Sid":"OnlyRoot","Effect":"Deny","NotPrincipal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}`),
			caller: rootARN, action: "kms:Decrypt", want: byKey},
		{name: "notprincipal/account_alone_does_not_exempt_users", key: doc(rootStatement,
			`{"Sid":"OnlyRoot","Effect":"Deny","NotPrincipal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}`),
			ident: []string{allowAll}, caller: bobARN, action: "kms:Decrypt", want: deny},
		{name: "notresource/identity_deny_other_keys", key: def, caller: bobARN, action: "kms:Decrypt", resource: key2ARN,
			ident: []string{allowAll, doc(`{"Sid":"OnlyOneKey","Effect":"Deny","Action":"kms:*","NotResource":"` + keyARN + `"}`)}, want: deny},
		{name: "notresource/identity_deny_spares_listed_key", key: def, caller: bobARN, action: "kms:Decrypt",
			ident: []string{allowAll, doc(`{"Sid":"OnlyOneKey","Effect":"Deny","Action":"kms:*","NotResource":"` + keyARN + `"}`)}, want: byIdent},
		{name: "notresource/identity_allow", key: def, caller: bobARN, action: "kms:Decrypt", resource: key2ARN,
			ident: []string{doc(`{"Effect":"Allow","Action":"kms:Decrypt","NotResource":"` + keyARN + `"}`)}, want: byIdent},
		{name: "resource/key_policy_naming_another_key", key: doc(`{"Effect":"Allow","Principal":{"AWS":"` + bobARN + `"},"Action":"kms:*","Resource":"` + key2ARN + `"}`),
			caller: bobARN, action: "kms:Decrypt", want: implicit},
		{name: "resource/identity_policy_variable", key: def, caller: bobARN, action: "kms:Decrypt",
			ident: []string{doc(`{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:${aws:PrincipalAccount}:key/*"}`)}, want: byIdent},

		// IfExists and Null.
		{name: "ifexists/absent", key: doc(userStatement(`"kms:Encrypt"`, `{"StringEqualsIfExists":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}}`)),
			caller: bobARN, action: "kms:Encrypt", want: byKey},
		{name: "ifexists/present_and_different", key: doc(userStatement(`"kms:Encrypt"`, `{"StringEqualsIfExists":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}}`)),
			caller: bobARN, action: "kms:Encrypt", setup: set(policy.CondEncryptionAlgorithm, "RSAES_OAEP_SHA_256"), want: implicit},
		{name: "ifexists/for_any_value_absent", key: doc(userStatement(`"kms:Encrypt"`, `{"ForAnyValue:StringLikeIfExists":{"kms:ResourceAliases":"alias/app-*"}}`)),
			caller: bobARN, action: "kms:Encrypt", want: byKey},
		{name: "null/deny_without_context", key: doc(userStatement(`"kms:*"`, ""),
			`{"Sid":"NeedContext","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{"Null":{"kms:EncryptionContextKeys":"true"}}}`),
			caller: bobARN, action: "kms:Encrypt", want: deny},
		{name: "null/allow_with_context", key: doc(userStatement(`"kms:*"`, ""),
			`{"Sid":"NeedContext","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{"Null":{"kms:EncryptionContextKeys":"true"}}}`),
			caller: bobARN, action: "kms:Encrypt", setup: ec("k", "v"), want: byKey},

		// Bool on aws:SecureTransport.
		{name: "bool/deny_insecure_transport", key: doc(userStatement(`"kms:*"`, ""),
			`{"Sid":"TLSOnly","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`),
			caller: bobARN, action: "kms:Decrypt", setup: secure(false), want: deny},
		{name: "bool/secure_transport", key: doc(userStatement(`"kms:*"`, ""),
			`{"Sid":"TLSOnly","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`),
			caller: bobARN, action: "kms:Decrypt", setup: secure(true), want: byKey},
		{name: "bool/absent_is_not_false", key: doc(userStatement(`"kms:*"`, ""),
			`{"Sid":"TLSOnly","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":false}}}`),
			caller: bobARN, action: "kms:Decrypt", want: byKey},
		{name: "bool/allow_requires_true", key: doc(userStatement(`"kms:*"`, `{"Bool":{"aws:SecureTransport":true}}`)),
			caller: bobARN, action: "kms:Decrypt", setup: secure(true), want: byKey},

		// Numeric and Date operators.
		{name: "numeric/window_at_least_14", key: doc(userStatement(`"kms:ScheduleKeyDeletion"`, `{"NumericGreaterThanEquals":{"kms:ScheduleKeyDeletionPendingWindowInDays":14}}`)),
			caller: bobARN, action: "kms:ScheduleKeyDeletion", setup: set("kms:ScheduleKeyDeletionPendingWindowInDays", "30"), want: byKey},
		{name: "numeric/window_too_short", key: doc(userStatement(`"kms:ScheduleKeyDeletion"`, `{"NumericGreaterThanEquals":{"kms:ScheduleKeyDeletionPendingWindowInDays":"14"}}`)),
			caller: bobARN, action: "kms:ScheduleKeyDeletion", setup: set("kms:ScheduleKeyDeletionPendingWindowInDays", "7"), want: implicit},
		{name: "numeric/less_than_decimal", key: doc(userStatement(`"kms:EnableKeyRotation"`, `{"NumericLessThan":{"kms:RotationPeriodInDays":"365.5"}}`)),
			caller: bobARN, action: "kms:EnableKeyRotation", setup: set("kms:RotationPeriodInDays", "365"), want: byKey},
		{name: "numeric/not_equals_unparsable_request_value", key: doc(userStatement(`"kms:EnableKeyRotation"`, `{"NumericNotEquals":{"kms:RotationPeriodInDays":"90"}}`)),
			caller: bobARN, action: "kms:EnableKeyRotation", setup: set("kms:RotationPeriodInDays", "ninety"), want: byKey},
		{name: "date/before_expiry", key: doc(userStatement(`"kms:Decrypt"`, `{"DateLessThan":{"aws:CurrentTime":"2027-01-01T00:00:00Z"}}`)),
			caller: bobARN, action: "kms:Decrypt", setup: at("2026-06-01T12:00:00Z"), want: byKey},
		{name: "date/after_expiry", key: doc(userStatement(`"kms:Decrypt"`, `{"DateLessThan":{"aws:CurrentTime":"2027-01-01"}}`)),
			caller: bobARN, action: "kms:Decrypt", setup: at("2027-01-01T00:00:01Z"), want: implicit},
		{name: "date/epoch_seconds", key: doc(userStatement(`"kms:Decrypt"`, `{"DateGreaterThanEquals":{"aws:CurrentTime":"1767225600"}}`)),
			caller: bobARN, action: "kms:Decrypt", setup: at("2026-01-01T00:00:00Z"), want: byKey},
		{name: "date/time_zone", key: doc(userStatement(`"kms:Decrypt"`, `{"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T09:00:00+09:00"}}`)),
			caller: bobARN, action: "kms:Decrypt", setup: at("2026-01-01T00:00:00Z"), want: implicit},
		{name: "date/absent_time", key: doc(userStatement(`"kms:Decrypt"`, `{"DateLessThan":{"aws:CurrentTime":"2027-01-01T00:00:00Z"}}`)),
			caller: bobARN, action: "kms:Decrypt", want: implicit},

		// IP addresses.
		{name: "ip/inside_block", key: doc(userStatement(`"kms:*"`, `{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","203.0.113.0/24"]}}`)),
			caller: bobARN, action: "kms:Decrypt", setup: ip("203.0.113.7"), want: byKey},
		{name: "ip/outside_block", key: doc(userStatement(`"kms:*"`, `{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}`)),
			caller: bobARN, action: "kms:Decrypt", setup: ip("198.51.100.1"), want: implicit},
		{name: "ip/deny_not_ip_address", key: doc(userStatement(`"kms:*"`, ""),
			`{"Sid":"Office","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}}}`),
			caller: bobARN, action: "kms:Decrypt", setup: ip("198.51.100.1"), want: deny},
		{name: "ip/ipv6_and_mapped_ipv4", key: doc(userStatement(`"kms:*"`, `{"IpAddress":{"aws:SourceIp":["2001:db8::/32","192.0.2.1"]}}`)),
			caller: bobARN, action: "kms:Decrypt", setup: ip("::ffff:192.0.2.1"), want: byKey},

		// Principal keys and ARN operators.
		{name: "arn/principal_arn_like", key: doc(`{"Sid":"Apps","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/app-*"}}}`),
			caller: appRole, action: "kms:Decrypt", want: byKey},
		{name: "arn/principal_arn_not_like", key: doc(`{"Sid":"Apps","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/app-*"}}}`),
			caller: userRole, action: "kms:Decrypt", want: implicit},
		{name: "arn/context_cannot_spoof_principal_arn", key: doc(`{"Sid":"Apps","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"ArnEquals":{"aws:PrincipalArn":"` + appRole + `"}}}`),
			caller: userRole, action: "kms:Decrypt", setup: set(policy.CondPrincipalArn, appRole), want: implicit},
		{name: "principal_type/user", key: doc(`{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalType":"User"}}}`),
			caller: bobARN, action: "kms:Decrypt", want: byKey},
		{name: "principal_type/role_is_assumed_role", key: doc(`{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalType":"User"}}}`),
			caller: appRole, action: "kms:Decrypt", want: implicit},

		// Key properties and aliases.
		{name: "key/key_spec", key: doc(userStatement(`"kms:Encrypt"`, `{"StringEquals":{"kms:KeySpec":"SYMMETRIC_DEFAULT","kms:KeyUsage":"ENCRYPT_DECRYPT","kms:KeyOrigin":"AWS_KMS"}}`)),
			caller: bobARN, action: "kms:Encrypt", setup: func(r *policy.Request) {
				r.SetKey(policy.KeyAttributes{KeySpec: "SYMMETRIC_DEFAULT", KeyUsage: "ENCRYPT_DECRYPT", Origin: "AWS_KMS"})
			}, want: byKey},
		{name: "key/request_alias", key: doc(userStatement(`"kms:Encrypt"`, `{"StringEquals":{"kms:RequestAlias":"alias/finance-key"}}`)),
			caller: bobARN, action: "kms:Encrypt", setup: func(r *policy.Request) { r.SetRequestAlias("alias/finance-key") }, want: byKey},
		{name: "key/request_alias_absent_with_key_id", key: doc(userStatement(`"kms:Encrypt"`, `{"StringEquals":{"kms:RequestAlias":"alias/finance-key"}}`)),
			caller: bobARN, action: "kms:Encrypt", want: implicit},
		{name: "key/resource_aliases_abac", key: def, caller: bobARN, action: "kms:Decrypt",
			ident: []string{doc(`{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":{"ForAnyValue:StringLike":{"kms:ResourceAliases":"alias/finance-*"}}}`)},
			setup: func(r *policy.Request) {
				r.SetKey(policy.KeyAttributes{Aliases: []string{"alias/other", "alias/finance-db"}})
			},
			want: byIdent},
		{name: "key/via_service_never_present", key: doc(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com","kms:CallerAccount":"111122223333"}}}`),
			caller: bobARN, action: "kms:Decrypt", setup: set(policy.CondViaService, "ec2.us-east-1.amazonaws.com"), want: implicit},

		// Odd principals and statements.
		{name: "principal/service_never_matches", key: doc(`{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"kms:*","Resource":"*"}`),
			caller: bobARN, action: "kms:Decrypt", want: implicit},
		{name: "principal/star", key: doc(`{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}`),
			caller: aliceARN, action: "kms:Decrypt", want: byKey},
		{name: "principal/user_direct_and_account", key: doc(`{"Sid":"Both","Effect":"Allow","Principal":{"AWS":["111122223333","` + bobARN + `"]},"Action":"kms:Decrypt","Resource":"*"}`),
			caller: bobARN, action: "kms:Decrypt", want: byKey},
		{name: "statement/without_resource_is_inert", key: doc(`{"Effect":"Allow","Principal":"*","Action":"kms:*"}`),
			caller: bobARN, action: "kms:Decrypt", want: implicit},
		{name: "statement/identity_allows_but_key_policy_does_not_delegate", key: doc(userStatement(`"kms:Encrypt"`, "")),
			ident: []string{allowAll}, caller: aliceARN, action: "kms:Decrypt", want: implicit, sids: []string{""}},
	}
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	cases := evalCases()
	seen := make(map[string]bool)
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("duplicate case %s", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := evaluate(t, tc)
			wantAllowed := tc.want == byKey || tc.want == byIdent
			if d.Allowed != wantAllowed || d.Reason != tc.want {
				t.Fatalf("Evaluate = %v/%v, want %v/%v\n%s", d.Allowed, d.Reason, wantAllowed, tc.want, d.Explain())
			}
			if tc.sids != nil {
				var sids []string
				for _, s := range d.Statements {
					sids = append(sids, s.Sid)
				}
				if !slices.Equal(sids, tc.sids) {
					t.Errorf("Statements Sids = %q, want %q\n%s", sids, tc.sids, d.Explain())
				}
			}
			if e := d.Explain(); e == "" || strings.Contains(e, `"Effect"`) {
				t.Errorf("Explain() = %q", e)
			}
		})
	}
	if len(cases) < 60 {
		t.Errorf("only %d evaluation cases", len(cases))
	}
}

func evaluate(tb testing.TB, tc evalCase) policy.Decision {
	tb.Helper()
	var key *policy.Policy
	resource, resAcct := tc.resource, tc.resAcct
	if tc.key != "" {
		key = mustParse(tb, tc.key, policy.KeyPolicy)
		if resource == "" {
			resource = keyARN
		}
	} else if resource == "" {
		resource = "*"
	}
	if resAcct == "" {
		resAcct = acct
	}
	var idents []*policy.Policy
	for _, text := range tc.ident {
		idents = append(idents, mustParse(tb, text, policy.IdentityPolicy))
	}
	req := policy.NewRequest(principal(tb, tc.caller), tc.action, resource, resAcct)
	if tc.setup != nil {
		tc.setup(req)
	}
	return policy.Evaluate(req, key, idents)
}

func TestEvaluateNilAndNode(t *testing.T) {
	t.Parallel()
	if d := policy.Evaluate(nil, nil, nil); d.Allowed || d.Reason != policy.ImplicitDeny {
		t.Errorf("Evaluate(nil) = %+v", d)
	}
	node, err := identity.NodePrincipal("n1")
	if err != nil {
		t.Fatal(err)
	}
	star := mustParse(t, doc(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`), policy.KeyPolicy)
	req := policy.NewRequest(node, "kms:Decrypt", keyARN, acct)
	if d := policy.Evaluate(req, star, []*policy.Policy{mustParse(t, allowAll, policy.IdentityPolicy)}); d.Allowed {
		t.Errorf("node principal allowed by %q: %s", "*", d.Explain())
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	find := func(name string) evalCase {
		for _, tc := range evalCases() {
			if tc.name == name {
				return tc
			}
		}
		t.Fatalf("no case %s", name)
		return evalCase{}
	}
	for _, tt := range []struct {
		name, want string
	}{
		{"default/root_allowed", `allowed: key policy "default" Statement[0] (Sid "Enable IAM User Permissions") allows the caller, the account root`},
		{"default/user_with_identity_policy", `allowed: identity policy #0 Statement[0] allows, and key policy "default" Statement[0] (Sid "Enable IAM User Permissions") delegates to the caller's account`},
		{"default/user_without_identity_policy", `denied (implicit): key policy "default" Statement[0] (Sid "Enable IAM User Permissions") delegates to the caller's account, but no identity policy allows`},
		{"default/identity_deny_overrides", `denied: explicit deny by identity policy #1 Statement[0] (Sid "NoDelete")`},
		{"cross/user_with_identity_policy", `allowed: key policy "default" Statement[1] (Sid "External") allows the caller's account or principal (cross-account), and identity policy #0 Statement[0] in the caller's account allows`},
		{"cross/user_without_identity_policy", `denied (implicit): key policy "default" Statement[1] (Sid "External") allows the caller from another account, but no identity policy in the caller's account allows`},
		{"cross/root_needs_no_identity_policy", `allowed: key policy "default" Statement[1] (Sid "External") allows the caller; the caller is the root of another account, which needs no identity policy`},
		{"console/user_may_encrypt", `allowed: key policy "default" Statement[2] (Sid "Allow use of the key") allows the caller`},
		{"statement/identity_allows_but_key_policy_does_not_delegate", `denied (implicit): identity policy #0 Statement[0] allows, but the key policy neither allows the caller nor delegates to its account`},
		{"action/other_service", `denied (implicit): no statement allows the request`},
		{"keyless/root_may_list_keys", `allowed: the caller is the account root, which may perform any action without a key in its own account`},
		{"keyless/create_key_with_identity_policy", `allowed: identity policy #0 Statement[0] allows the request, which has no key policy`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := evaluate(t, find(tt.name)).Explain(); got != tt.want {
				t.Errorf("Explain()\n got %s\nwant %s", got, tt.want)
			}
		})
	}
	named := mustParse(t, allowAll, policy.IdentityPolicy).Named("KMSUsers")
	req := policy.NewRequest(principal(t, bobARN), "kms:Decrypt", keyARN, acct)
	d := policy.Evaluate(req, mustParse(t, policy.DefaultKeyPolicy(acct), policy.KeyPolicy), []*policy.Policy{named})
	if want := `identity policy "KMSUsers" Statement[0]`; !strings.Contains(d.Explain(), want) {
		t.Errorf("Explain() = %q, want it to name %s", d.Explain(), want)
	}
	g := policy.Decision{Allowed: true, Reason: policy.GrantAllow, GrantID: "0c23"}
	if got, want := g.Explain(), "allowed: grant 0c23 allows the request"; got != want {
		t.Errorf("grant Explain() = %q, want %q", got, want)
	}
}

// TestEvaluateCaseInsensitiveContextKeys checks that condition keys in the
// policy match the lowercase context whatever their case, and that Set
// lowercases too.
func TestEvaluateCaseInsensitiveContextKeys(t *testing.T) {
	t.Parallel()
	key := mustParse(t, doc(userStatement(`"kms:Sign"`, `{"StringEquals":{"KMS:SigningAlgorithm":"ECDSA_SHA_256","kms:macalgorithm":"HMAC_SHA_256"}}`)), policy.KeyPolicy)
	req := policy.NewRequest(principal(t, bobARN), "kms:Sign", keyARN, acct)
	req.Set("kms:SIGNINGALGORITHM", "ECDSA_SHA_256")
	req.Set(policy.CondMacAlgorithm, "HMAC_SHA_256")
	if d := policy.Evaluate(req, key, nil); !d.Allowed {
		t.Errorf("denied: %s", d.Explain())
	}
}
