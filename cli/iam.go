package cli

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/gen/trent/iam/v1/iamv1connect"
	"github.com/trentkms/trent/identity"
)

type iamClient = iamv1connect.IdentityServiceClient

// iamVerbs is the table of `trent iam` verbs: RPCs whose flags come from
// the request message, exactly as for `trent kms`, and the hand-written
// issue-cert.
var iamVerbs = newVerbTable("iam", iamUsageHead, 20,
	iamRPC(iamClient.CreateUser, "Creates a user in your account.", "user-name"),
	iamRPC(iamClient.GetUser, "Returns a user; without --user-name, you."),
	iamRPC(iamClient.ListUsers, "Lists the users of your account."),
	iamRPC(iamClient.DeleteUser, "Deletes a user, its access keys and policies, and revokes its certificates.", "user-name"),
	iamRPC(iamClient.CreateAccessKey, "Creates an access key; without --user-name, for you. Keep the secret: it is shown once."),
	iamRPC(iamClient.ListAccessKeys, "Lists the access keys of a user; without --user-name, yours."),
	iamRPC(iamClient.DeleteAccessKey, "Deletes an access key.", "access-key-id"),
	iamRPC(iamClient.ListCertificates, "Lists the certificates issued to a user or role; without --user-name or --role-name, yours."),
	iamRPC(iamClient.RevokeCert, "Revokes a client certificate of your account by serial number (openssl x509 -serial); every node refuses it.", "serial-number"),
	iamRPC(iamClient.ListRevokedCerts, "Lists the revoked certificate serial numbers of your account."),
	iamRPC(iamClient.CreateRole, "Creates a role in your account.", "role-name"),
	iamRPC(iamClient.GetRole, "Returns a role.", "role-name"),
	iamRPC(iamClient.ListRoles, "Lists the roles of your account."),
	iamRPC(iamClient.DeleteRole, "Deletes a role and its policies, and revokes its certificates.", "role-name"),
	iamRPC(iamClient.PutUserPolicy, "Adds or replaces an inline identity policy of a user.", "user-name", "policy-name", "policy-document"),
	iamRPC(iamClient.GetUserPolicy, "Returns an inline policy of a user.", "user-name", "policy-name"),
	iamRPC(iamClient.ListUserPolicies, "Lists the inline policies of a user.", "user-name"),
	iamRPC(iamClient.DeleteUserPolicy, "Deletes an inline policy of a user.", "user-name", "policy-name"),
	iamRPC(iamClient.PutRolePolicy, "Adds or replaces an inline identity policy of a role.", "role-name", "policy-name", "policy-document"),
	iamRPC(iamClient.GetRolePolicy, "Returns an inline policy of a role.", "role-name", "policy-name"),
	iamRPC(iamClient.ListRolePolicies, "Lists the inline policies of a role.", "role-name"),
	iamRPC(iamClient.DeleteRolePolicy, "Deletes an inline policy of a role.", "role-name", "policy-name"),
	&verb{group: "iam", name: "issue-cert", op: "IssueCertificate",
		summary: "Issues a client certificate for a user or role; the key is made here and never sent.",
		run:     issueCert, help: issueCertUsage},
)

// iamRPC makes the `trent iam` verb of an IdentityService client method.
func iamRPC[Req, Resp proto.Message](method func(iamClient, context.Context, Req) (Resp, error), summary string, required ...string) *verb {
	return rpcVerb("iam", iamv1connect.NewIdentityServiceClient, method, summary, required...)
}

const iamUsageHead = `usage: trent [global options] iam <verb> [options]

Manages the users, roles, identity policies, access keys and certificates
of your account. Verbs and
flags are the AWS CLI's (aws iam <verb>) where IAM has the operation;
output is the AWS CLI's JSON, or text with --output text.
Run 'trent iam <verb> --help' for a verb's options.

Verbs:
`

// iam runs `trent iam <verb> ...`.
func (c *command) iam(ctx context.Context, g *globals, args []string) error {
	return c.runVerb(ctx, g, iamVerbs, args)
}

// dialIAM resolves the target and returns a client of the IAM service.
func (c *command) dialIAM(g *globals) (iamClient, *target, error) {
	t, err := resolveTarget(g, c.lookupEnv)
	if err != nil {
		return nil, nil, err
	}
	hc, err := t.httpClient(g.connectTimeout)
	if err != nil {
		return nil, nil, err
	}
	return iamv1connect.NewIdentityServiceClient(hc, t.baseURL, connect.WithAcceptCompression("gzip", nil, nil)), t, nil
}

