package awsapi_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// The AWS SDK creates an alias, encrypts with it, decrypts, lists and
// deletes it, and reads AWS's alias errors by their codes.
func TestSDKAliases(t *testing.T) {
	t.Parallel()
	e := newSDKEnv(t)
	ctx := context.Background()
	m := e.createKey(t, "aliased")
	if _, err := e.root.CreateAlias(ctx, &awskms.CreateAliasInput{AliasName: aws.String("alias/x"), TargetKeyId: m.KeyId}); err != nil {
		t.Fatal(err)
	}
	enc, err := e.root.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String("alias/x"), Plaintext: []byte("secret")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(enc.KeyId) != aws.ToString(m.Arn) {
		t.Fatalf("Encrypt answered key %s, want %s", aws.ToString(enc.KeyId), aws.ToString(m.Arn))
	}
	dec, err := e.root.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: aws.String("alias/x")})
	if err != nil || string(dec.Plaintext) != "secret" {
		t.Fatalf("Decrypt: %v %v", dec, err)
	}
	list, err := e.root.ListAliases(ctx, &awskms.ListAliasesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Aliases) != 1 || list.Truncated || list.NextMarker != nil {
		t.Fatalf("ListAliases %+v", list)
	}
	a := list.Aliases[0]
	if aws.ToString(a.AliasName) != "alias/x" || aws.ToString(a.AliasArn) != "arn:aws:kms:us-east-1:111122223333:alias/x" ||
		aws.ToString(a.TargetKeyId) != aws.ToString(m.KeyId) || a.CreationDate == nil || a.LastUpdatedDate == nil {
		t.Fatalf("alias entry %+v", a)
	}
	// Paginated through the SDK's paginator.
	if _, err := e.root.CreateAlias(ctx, &awskms.CreateAliasInput{AliasName: aws.String("alias/y"), TargetKeyId: m.Arn}); err != nil {
		t.Fatal(err)
	}
	var names []string
	pages := awskms.NewListAliasesPaginator(e.root, &awskms.ListAliasesInput{Limit: aws.Int32(1)})
	for pages.HasMorePages() {
		p, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range p.Aliases {
			names = append(names, aws.ToString(a.AliasName))
		}
	}
	if len(names) != 2 || names[0] != "alias/x" || names[1] != "alias/y" {
		t.Fatalf("paginator gave %v", names)
	}

	before := e.srv.requests.Load()
	_, err = e.root.CreateAlias(ctx, &awskms.CreateAliasInput{AliasName: aws.String("alias/x"), TargetKeyId: m.KeyId})
	e.wantAPIError(t, err, "AlreadyExistsException", before)
	before = e.srv.requests.Load()
	_, err = e.root.CreateAlias(ctx, &awskms.CreateAliasInput{AliasName: aws.String("alias/aws/s3"), TargetKeyId: m.KeyId})
	e.wantAPIError(t, err, "InvalidAliasNameException", before)
	before = e.srv.requests.Load()
	_, err = e.root.CreateGrant(ctx, &awskms.CreateGrantInput{KeyId: aws.String("alias/x"),
		GranteePrincipal: aws.String("arn:aws:iam::111122223333:user/bob"), Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
	e.wantAPIError(t, err, "InvalidArnException", before)

	if _, err := e.root.UpdateAlias(ctx, &awskms.UpdateAliasInput{AliasName: aws.String("alias/x"), TargetKeyId: m.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.root.DeleteAlias(ctx, &awskms.DeleteAliasInput{AliasName: aws.String("alias/x")}); err != nil {
		t.Fatal(err)
	}
	before = e.srv.requests.Load()
	_, err = e.root.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String("alias/x"), Plaintext: []byte("secret")})
	ae := e.wantAPIError(t, err, "NotFoundException", before)
	if ae.ErrorMessage() != "Alias arn:aws:kms:us-east-1:111122223333:alias/x is not found." {
		t.Fatalf("message %q", ae.ErrorMessage())
	}
}
