package awsapi_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// The AWS SDK tags a key, lists its tags, untags it and lists again, and
// reads AWS's tag errors by their codes.
func TestSDKTags(t *testing.T) {
	t.Parallel()
	e := newSDKEnv(t)
	ctx := context.Background()
	m := e.createKey(t, "tagged")
	if _, err := e.root.TagResource(ctx, &awskms.TagResourceInput{KeyId: m.KeyId, Tags: []types.Tag{
		{TagKey: aws.String("team"), TagValue: aws.String("trent")},
		{TagKey: aws.String("env"), TagValue: aws.String("")},
	}}); err != nil {
		t.Fatal(err)
	}
	list := func() []string {
		t.Helper()
		var out []string
		pages := awskms.NewListResourceTagsPaginator(e.root, &awskms.ListResourceTagsInput{KeyId: m.Arn, Limit: aws.Int32(1)})
		for pages.HasMorePages() {
			p, err := pages.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, tg := range p.Tags {
				out = append(out, aws.ToString(tg.TagKey)+"="+aws.ToString(tg.TagValue))
			}
		}
		return out
	}
	if got := list(); len(got) != 2 || got[0] != "env=" || got[1] != "team=trent" {
		t.Fatalf("tags %v", got)
	}
	if _, err := e.root.UntagResource(ctx, &awskms.UntagResourceInput{KeyId: m.KeyId, TagKeys: []string{"env", "absent"}}); err != nil {
		t.Fatal(err)
	}
	if got := list(); len(got) != 1 || got[0] != "team=trent" {
		t.Fatalf("tags after untag %v", got)
	}

	before := e.srv.requests.Load()
	_, err := e.root.TagResource(ctx, &awskms.TagResourceInput{KeyId: m.KeyId, Tags: []types.Tag{
		{TagKey: aws.String("aws:reserved"), TagValue: aws.String("x")}}})
	e.wantAPIError(t, err, "TagException", before)
	before = e.srv.requests.Load()
	_, err = e.root.ListResourceTags(ctx, &awskms.ListResourceTagsInput{KeyId: aws.String("alias/x")})
	e.wantAPIError(t, err, "InvalidArnException", before)
}