// maxCertValidity is the longest client certificate lifetime the server
// issues (iam.MaxCertValidity); the CLI refuses a longer --validity before
// it calls, naming the flag.
const maxCertValidity = 365 * 24 * time.Hour

const issueCertUsage = `usage: trent iam issue-cert (--user-name NAME | --role-name NAME) --out DIR [--validity 24h] [--force]

Issues a client certificate naming a user or role of your account, signed
by the cluster CA. The private key is generated here and only a
certificate signing request is sent, so the key never leaves this machine.
Writes DIR/ca.pem, DIR/cert.pem and DIR/key.pem (mode 0600),
usable with --data-dir's layout or --ca/--cert/--key, and prints the
principal's ARN. The certificate is bound to the principal's unique id:
deleting the principal revokes it, and a principal re-created under the
same name cannot use it ('trent iam list-certificates' lists them).

Options:
  --user-name NAME   the user (this or --role-name is required)
  --role-name NAME   the role
  --out DIR          credential directory to write (required)
  --validity D       certificate lifetime, e.g. 24h or 720h (default 24h,
                     at most 8760h)
  --force            replace an existing DIR/key.pem

Global options: --endpoint, --data-dir, --ca, --cert, --key (trent --help)
`

// issueCert runs `trent iam issue-cert`.
func issueCert(ctx context.Context, c *command, g *globals, args []string) error {
	var userName, roleName, out string
	var validity time.Duration
	var force bool
	set := flag.NewFlagSet("issue-cert", flag.ContinueOnError)
	set.SetOutput(io.Discard)
	set.StringVar(&userName, "user-name", "", "")
	set.StringVar(&roleName, "role-name", "", "")
	set.StringVar(&out, "out", "", "")
	set.DurationVar(&validity, "validity", 24*time.Hour, "")
	set.BoolVar(&force, "force", false, "")
	usage := func(msg string) error {
		return &usageError{msg: "issue-cert: " + msg, help: "Run 'trent iam issue-cert --help' for usage.\n"}
	}
	if err := set.Parse(args); err != nil {
		return usage(err.Error())
	}
	switch {
	case set.NArg() > 0:
		return usage(fmt.Sprintf("unexpected argument %q", set.Arg(0)))
	case userName != "" && roleName != "":
		return usage("--user-name and --role-name cannot be used together")
	case userName == "" && roleName == "" && out == "":
		return usage("the following arguments are required: --user-name, --out")
	case userName == "" && roleName == "":
		return usage("the following arguments are required: --user-name")
	case out == "":
		return usage("the following arguments are required: --out")
	case validity < time.Second || validity%time.Second != 0:
		return usage(fmt.Sprintf("--validity must be a positive whole number of seconds, got %v", validity))
	case validity > maxCertValidity:
		return usage(fmt.Sprintf("--validity must be at most 8760h (a year), got %v", validity))
	}
	keyPath := filepath.Join(out, identity.KeyFile)
	if _, err := os.Stat(keyPath); err == nil && !force {
		return fmt.Errorf("%s exists; pass --force to replace it", keyPath)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}

	key, err := identity.NewKeyPair()
	if err != nil {
		return err
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: userName + roleName}}, key)
	if err != nil {
		return fmt.Errorf("creating the certificate request: %v", err)
	}
	keyPEM, err := identity.EncodeKeyPEM(key)
	if err != nil {
		return err
	}
	client, t, err := c.dialIAM(g)
	if err != nil {
		return err
	}
	ctx, cancel := withReadTimeout(ctx, g)
	defer cancel()
	secs := int64(validity / time.Second)
	resp, err := client.IssueCertificate(ctx, &iamv1.IssueCertificateRequest{
		UserName:                  userName,
		RoleName:                  roleName,
		CertificateSigningRequest: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})),
		ValiditySeconds:           &secs,
	})
	if err != nil {
		return &callError{op: "IssueCertificate", endpoint: t.baseURL, err: err}
	}
	if err := identity.WriteCredentials(out, []byte(resp.CaPem), []byte(resp.CertificatePem), keyPEM); err != nil {
		return fmt.Errorf("writing credentials to %s: %v", out, err)
	}
	fmt.Fprintln(c.stdout, resp.Principal)
	return nil
}
