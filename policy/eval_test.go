package policy_test

import (
	"strings"
	"testing"

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

// evalCase is one evaluation for the Go tests (fold_test.go); the
// scenarios of testdata/eval are run by TestEvaluateScenarios.
type evalCase struct {
	key      string   // key policy; "" for operations without a key
	ident    []string // the caller's identity policies
	caller   string
	action   string
	resource string // default keyARN ("*" when key is "")
	resAcct  string // default acct
	setup    func(r *policy.Request)
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

// The reasons, short, for the Go tables.
var (
	deny     = policy.ExplicitDeny
	implicit = policy.ImplicitDeny
	byKey    = policy.KeyPolicyAllow
)

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

// TestExplain checks what the scenarios cannot: a named identity policy and
// a grant. Every scenario in testdata/eval pins its own explanation.
func TestExplain(t *testing.T) {
	t.Parallel()
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
