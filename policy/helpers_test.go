package policy_test

import (
	"strings"
	"testing"

	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/policy"
)

const (
	acct    = "111122223333"
	extAcct = "444455556666"
	keyARN  = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	key2ARN = "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"
	extKey  = "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"

	rootARN   = "arn:aws:iam::111122223333:root"
	bobARN    = "arn:aws:iam::111122223333:user/bob"
	aliceARN  = "arn:aws:iam::111122223333:user/alice"
	adminARN  = "arn:aws:iam::111122223333:role/KeyAdmin"
	userRole  = "arn:aws:iam::111122223333:role/KeyUser"
	appRole   = "arn:aws:iam::111122223333:role/app-frontend"
	extRoot   = "arn:aws:iam::444455556666:root"
	extBobARN = "arn:aws:iam::444455556666:user/bob"
	extEveARN = "arn:aws:iam::444455556666:user/eve"
)

// doc wraps statements into a 2012-10-17 policy document.
func doc(statements ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
}

// allowAll is an identity policy that allows every KMS action on every key.
var allowAll = doc(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`)

func principal(tb testing.TB, arn string) identity.Principal {
	tb.Helper()
	p, err := identity.ParsePrincipal(arn)
	if err != nil {
		tb.Fatalf("ParsePrincipal(%q): %v", arn, err)
	}
	return p
}

func mustParse(tb testing.TB, text string, kind policy.Kind) *policy.Policy {
	tb.Helper()
	p, err := policy.Parse(text, kind)
	if err != nil {
		tb.Fatalf("Parse(%v): %v\n%s", kind, err, text)
	}
	return p
}
