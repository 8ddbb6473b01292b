package cli

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
)

func TestParseStringMap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    map[string]string
		wantErr string
	}{
		{in: "k=v", want: map[string]string{"k": "v"}},
		{in: "purpose=test,team=kms", want: map[string]string{"purpose": "test", "team": "kms"}},
		{in: " a = 1 , b = 2 ", want: map[string]string{"a": "1", "b": "2"}},
		{in: "k=a=b", want: map[string]string{"k": "a=b"}},
		{in: `k="a,b",q='x y'`, want: map[string]string{"k": "a,b", "q": "x y"}},
		{in: "k=", want: map[string]string{"k": ""}},
		{in: `{"purpose":"test","team":"kms"}`, want: map[string]string{"purpose": "test", "team": "kms"}},
		{in: ` {"a b": "c,d=e"}`, want: map[string]string{"a b": "c,d=e"}},
		{in: `{}`, want: map[string]string{}},
		{in: "", wantErr: "empty value"},
		{in: "novalue", wantErr: "expected '='"},
		{in: "a=1,b", wantErr: "expected '='"},
		{in: "=v", wantErr: "empty key"},
		{in: "a=1,a=2", wantErr: "given twice"},
		{in: "a={b=c}", wantErr: "must be a string"},
		{in: `a="unterminated`, wantErr: "unterminated quote"},
		{in: `{"a":1}`, wantErr: "must be a string"},
		{in: `{"a":"b"`, wantErr: "invalid JSON object"},
		{in: `{"":"b"}`, wantErr: "empty key"},
	}
	for _, tt := range tests {
		got, err := parseStringMap(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseStringMap(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tt.want) {
			t.Errorf("parseStringMap(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// parseVerb parses a verb's flags into its request.
// isUsage reports whether err is a usage error whose message, which the
// user reads, contains want.
func isUsage(err error, want string) bool {
	var ue *usageError
	return errors.As(err, &ue) && strings.Contains(ue.msg, want)
}

func parseVerb(t *testing.T, name string, args ...string) (proto.Message, error) {
	t.Helper()
	v := kmsVerbs.byName[name]
	if v == nil {
		t.Fatalf("no verb %s", name)
	}
	return v.parse(args, fileReader{stdin: strings.NewReader("from stdin")})
}

func TestCreateGrantFlags(t *testing.T) {
	t.Parallel()
	base := []string{"--key-id", "k", "--grantee-principal", "p"}
	tests := []struct {
		name    string
		args    []string
		want    *kmsv1.CreateGrantRequest
		wantErr string
	}{
		{
			name: "space-separated-operations",
			args: []string{"--operations", "Decrypt", "GenerateDataKey"},
			want: &kmsv1.CreateGrantRequest{Operations: []string{"Decrypt", "GenerateDataKey"}},
		},
		{
			name: "comma-separated-operations",
			args: []string{"--operations", "Decrypt,Encrypt", "GenerateDataKey", "--name", "n"},
			want: &kmsv1.CreateGrantRequest{Operations: []string{"Decrypt", "Encrypt", "GenerateDataKey"}, Name: "n"},
		},
		{
			name: "json-operations",
			args: []string{"--operations", `["Decrypt","Encrypt"]`},
			want: &kmsv1.CreateGrantRequest{Operations: []string{"Decrypt", "Encrypt"}},
		},
		{
			name: "constraints-shorthand",
			args: []string{"--operations", "Decrypt", "--constraints", "EncryptionContextSubset={customerID=3369}"},
			want: &kmsv1.CreateGrantRequest{Operations: []string{"Decrypt"}, Constraints: &kmsv1.GrantConstraints{
				EncryptionContextSubset: map[string]string{"customerID": "3369"},
			}},
		},
		{
			name: "constraints-shorthand-both",
			args: []string{"--constraints", "EncryptionContextEquals={a=1,b=2},EncryptionContextSubset={c=\"x,y\"}", "--operations", "Decrypt"},
			want: &kmsv1.CreateGrantRequest{Operations: []string{"Decrypt"}, Constraints: &kmsv1.GrantConstraints{
				EncryptionContextEquals: map[string]string{"a": "1", "b": "2"},
				EncryptionContextSubset: map[string]string{"c": "x,y"},
			}},
		},
		{
			name: "constraints-json",
			args: []string{"--operations", "Decrypt", "--constraints", `{"EncryptionContextEquals":{"Department":"IT"}}`},
			want: &kmsv1.CreateGrantRequest{Operations: []string{"Decrypt"}, Constraints: &kmsv1.GrantConstraints{
				EncryptionContextEquals: map[string]string{"Department": "IT"},
			}},
		},
		{
			name: "grant-tokens-and-dry-run",
			args: []string{"--operations", "Decrypt", "--grant-tokens", "t1", "t2", "--dry-run"},
			want: &kmsv1.CreateGrantRequest{Operations: []string{"Decrypt"}, GrantTokens: []string{"t1", "t2"}, DryRun: true},
		},
		{
			name: "no-dry-run",
			args: []string{"--operations", "Decrypt", "--no-dry-run"},
			want: &kmsv1.CreateGrantRequest{Operations: []string{"Decrypt"}},
		},
		{name: "constraints-unknown-member", args: []string{"--operations", "Decrypt", "--constraints", "EncryptionContextSuperset={a=b}"}, wantErr: `unknown field "EncryptionContextSuperset"`},
		{name: "constraints-not-a-map", args: []string{"--operations", "Decrypt", "--constraints", "EncryptionContextSubset=abc"}, wantErr: "'--constraints'"},
		{name: "constraints-unclosed", args: []string{"--operations", "Decrypt", "--constraints", "EncryptionContextSubset={a=b"}, wantErr: "missing '}'"},
		{name: "constraints-bad-json", args: []string{"--operations", "Decrypt", "--constraints", `{"EncryptionContextSubset":`}, wantErr: "invalid JSON"},
		{name: "constraints-list", args: []string{"--operations", "Decrypt", "--constraints", `[]`}, wantErr: "got a list"},
		{name: "operations-missing", args: nil, wantErr: "required: --operations"},
		{name: "operations-empty", args: []string{"--operations", "--name", "n"}, wantErr: "expected at least one argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseVerb(t, "create-grant", append(base[:len(base):len(base)], tt.args...)...)
			if tt.wantErr != "" {
				if !isUsage(err, tt.wantErr) {
					t.Fatalf("err = %v, want a usage error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.KeyId, tt.want.GranteePrincipal = "k", "p"
			if !proto.Equal(tt.want, got) {
				t.Errorf("request got:\n%s", diffText(tt.want, got))
			}
		})
	}
}

func TestTagFlags(t *testing.T) {
	t.Parallel()
	want := &kmsv1.CreateKeyRequest{Tags: []*kmsv1.Tag{{TagKey: "a", TagValue: "1"}, {TagKey: "b", TagValue: ""}}}
	for _, args := range [][]string{
		{"--tags", "TagKey=a,TagValue=1", "TagKey=b,TagValue="},
		{"--tags", `[{"TagKey":"a","TagValue":"1"},{"TagKey":"b","TagValue":""}]`},
		{"--tags", `{"TagKey":"a","TagValue":"1"}`, "TagKey=b,TagValue="},
	} {
		got, err := parseVerb(t, "create-key", args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if !proto.Equal(want, got) {
			t.Errorf("%v got:\n%s", args, diffText(want, got))
		}
	}
	got, err := parseVerb(t, "untag-resource", "--key-id", "k", "--tag-keys", "a", "b,c")
	if err != nil {
		t.Fatal(err)
	}
	if want := (&kmsv1.UntagResourceRequest{KeyId: "k", TagKeys: []string{"a", "b", "c"}}); !proto.Equal(want, got) {
		t.Errorf("untag-resource got:\n%s", diffText(want, got))
	}
	if _, err := parseVerb(t, "create-key", "--tags", "TagKey=a,Value=1"); !isUsage(err, `unknown field "Value"`) {
		t.Errorf("bad tag: err = %v", err)
	}
}

func TestBlobAndFileFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	binPath := filepath.Join(dir, "bin")
	bin := []byte{0, 0xff, 'a', '\n'}
	txtPath := filepath.Join(dir, "txt")
	b64Path := filepath.Join(dir, "b64")
	for p, b := range map[string][]byte{binPath: bin, txtPath: []byte("hello\n"), b64Path: []byte("AP9hCg==\n")} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		verb    string
		args    []string
		want    proto.Message
		wantErr string
	}{
		{"plaintext-raw", "encrypt", []string{"--key-id", "k", "--plaintext", "hello world"},
			&kmsv1.EncryptRequest{KeyId: "k", Plaintext: []byte("hello world")}, ""},
		{"plaintext-equals", "encrypt", []string{"--key-id=k", "--plaintext=a=b"},
			&kmsv1.EncryptRequest{KeyId: "k", Plaintext: []byte("a=b")}, ""},
		{"plaintext-fileb", "encrypt", []string{"--key-id", "k", "--plaintext", "fileb://" + binPath},
			&kmsv1.EncryptRequest{KeyId: "k", Plaintext: bin}, ""},
		{"plaintext-file", "encrypt", []string{"--key-id", "k", "--plaintext", "file://" + txtPath},
			&kmsv1.EncryptRequest{KeyId: "k", Plaintext: []byte("hello\n")}, ""},
		{"plaintext-stdin", "encrypt", []string{"--key-id", "k", "--plaintext", "fileb://-"},
			&kmsv1.EncryptRequest{KeyId: "k", Plaintext: []byte("from stdin")}, ""},
		{"encryption-context", "encrypt", []string{"--key-id", "k", "--plaintext", "p", "--encryption-context", "a=1,b=2", "--encryption-algorithm", "SYMMETRIC_DEFAULT"},
			&kmsv1.EncryptRequest{KeyId: "k", Plaintext: []byte("p"), EncryptionContext: map[string]string{"a": "1", "b": "2"}, EncryptionAlgorithm: "SYMMETRIC_DEFAULT"}, ""},
		{"encryption-context-json-file", "decrypt", []string{"--ciphertext-blob", "AP9hCg==", "--encryption-context", "file://" + writeFile(t, dir, "ec.json", `{"a":"1"}`)},
			&kmsv1.DecryptRequest{CiphertextBlob: bin, EncryptionContext: map[string]string{"a": "1"}}, ""},
		{"ciphertext-base64", "decrypt", []string{"--ciphertext-blob", "AP9hCg==", "--key-id", "k"},
			&kmsv1.DecryptRequest{CiphertextBlob: bin, KeyId: "k"}, ""},
		{"ciphertext-fileb", "decrypt", []string{"--ciphertext-blob", "fileb://" + binPath},
			&kmsv1.DecryptRequest{CiphertextBlob: bin}, ""},
		{"ciphertext-file-base64", "decrypt", []string{"--ciphertext-blob", "file://" + b64Path},
			&kmsv1.DecryptRequest{CiphertextBlob: bin}, ""},
		{"ciphertext-bad-base64", "decrypt", []string{"--ciphertext-blob", "hello"}, nil, "invalid base64"},
		{"ciphertext-missing-file", "decrypt", []string{"--ciphertext-blob", "fileb://" + filepath.Join(dir, "none")}, nil, "unable to load paramfile"},
		{"policy-file", "put-key-policy", []string{"--key-id", "k", "--policy", "file://" + txtPath, "--bypass-policy-lockout-safety-check"},
			&kmsv1.PutKeyPolicyRequest{KeyId: "k", Policy: "hello\n", BypassPolicyLockoutSafetyCheck: true}, ""},
		{"number-of-bytes", "generate-data-key", []string{"--key-id", "k", "--number-of-bytes", "64", "--encryption-context", `{"x":"y"}`},
			&kmsv1.GenerateDataKeyRequest{KeyId: "k", NumberOfBytes: proto.Int32(64), EncryptionContext: map[string]string{"x": "y"}}, ""},
		{"number-of-bytes-range", "generate-data-key", []string{"--key-id", "k", "--number-of-bytes", "99999999999"}, nil, "invalid integer"},
		{"limit-and-starting-token", "list-keys", []string{"--limit", "10", "--starting-token", "m1"},
			&kmsv1.ListKeysRequest{Limit: proto.Int32(10), Marker: "m1"}, ""},
		{"limit-and-marker", "list-grants", []string{"--key-id", "k", "--marker", "m2", "--page-size", "5", "--grant-id", "g", "--grantee-principal", "p"},
			&kmsv1.ListGrantsRequest{KeyId: "k", Marker: "m2", Limit: proto.Int32(5), GrantId: "g", GranteePrincipal: "p"}, ""},
		{"retire-by-token", "retire-grant", []string{"--grant-token", "tok"},
			&kmsv1.RetireGrantRequest{GrantToken: "tok"}, ""},
		{"schedule-deletion", "schedule-key-deletion", []string{"--key-id", "k", "--pending-window-in-days", "7"},
			&kmsv1.ScheduleKeyDeletionRequest{KeyId: "k", PendingWindowInDays: proto.Int32(7)}, ""},
		{"generate-random", "generate-random", []string{"--number-of-bytes", "16"},
			&kmsv1.GenerateRandomRequest{NumberOfBytes: proto.Int32(16)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseVerb(t, tt.verb, tt.args...)
			if tt.wantErr != "" {
				if !isUsage(err, tt.wantErr) {
					t.Fatalf("err = %v, want a usage error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(tt.want, got) {
				t.Errorf("request got:\n%s", diffText(tt.want, got))
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKebab(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Encrypt":                             "encrypt",
		"GenerateDataKeyPairWithoutPlaintext": "generate-data-key-pair-without-plaintext",
		"ReEncrypt":                           "re-encrypt",
		"GetKeyRotationStatus":                "get-key-rotation-status",
	} {
		if got := kebab(in); got != want {
			t.Errorf("kebab(%q) = %q, want %q", in, got, want)
		}
	}
}

// diffText shows both messages for a failed comparison.
func diffText(want, got proto.Message) string {
	return prototext.Format(got) + "\nwant:\n" + prototext.Format(want)
}

// import-key-material takes the AWS CLI's flags: binary files for the
// token and material, and --valid-to as a timestamp in any of its forms.
func TestImportKeyMaterialFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tok, mat := filepath.Join(dir, "token.bin"), filepath.Join(dir, "material.bin")
	if err := os.WriteFile(tok, []byte{1, 2, 3}, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mat, []byte{4, 5}, 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--key-id", "k", "--import-token", "fileb://" + tok, "--encrypted-key-material", "fileb://" + mat,
		"--expiration-model", "KEY_MATERIAL_EXPIRES"}
	for _, tt := range []struct {
		validTo string
		want    float64
		wantErr string
	}{
		{"2026-12-31T23:59:59Z", 1798761599, ""},
		{"2026-12-31T23:59:59.5+01:00", 1798757999.5, ""},
		{"2026-12-31", 1798675200, ""},
		{"1798761599", 1798761599, ""},
		{"next week", 0, "invalid timestamp"},
	} {
		got, err := parseVerb(t, "import-key-material", append(base[:len(base):len(base)], "--valid-to", tt.validTo)...)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("--valid-to %s: %v, want %q", tt.validTo, err, tt.wantErr)
			}
			continue
		}
		want := &kmsv1.ImportKeyMaterialRequest{KeyId: "k", ImportToken: []byte{1, 2, 3}, EncryptedKeyMaterial: []byte{4, 5},
			ExpirationModel: "KEY_MATERIAL_EXPIRES", ValidTo: &tt.want}
		if err != nil || !proto.Equal(got, want) {
			t.Errorf("--valid-to %s: %v, %v; want %v", tt.validTo, prototext.Format(got), err, prototext.Format(want))
		}
	}
}
