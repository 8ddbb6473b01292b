package policy_test

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/policy"
)

func Example() {
	keyPolicy, err := policy.Parse(policy.DefaultKeyPolicy("111122223333"), policy.KeyPolicy)
	if err != nil {
		panic(err)
	}
	users, err := policy.Parse(`{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Action": ["kms:Encrypt", "kms:Decrypt"],
    "Resource": "arn:aws:kms:*:111122223333:key/*",
    "Condition": {"StringEquals": {"kms:EncryptionContext:Department": "IT"}}
  }]
}`, policy.IdentityPolicy)
	if err != nil {
		panic(err)
	}
	bob, _ := identity.ParsePrincipal("arn:aws:iam::111122223333:user/bob")

	req := policy.NewRequest(bob, "kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "111122223333")
	req.SetEncryptionContext(map[string]string{"Department": "IT"})
	req.SetTime(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	req.SetSourceIP(netip.MustParseAddr("192.0.2.7"))
	req.SetSecureTransport(true)

	d := policy.Evaluate(req, keyPolicy, []*policy.Policy{users.Named("it-users")})
	fmt.Println(d.Allowed, d.Reason)
	fmt.Println(d.Explain())
	// Output:
	// true IdentityPolicyAllow
	// allowed: identity policy "it-users" Statement[0] allows, and key policy "default" Statement[0] (Sid "Enable IAM User Permissions") delegates to the caller's account
}

func ExampleParse_malformed() {
	_, err := policy.Parse(`{"Version": "2012-10-17", "Statement": [{"Sid": "AllowUse", "Effect": "allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}`, policy.KeyPolicy)
	fmt.Println(errors.Is(err, policy.ErrMalformed))
	fmt.Println(err)
	// Output:
	// true
	// Statement[0] (Sid "AllowUse"): Effect must be "Allow" or "Deny", got "allow"
}

func ExampleLockoutCheck() {
	p, _ := policy.Parse(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/KeyUser"}, "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}]}`, policy.KeyPolicy)
	admin, _ := identity.ParsePrincipal("arn:aws:iam::111122223333:role/KeyAdmin")
	fmt.Println(policy.LockoutCheck(p, admin))
	// Output:
	// The new key policy will not allow you to update the key policy in the future.
}

func ExampleDefaultKeyPolicy() {
	fmt.Println(policy.DefaultKeyPolicy("111122223333"))
	// Output:
	// {
	//   "Version" : "2012-10-17",
	//   "Id" : "key-default-1",
	//   "Statement" : [ {
	//     "Sid" : "Enable IAM User Permissions",
	//     "Effect" : "Allow",
	//     "Principal" : { "AWS" : "arn:aws:iam::111122223333:root" },
	//     "Action" : "kms:*",
	//     "Resource" : "*"
	//   } ]
	// }
}
