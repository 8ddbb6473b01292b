package awsapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// The AWS SDK schedules a key's deletion, reads the schedule back from
// DescribeKey, cancels it, and reads AWS's errors for bad windows and
// wrong states by their codes; a refused request changes nothing.
func TestSDKScheduleAndCancelKeyDeletion(t *testing.T) {
	t.Parallel()
	e := newSDKEnv(t)
	ctx := context.Background()
	m := e.createKey(t, "doomed")
	for _, days := range []int32{6, 31} {
		before := e.srv.requests.Load()
		_, err := e.root.ScheduleKeyDeletion(ctx, &awskms.ScheduleKeyDeletionInput{KeyId: m.KeyId, PendingWindowInDays: aws.Int32(days)})
		if ae := e.wantAPIError(t, err, "ValidationException", before); ae.ErrorMessage() != "PendingWindowInDays must be between 7 and 30" {
			t.Fatalf("window %d: message %q", days, ae.ErrorMessage())
		}
	}
	before := e.srv.requests.Load()
	_, err := e.root.CancelKeyDeletion(ctx, &awskms.CancelKeyDeletionInput{KeyId: m.KeyId})
	e.wantAPIError(t, err, "KMSInvalidStateException", before)
	d, err := e.root.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: m.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if d.KeyMetadata.KeyState != types.KeyStateEnabled || d.KeyMetadata.DeletionDate != nil {
		t.Fatalf("a refused request changed the key: %+v", d.KeyMetadata)
	}

	start := time.Now()
	out, err := e.root.ScheduleKeyDeletion(ctx, &awskms.ScheduleKeyDeletionInput{KeyId: m.Arn})
	if err != nil {
		t.Fatal(err)
	}
	want := start.Add(30 * 24 * time.Hour)
	if aws.ToString(out.KeyId) != aws.ToString(m.Arn) || out.KeyState != types.KeyStatePendingDeletion ||
		aws.ToInt32(out.PendingWindowInDays) != 30 || out.DeletionDate == nil ||
		out.DeletionDate.Before(want.Add(-time.Second)) || out.DeletionDate.After(want.Add(time.Minute)) {
		t.Fatalf("ScheduleKeyDeletion: %+v (deletion date %v, want about %v)", out, out.DeletionDate, want)
	}
	d, err = e.root.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: m.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	md := d.KeyMetadata
	if md.KeyState != types.KeyStatePendingDeletion || md.Enabled || md.DeletionDate == nil ||
		!md.DeletionDate.Equal(*out.DeletionDate) || aws.ToInt32(md.PendingDeletionWindowInDays) != 30 {
		t.Fatalf("DescribeKey of a key pending deletion: %+v", md)
	}
	before = e.srv.requests.Load()
	_, err = e.root.Encrypt(ctx, &awskms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("x")})
	e.wantAPIError(t, err, "KMSInvalidStateException", before)
	before = e.srv.requests.Load()
	_, err = e.root.ScheduleKeyDeletion(ctx, &awskms.ScheduleKeyDeletionInput{KeyId: m.KeyId, PendingWindowInDays: aws.Int32(7)})
	e.wantAPIError(t, err, "KMSInvalidStateException", before)

	c, err := e.root.CancelKeyDeletion(ctx, &awskms.CancelKeyDeletionInput{KeyId: m.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(c.KeyId) != aws.ToString(m.Arn) {
		t.Fatalf("CancelKeyDeletion KeyId %q, want the ARN", aws.ToString(c.KeyId))
	}
	d, err = e.root.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: m.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if md := d.KeyMetadata; md.KeyState != types.KeyStateDisabled || md.DeletionDate != nil || md.PendingDeletionWindowInDays != nil {
		t.Fatalf("DescribeKey after cancel: %+v", md)
	}
	before = e.srv.requests.Load()
	_, err = e.root.ScheduleKeyDeletion(ctx, &awskms.ScheduleKeyDeletionInput{KeyId: aws.String("alias/doomed")})
	e.wantAPIError(t, err, "InvalidArnException", before)
	before = e.srv.requests.Load()
	_, err = e.bob.ScheduleKeyDeletion(ctx, &awskms.ScheduleKeyDeletionInput{KeyId: m.KeyId})
	e.wantAPIError(t, err, "AccessDeniedException", before)
}
