package consistency

import (
	"errors"
	"net/http"
	"testing"

	"google.golang.org/protobuf/proto"

	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
)

// TestRefusalsNameReadsAndWrites: a call this node cannot admit is refused
// as "this read" when it reads and "this write" when it changes state
// (UpdateKeyDescription was told it "cannot serve this read"), in every
// way Admit refuses.
func TestRefusalsNameReadsAndWrites(t *testing.T) {
	for _, tc := range []struct {
		msg  proto.Message
		what string
	}{
		{&kmsv1.DescribeKeyRequest{}, "read"},
		{&kmsv1.ListKeysRequest{}, "read"},
		{&kmsv1.EncryptRequest{}, "read"},
		{&kmsv1.GenerateDataKeyRequest{}, "read"},
		{&kmsv1.GetKeyPolicyRequest{}, "read"},
		{&kmsv1.UpdateKeyDescriptionRequest{}, "write"},
		{&kmsv1.CreateKeyRequest{}, "write"},
		{&kmsv1.ScheduleKeyDeletionRequest{}, "write"},
		{&kmsv1.CreateGrantRequest{}, "write"},
		{&kmsv1.PutKeyPolicyRequest{}, "write"},
		{&iamv1.GetUserRequest{}, "read"},
		{&iamv1.ExplainRequest{}, "read"},
		{&iamv1.CreateUserRequest{}, "write"},
		{&iamv1.IssueCertificateRequest{}, "write"},
		{nil, "read"},
	} {
		name := "nil"
		if tc.msg != nil {
			name = string(tc.msg.ProtoReflect().Descriptor().Name())
		}
		t.Run(name, func(t *testing.T) {
			for _, mode := range []struct {
				name, header, want string
			}{
				{"bounded, never fresh", "", "cannot serve this " + tc.what + " within the staleness bound"},
				{"linearizable", "linearizable", "in time for a linearizable " + tc.what + ";"},
			} {
				f := newFixture(t, nil)
				f.reads.set(0, errors.New("no leader"))
				h := http.Header{}
				if mode.header != "" {
					h.Set("Trent-Consistency", mode.header)
				}
				_, err := Admit(t.Context(), f.tr, h, tc.msg)
				refusal(t, err, mode.want)
			}
		})
	}
}
