package cli

import (
	"context"
	"fmt"
	"testing"

	"connectrpc.com/connect"

	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
)

// The fake IAM's authorization operations, for the goldens below.

func (f *fakeIAM) CreateRole(_ context.Context, req *iamv1.CreateRoleRequest) (*iamv1.CreateRoleResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	return &iamv1.CreateRoleResponse{Role: &iamv1.Role{Path: "/", RoleName: req.RoleName, RoleId: fmt.Sprintf("AROA%016d", f.n),
		Arn: "arn:aws:iam::" + fakeAccount + ":role/" + req.RoleName, CreateDate: fakeIAMDate}}, nil
}

func (f *fakeIAM) PutUserPolicy(_ context.Context, req *iamv1.PutUserPolicyRequest) (*iamv1.PutUserPolicyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.policies == nil {
		f.policies = map[string]string{}
	}
	f.policies["user/"+req.UserName+"/"+req.PolicyName] = req.PolicyDocument
	return &iamv1.PutUserPolicyResponse{}, nil
}

func (f *fakeIAM) GetUserPolicy(_ context.Context, req *iamv1.GetUserPolicyRequest) (*iamv1.GetUserPolicyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	doc, ok := f.policies["user/"+req.UserName+"/"+req.PolicyName]
	if !ok {
		return nil, iamError(connect.CodeNotFound, "NoSuchEntity", "The user policy with name "+req.PolicyName+" cannot be found.")
	}
	return &iamv1.GetUserPolicyResponse{UserName: req.UserName, PolicyName: req.PolicyName, PolicyDocument: doc}, nil
}

func (f *fakeIAM) RevokeCert(_ context.Context, req *iamv1.RevokeCertRequest) (*iamv1.RevokeCertResponse, error) {
	return &iamv1.RevokeCertResponse{SerialNumber: req.SerialNumber}, nil
}

// Explain allows kms:Encrypt with encryption context purpose=test by a
// grant, and denies everything else by the default policy's delegation.
func (f *fakeIAM) Explain(_ context.Context, req *iamv1.ExplainRequest) (*iamv1.ExplainResponse, error) {
	resource := "arn:aws:kms:us-east-1:" + fakeAccount + ":key/" + req.KeyId
	if req.Action == "kms:Encrypt" && req.EncryptionContext["purpose"] == "test" {
		return &iamv1.ExplainResponse{Decision: "allowed", Reason: "GrantAllow", GrantId: "0123abcd", Resource: resource,
			Explanation: "allowed: grant 0123abcd allows the request"}, nil
	}
	return &iamv1.ExplainResponse{Decision: "denied", Reason: "ImplicitDeny", Resource: resource,
		Statements: []*iamv1.ExplainStatement{{PolicyType: "key policy", PolicyName: "default", Index: 0,
			Sid: "Enable IAM User Permissions", Effect: "Allow", Delegates: true}},
		Explanation: `denied (implicit): key policy "default" Statement[0] (Sid "Enable IAM User Permissions") delegates to the caller's account, but no identity policy allows`}, nil
}

func TestAuthzGolden(t *testing.T) {
	t.Parallel()
	bob := "arn:aws:iam::" + fakeAccount + ":user/bob"
	tests := []struct {
		name  string
		setup [][]string
		args  []string
	}{
		{name: "authz-explain-denied", args: []string{"authz", "explain", "--principal", bob, "--action", "kms:Decrypt", "--key-id", key1}},
		{name: "authz-explain-grant", args: []string{"authz", "explain", "--principal", bob, "--action", "kms:Encrypt", "--key-id", key1, "--encryption-context", "purpose=test"}},
		{name: "authz-explain-text", args: []string{"authz", "explain", "--principal", bob, "--action", "kms:Decrypt", "--key-id", key1, "--output", "text"}},
		{name: "authz-explain-missing-action", args: []string{"authz", "explain", "--principal", bob}},
		{name: "iam-create-role", args: []string{"iam", "create-role", "--role-name", "app"}},
		{name: "iam-get-user-policy", setup: [][]string{{"iam", "put-user-policy", "--user-name", "bob", "--policy-name", "use",
			"--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`}},
			args: []string{"iam", "get-user-policy", "--user-name", "bob", "--policy-name", "use"}},
		{name: "iam-revoke-cert", args: []string{"iam", "revoke-cert", "--serial-number", "1f"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fx, _ := iamFixture(t)
			for _, args := range tt.setup {
				if code, _, stderr := fx.run(t, args...); code != 0 {
					t.Fatalf("setup %v: exit %d: %s", args, code, stderr)
				}
			}
			code, stdout, stderr := fx.run(t, tt.args...)
			got := stdout
			if code != 0 || stderr != "" {
				got = fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", code, stdout, stderr)
			}
			checkGolden(t, tt.name, got)
		})
	}
}
