package audit

import (
	"encoding/json"
	"testing"
)

// FuzzAppendString checks the JSON string encoder of request parameters
// against encoding/json: always valid JSON, the same decoded text.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "ctl \x00\x1f\n\t", "utf-8 é 🗝", "bad \xff\xfe utf-8", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, b, err)
		}
		ref, _ := json.Marshal(s)
		var want string
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%q decodes to %q, encoding/json gives %q", s, got, want)
		}
	})
}

func TestLowerFirst(t *testing.T) {
	for in, want := range map[string]string{"KeyId": "keyId", "AWSAccountId": "awsAccountId", "DryRun": "dryRun",
		"ABC": "abC", "": "", "x": "x", "X": "x", "nodeId": "nodeId"} {
		for _, after := range []string{"", `"`, `":`} {
			b := []byte(in + after)
			lowerFirst(b)
			if got := string(b); got != want+after {
				t.Errorf("lowerFirst(%q) = %q, want %q", in+after, got, want+after)
			}
		}
	}
}
