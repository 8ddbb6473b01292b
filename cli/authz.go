package cli

import (
	"context"

	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
)

// authzVerbs is the table of `trent authz` verbs.
var authzVerbs = newVerbTable("authz", authzUsageHead, 10,
	rpcVerb("authz", iamv1connect.NewIdentityServiceClient, iamClient.Explain,
		"Explains whether a principal may perform a KMS action on a key, and which policy statements or grant decide.",
		"principal", "action"),
)

const authzUsageHead = `usage: trent [global options] authz <verb> [options]

Explains authorization decisions, for the root of an account:

  trent authz explain --principal arn:aws:iam::111122223333:user/bob \
      --action kms:Decrypt --key-id KEY [--encryption-context k=v]

prints the decision (allowed or denied), the reason (ExplicitDeny,
ImplicitDeny, KeyPolicyAllow, IdentityPolicyAllow or GrantAllow) and the
key-policy and identity-policy statements (by policy, index and Sid) or
the grant that decided it. Policy text is never printed.

Verbs:
`

// authz runs `trent authz <verb> ...`.
func (c *command) authz(ctx context.Context, g *globals, args []string) error {
	return c.runVerb(ctx, g, authzVerbs, args)
}
