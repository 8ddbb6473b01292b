package awsapi

import (
	"encoding/json"
	"math"
	"testing"
	"testing/quick"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
)

func TestAppendMessage(t *testing.T) {
	for _, tt := range []struct {
		name string
		msg  proto.Message
		want string
	}{
		{"empty output", &kmsv1.EnableKeyResponse{}, `{}`},
		{"list result always present", &kmsv1.ListKeysResponse{}, `{"Keys":[],"Truncated":false}`},
		{"next marker only when set", &kmsv1.ListKeysResponse{Keys: []*kmsv1.KeyListEntry{{KeyId: "k", KeyArn: "a"}}, NextMarker: "m", Truncated: true},
			`{"Keys":[{"KeyId":"k","KeyArn":"a"}],"NextMarker":"m","Truncated":true}`},
		{"blobs are padded standard base64", &kmsv1.GenerateRandomResponse{Plaintext: []byte{0xff, 0xfe}}, `{"Plaintext":"//4="}`},
		{"timestamps are plain decimals", &kmsv1.ScheduleKeyDeletionResponse{KeyId: "k", DeletionDate: 1712345678.123, KeyState: "PendingDeletion", PendingWindowInDays: 7},
			`{"KeyId":"k","DeletionDate":1712345678.123,"KeyState":"PendingDeletion","PendingWindowInDays":7}`},
		{"whole seconds", &kmsv1.ScheduleKeyDeletionResponse{DeletionDate: 1712345678}, `{"DeletionDate":1712345678}`},
		{"set optionals are written, unset omitted", &kmsv1.GetKeyRotationStatusResponse{RotationPeriodInDays: proto.Int32(0)},
			`{"KeyRotationEnabled":false,"RotationPeriodInDays":0}`},
		{"metadata", &kmsv1.DescribeKeyResponse{KeyMetadata: &kmsv1.KeyMetadata{KeyId: "k", CreationDate: 1.5}},
			`{"KeyMetadata":{"KeyId":"k","CreationDate":1.5,"Enabled":false,"Description":"","MultiRegion":false}}`},
		{"maps are sorted", &kmsv1.GrantListEntry{Constraints: &kmsv1.GrantConstraints{EncryptionContextSubset: map[string]string{"b": "2", "a": "1"}}},
			`{"Constraints":{"EncryptionContextSubset":{"a":"1","b":"2"}}}`},
		{"strings are escaped", &kmsv1.CancelKeyDeletionResponse{KeyId: "a\"\\\n\x01\u2028é\xff"}, `{"KeyId":"a\"\\\n\u0001` + "\u2028é" + `\ufffd"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := string(appendMessage(nil, tt.msg.ProtoReflect()))
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Fatalf("invalid JSON %s", got)
			}
		})
	}
}

// appendString round-trips every valid UTF-8 string through encoding/json.
func TestAppendStringRoundTrips(t *testing.T) {
	f := func(s string) bool {
		if !utf8.ValidString(s) {
			return true
		}
		var back string
		return json.Unmarshal(appendString(nil, s), &back) == nil && back == s
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 5000}); err != nil {
		t.Fatal(err)
	}
	for c := range 0x80 {
		s := string(rune(c))
		var back string
		if err := json.Unmarshal(appendString(nil, s), &back); err != nil || back != s {
			t.Fatalf("byte %#x: %v %q", c, err, back)
		}
	}
}

func TestAppendFloat(t *testing.T) {
	for _, tt := range []struct {
		f    float64
		want string
	}{
		{1568565290, "1568565290"},
		{1568565290.5, "1568565290.5"},
		{0.001, "0.001"},
		{1e21, "1000000000000000000000"},
		{math.NaN(), "null"},
		{math.Inf(1), "null"},
	} {
		if got := string(appendFloat(nil, tt.f, 64)); got != tt.want {
			t.Errorf("appendFloat(%v) = %s, want %s", tt.f, got, tt.want)
		}
	}
}
