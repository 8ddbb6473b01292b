package cli

import (
	"encoding/base64"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// checkGolden compares got with testdata/name.golden, or writes it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

var (
	key1 = fakeKeyID(1)
	key2 = fakeKeyID(2)
)

func TestGolden(t *testing.T) {
	t.Parallel()
	helloBlob := base64.StdEncoding.EncodeToString(fakeSeal(key1, []byte("hello")))
	tests := []struct {
		name  string
		setup [][]string // commands run first; they must succeed
		args  []string
	}{
		{
			name: "create-key",
			args: []string{"kms", "create-key", "--description", "test key", "--tags", "TagKey=team,TagValue=kms", "TagKey=env,TagValue=test"},
		},
		{
			name:  "describe-key",
			setup: [][]string{{"kms", "create-key"}},
			args:  []string{"kms", "describe-key", "--key-id", key1},
		},
		{
			name:  "describe-key-text",
			setup: [][]string{{"kms", "create-key"}},
			args:  []string{"kms", "describe-key", "--key-id", key1, "--output", "text"},
		},
		{
			name:  "list-keys",
			setup: [][]string{{"kms", "create-key"}, {"kms", "create-key"}},
			args:  []string{"kms", "list-keys"},
		},
		{
			name: "list-keys-empty",
			args: []string{"kms", "list-keys"},
		},
		{
			name:  "encrypt",
			setup: [][]string{{"kms", "create-key"}},
			args:  []string{"kms", "encrypt", "--key-id", key1, "--plaintext", "hello", "--encryption-context", "purpose=test"},
		},
		{
			name:  "encrypt-text-query",
			setup: [][]string{{"kms", "create-key"}},
			args:  []string{"kms", "encrypt", "--key-id", key1, "--plaintext", "hello", "--output", "text", "--query", "CiphertextBlob"},
		},
		{
			name:  "decrypt",
			setup: [][]string{{"kms", "create-key"}},
			args:  []string{"kms", "decrypt", "--ciphertext-blob", helloBlob},
		},
		{
			name:  "decrypt-text-query",
			setup: [][]string{{"kms", "create-key"}},
			args:  []string{"--output", "text", "kms", "decrypt", "--query", "Plaintext", "--ciphertext-blob", helloBlob},
		},
		{
			name:  "re-encrypt",
			setup: [][]string{{"kms", "create-key"}, {"kms", "create-key"}},
			args: []string{"kms", "re-encrypt", "--ciphertext-blob", helloBlob, "--source-encryption-context", "purpose=test",
				"--destination-key-id", key2, "--destination-encryption-context", "purpose=moved"},
		},
		{
			name:  "generate-data-key",
			setup: [][]string{{"kms", "create-key"}},
			args:  []string{"kms", "generate-data-key", "--key-id", key1, "--key-spec", "AES_256"},
		},
		{
			name: "list-grants",
			setup: [][]string{
				{"kms", "create-key"},
				{"kms", "create-grant", "--key-id", key1, "--grantee-principal", "arn:aws:iam::111122223333:role/app",
					"--operations", "Decrypt", "GenerateDataKey", "--constraints", "EncryptionContextSubset={customerID=3369}", "--name", "app"},
				{"kms", "create-grant", "--key-id", key1, "--grantee-principal", "arn:aws:iam::111122223333:role/ops",
					"--retiring-principal", "arn:aws:iam::111122223333:role/admin", "--operations", "Encrypt,Decrypt"},
			},
			args: []string{"kms", "list-grants", "--key-id", key1},
		},
		{
			name:  "create-grant",
			setup: [][]string{{"kms", "create-key"}},
			args:  []string{"kms", "create-grant", "--key-id", key1, "--grantee-principal", "p", "--operations", "Decrypt"},
		},
		{
			name:  "enable-key-empty-response",
			setup: [][]string{{"kms", "create-key"}},
			args:  []string{"kms", "enable-key", "--key-id", key1},
		},
		{
			name: "describe-key-not-found",
			args: []string{"kms", "describe-key", "--key-id", fakeKeyID(999)},
		},
		{
			name:  "create-alias",
			setup: [][]string{{"kms", "create-key"}},
			args:  []string{"kms", "create-alias", "--alias-name", "alias/app", "--target-key-id", key1},
		},
		{
			name: "list-aliases",
			setup: [][]string{{"kms", "create-key"}, {"kms", "create-key"},
				{"kms", "create-alias", "--alias-name", "alias/app", "--target-key-id", key1},
				{"kms", "create-alias", "--alias-name", "alias/db", "--target-key-id", key2},
				{"kms", "update-alias", "--alias-name", "alias/db", "--target-key-id", key1}},
			args: []string{"kms", "list-aliases"},
		},
		{
			name: "list-aliases-text-key-filter",
			setup: [][]string{{"kms", "create-key"}, {"kms", "create-key"},
				{"kms", "create-alias", "--alias-name", "alias/app", "--target-key-id", key1},
				{"kms", "create-alias", "--alias-name", "alias/db", "--target-key-id", key2},
				{"kms", "create-alias", "--alias-name", "alias/gone", "--target-key-id", key2},
				{"kms", "delete-alias", "--alias-name", "alias/gone"}},
			args: []string{"kms", "list-aliases", "--key-id", key2, "--output", "text"},
		},
		{
			name:  "delete-alias-not-found",
			setup: [][]string{{"kms", "create-key"}},
			args:  []string{"kms", "delete-alias", "--alias-name", "alias/nope"},
		},
		{
			name: "list-resource-tags",
			setup: [][]string{{"kms", "create-key"},
				{"kms", "tag-resource", "--key-id", key1, "--tags", "TagKey=team,TagValue=trent", "TagKey=env,TagValue=test", "TagKey=gone,TagValue="},
				{"kms", "tag-resource", "--key-id", key1, "--tags", "TagKey=env,TagValue=prod"},
				{"kms", "untag-resource", "--key-id", key1, "--tag-keys", "gone", "absent"}},
			args: []string{"kms", "list-resource-tags", "--key-id", key1},
		},
		// Rotation (fake_rotation_test.go).
		{name: "enable-key-rotation", setup: [][]string{{"kms", "create-key"}},
			args: []string{"kms", "enable-key-rotation", "--key-id", key1, "--rotation-period-in-days", "180"}},
		{name: "get-key-rotation-status", setup: [][]string{{"kms", "create-key"}, {"kms", "enable-key-rotation", "--key-id", key1, "--rotation-period-in-days", "90"}},
			args: []string{"kms", "get-key-rotation-status", "--key-id", key1}},
		{name: "get-key-rotation-status-disabled", setup: [][]string{{"kms", "create-key"}, {"kms", "enable-key-rotation", "--key-id", key1},
			{"kms", "disable-key-rotation", "--key-id", key1}},
			args: []string{"kms", "get-key-rotation-status", "--key-id", key1}},
		{name: "rotate-key-on-demand", setup: [][]string{{"kms", "create-key"}},
			args: []string{"kms", "rotate-key-on-demand", "--key-id", key1}},
		{name: "list-key-rotations", setup: [][]string{{"kms", "create-key"}, {"kms", "rotate-key-on-demand", "--key-id", key1},
			{"kms", "rotate-key-on-demand", "--key-id", key1}},
			args: []string{"kms", "list-key-rotations", "--key-id", key1}},
		{name: "list-key-rotations-text", setup: [][]string{{"kms", "create-key"}, {"kms", "rotate-key-on-demand", "--key-id", key1}},
			args: []string{"kms", "list-key-rotations", "--key-id", key1, "--output", "text"}},
		{
			name:  "schedule-key-deletion",
			setup: [][]string{{"kms", "create-key"}},
			args:  []string{"kms", "schedule-key-deletion", "--key-id", key1, "--pending-window-in-days", "7"},
		},
		{
			name:  "schedule-key-deletion-default-window-text",
			setup: [][]string{{"kms", "create-key"}},
			args:  []string{"kms", "schedule-key-deletion", "--key-id", key1, "--output", "text"},
		},
		{
			name:  "schedule-key-deletion-window-6",
			setup: [][]string{{"kms", "create-key"}},
			args:  []string{"kms", "schedule-key-deletion", "--key-id", key1, "--pending-window-in-days", "6"},
		},
		{
			name:  "schedule-key-deletion-window-not-a-number",
			setup: [][]string{{"kms", "create-key"}},
			args:  []string{"kms", "schedule-key-deletion", "--key-id", key1, "--pending-window-in-days", "seven"},
		},
		{
			name:  "describe-key-pending-deletion",
			setup: [][]string{{"kms", "create-key"}, {"kms", "schedule-key-deletion", "--key-id", key1, "--pending-window-in-days", "10"}},
			args:  []string{"kms", "describe-key", "--key-id", key1},
		},
		{
			name:  "cancel-key-deletion",
			setup: [][]string{{"kms", "create-key"}, {"kms", "schedule-key-deletion", "--key-id", key1}},
			args:  []string{"kms", "cancel-key-deletion", "--key-id", key1},
		},
		{
			name:  "cancel-key-deletion-not-pending",
			setup: [][]string{{"kms", "create-key"}},
			args:  []string{"kms", "cancel-key-deletion", "--key-id", key1},
		},
		{
			name: "unimplemented",
			args: []string{"kms", "revoke-grant", "--key-id", key1, "--grant-id", "g"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
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

func TestDecryptRoundTrip(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.run(t, "kms", "create-key")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.bin")
	plaintext := []byte{0, 1, 2, 0xff, '\n'}
	if err := os.WriteFile(in, plaintext, 0o600); err != nil {
		t.Fatal(err)
	}
	code, blob, stderr := fx.run(t, "kms", "encrypt", "--key-id", key1, "--plaintext", "fileb://"+in, "--output", "text", "--query", "CiphertextBlob")
	if code != 0 {
		t.Fatalf("encrypt: exit %d: %s", code, stderr)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(blob))
	if err != nil {
		t.Fatal(err)
	}
	ct := filepath.Join(dir, "ct.bin")
	if err := os.WriteFile(ct, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{"fileb://" + ct, strings.TrimSpace(blob)} {
		code, out, stderr := fx.run(t, "kms", "decrypt", "--ciphertext-blob", arg, "--output", "text", "--query", "Plaintext")
		if code != 0 {
			t.Fatalf("decrypt %s: exit %d: %s", arg, code, stderr)
		}
		if want := base64.StdEncoding.EncodeToString(plaintext) + "\n"; out != want {
			t.Errorf("decrypt %s = %q, want %q", arg, out, want)
		}
	}
}

func TestQuery(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.run(t, "kms", "create-key")
	fx.run(t, "kms", "create-key")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"kms", "list-keys", "--query", "Keys[].KeyId", "--output", "text"}, key1 + "\t" + key2 + "\n"},
		{[]string{"kms", "list-keys", "--query", "Keys[1].KeyId"}, `"` + key2 + `"` + "\n"},
		{[]string{"kms", "list-keys", "--query", "Truncated", "--output", "text"}, "False\n"},
		{[]string{"kms", "describe-key", "--key-id", key2, "--query", "KeyMetadata.Arn", "--output", "text"}, fakeKeyARN(key2) + "\n"},
		{[]string{"kms", "describe-key", "--key-id", key2, "--query", "KeyMetadata.Missing"}, "null\n"},
		{[]string{"kms", "describe-key", "--key-id", key2, "--query", "KeyMetadata.CreationDate"}, "1700000000.123\n"},
	}
	for _, tt := range tests {
		code, out, stderr := fx.run(t, tt.args...)
		if code != 0 || out != tt.want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want stdout %q", tt.args, code, out, stderr, tt.want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want []string // substrings of stderr
	}{
		{"no-command", nil, []string{"missing command", "usage: trent"}},
		{"unknown-command", []string{"frobnicate"}, []string{`unknown command "frobnicate"`}},
		{"no-verb", []string{"kms"}, []string{"missing verb", "describe-key"}},
		{"unknown-verb", []string{"kms", "describe-keys"}, []string{`unknown verb "describe-keys"`, "valid verbs: cancel-key-deletion, ", "describe-key,"}},
		{"unknown-flag", []string{"kms", "encrypt", "--key-id", "k", "--plain-text", "x"}, []string{"unknown option --plain-text for encrypt", "valid options: --key-id, --plaintext,", "--no-dry-run"}},
		{"missing-required", []string{"kms", "encrypt", "--key-id", "k"}, []string{"required: --plaintext"}},
		{"missing-value", []string{"kms", "describe-key", "--key-id"}, []string{"argument --key-id: expected one argument"}},
		{"twice", []string{"kms", "describe-key", "--key-id", "a", "--key-id", "b"}, []string{"specified more than once"}},
		{"positional", []string{"kms", "describe-key", "k"}, []string{`unexpected argument "k"`}},
		{"bool-with-value", []string{"kms", "encrypt", "--key-id", "k", "--plaintext", "p", "--dry-run=yes"}, []string{"takes no value"}},
		{"negated-non-bool", []string{"kms", "describe-key", "--no-key-id"}, []string{"unknown option --no-key-id"}},
		{"bad-int", []string{"kms", "list-keys", "--limit", "ten"}, []string{`'--limit': invalid integer "ten"`}},
		{"bad-base64", []string{"kms", "decrypt", "--ciphertext-blob", "not base64!"}, []string{"invalid base64", "fileb://"}},
		{"bad-context", []string{"kms", "encrypt", "--key-id", "k", "--plaintext", "p", "--encryption-context", "novalue"}, []string{"'--encryption-context'", "expected '='"}},
		{"bad-output", []string{"--output", "yaml", "kms", "list-keys"}, []string{`invalid choice "yaml"`}},
		{"bad-query", []string{"--query", "Keys[?x]", "kms", "list-keys"}, []string{"argument --query"}},
		{"bad-endpoint", []string{"--endpoint", "http://127.0.0.1:7700", "kms", "list-keys"}, []string{"always uses TLS"}},
		{"missing-file", []string{"kms", "encrypt", "--key-id", "k", "--plaintext", "fileb:///nonexistent/x"}, []string{"unable to load paramfile"}},
		{"bench-flag", []string{"bench", "--ops", "encrypt"}, []string{"flag provided but not defined: -ops"}},
		{"bench-op", []string{"bench", "--op", "sing"}, []string{`unknown --op "sing"`, "sign, verify"}},
		{"bench-duration", []string{"bench", "--duration", "11m"}, []string{"--duration must be in"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runTrent(t, nil, tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want empty", stdout)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "usage: trent [global options] <command>"},
		{[]string{"help"}, "usage: trent [global options] <command>"},
		{[]string{"kms", "help"}, "generate-data-key-without-plaintext"},
		{[]string{"kms", "--help"}, "Verbs:"},
		{[]string{"kms", "encrypt", "--help"}, "--encryption-context <k=v,...|JSON>"},
		{[]string{"kms", "create-grant", "-h"}, "--operations <value> [<value>...]"},
		{[]string{"bench", "--help"}, "--concurrency N"},
	}
	for _, tt := range tests {
		code, stdout, stderr := runTrent(t, nil, tt.args...)
		if code != 0 || !strings.Contains(stdout, tt.want) || stderr != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout lacks %q:\n%s", tt.args, code, stderr, tt.want, stdout)
		}
	}
}

func TestConnectionErrors(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	other := newCreds(t) // a CA the server does not use

	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"refused", []string{"--endpoint", closed, "--data-dir", fx.creds.dir}, "connection refused"},
		{"unknown-ca", []string{"--endpoint", fx.url, "--data-dir", fx.creds.dir, "--ca", other.caFile}, "not signed by the CA in --ca"},
		{"rejected-client", []string{"--endpoint", fx.url, "--data-dir", fx.creds.dir, "--cert", other.certFile, "--key", other.keyFile}, "check --cert and --key"},
		{"missing-creds", []string{"--endpoint", fx.url, "--data-dir", t.TempDir()}, "trent server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runTrent(t, nil, append(tt.args, "kms", "list-keys")...)
			if code != exitError || stdout != "" {
				t.Errorf("exit %d, stdout %q; want exit 1 and no output", code, stdout)
			}
			if !strings.Contains(stderr, tt.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr = %q, want one line containing %q", stderr, tt.want)
			}
		})
	}
}

func TestParseEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, url, serverName string
		wantErr             bool
	}{
		{in: "127.0.0.1:7700", url: "https://127.0.0.1:7700", serverName: "127.0.0.1"},
		{in: "https://127.0.0.1:7701", url: "https://127.0.0.1:7701", serverName: "127.0.0.1"},
		{in: "https://localhost:7700/", url: "https://localhost:7700", serverName: "localhost"},
		{in: "HTTPS://kms.example:443/prefix", url: "https://kms.example:443/prefix", serverName: "kms.example"},
		{in: "localhost", url: "https://localhost:7700", serverName: "localhost"},
		{in: "https://localhost", url: "https://localhost:7700", serverName: "localhost"},
		{in: "[::1]:7700", url: "https://[::1]:7700", serverName: "::1"},
		{in: "[::1]", url: "https://[::1]:7700", serverName: "::1"},
		{in: "::1", url: "https://[::1]:7700", serverName: "::1"},
		{in: "https://[::1]:9000", url: "https://[::1]:9000", serverName: "::1"},
		{in: "http://127.0.0.1:7700", wantErr: true},
		{in: "grpc://127.0.0.1:7700", wantErr: true},
		{in: "", wantErr: true},
		{in: ":7700", wantErr: true},
		{in: "host:port", wantErr: true},
		{in: "host:0", wantErr: true},
		{in: "host:70000", wantErr: true},
		{in: "a:b:c", wantErr: true},
		{in: "https://user@host:7700", wantErr: true},
		{in: "https://host:7700?x=1", wantErr: true},
	}
	for _, tt := range tests {
		url, sn, err := parseEndpoint(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("parseEndpoint(%q) = %q, %q; want error", tt.in, url, sn)
			}
			continue
		}
		if err != nil || url != tt.url || sn != tt.serverName {
			t.Errorf("parseEndpoint(%q) = %q, %q, %v; want %q, %q", tt.in, url, sn, err, tt.url, tt.serverName)
		}
	}
}

func TestResolveTargetPrecedence(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"TRENT_ENDPOINT": "env-host:1",
		"TRENT_CA":       "/env/ca.pem",
		"TRENT_CERT":     "/env/cert.pem",
		"TRENT_KEY":      "/env/key.pem",
	}
	lookup := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	def := filepath.Join(defaultDataDir, "admin")
	tests := []struct {
		name               string
		args               []string
		env                map[string]string
		url, ca, cert, key string
	}{
		{"defaults", nil, nil, "https://127.0.0.1:7700",
			filepath.Join(def, "ca.pem"), filepath.Join(def, "cert.pem"), filepath.Join(def, "key.pem")},
		{"data-dir", []string{"--data-dir", "/d"}, nil, "https://127.0.0.1:7700",
			"/d/admin/ca.pem", "/d/admin/cert.pem", "/d/admin/key.pem"},
		{"env-over-defaults", []string{"--data-dir", "/d"}, env, "https://env-host:1",
			"/env/ca.pem", "/env/cert.pem", "/env/key.pem"},
		{"flags-over-env", []string{"--endpoint", "flag-host:2", "--ca", "/f/ca", "--cert=/f/cert", "--key", "/f/key"}, env,
			"https://flag-host:2", "/f/ca", "/f/cert", "/f/key"},
		{"mixed", []string{"--cert", "/f/cert"}, map[string]string{"TRENT_KEY": "/env/key.pem", "TRENT_CA": ""}, "https://127.0.0.1:7700",
			filepath.Join(def, "ca.pem"), "/f/cert", "/env/key.pem"},
	}
	for _, tt := range tests {
		g, rest, err := parseGlobals(append(tt.args, "kms", "list-keys"))
		if err != nil || len(rest) != 2 {
			t.Fatalf("%s: parseGlobals: %v, rest %v", tt.name, err, rest)
		}
		tg, err := resolveTarget(g, lookup(tt.env))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if tg.baseURL != tt.url || tg.ca != tt.ca || tg.cert != tt.cert || tg.key != tt.key {
			t.Errorf("%s: got %s %s %s %s; want %s %s %s %s", tt.name, tg.baseURL, tg.ca, tg.cert, tg.key, tt.url, tt.ca, tt.cert, tt.key)
		}
	}
}

// TestEveryRPCHasAVerb keeps the verb table in step with the service.
func TestEveryRPCHasAVerb(t *testing.T) {
	t.Parallel()
	methods := kmsv1.File_trent_kms_v1_kms_proto.Services().ByName("KeyManagementService").Methods()
	for i := range methods.Len() {
		m := methods.Get(i)
		v := kmsVerbs.byName[kebab(string(m.Name()))]
		if v == nil {
			t.Errorf("RPC %s has no verb", m.Name())
			continue
		}
		if v.op != string(m.Name()) || v.newReq().ProtoReflect().Descriptor() != m.Input() {
			t.Errorf("verb %s calls %s with %v; RPC %s takes %s", v.name, v.op, v.newReq().ProtoReflect().Descriptor().FullName(), m.Name(), m.Input().FullName())
		}
		if len(v.flags) != m.Input().Fields().Len() {
			t.Errorf("verb %s has %d flags for %d fields", v.name, len(v.flags), m.Input().Fields().Len())
		}
	}
	if got, want := len(kmsVerbs.verbs), methods.Len(); got != want {
		t.Errorf("%d verbs for %d RPCs", got, want)
	}
}

func TestAWSCompatGlobals(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.run(t, "kms", "create-key")
	want := base64.StdEncoding.EncodeToString(fakeSeal(key1, []byte("hello"))) + "\n"
	for _, args := range [][]string{
		{"--cli-binary-format", "base64", "--no-cli-pager", "kms", "encrypt", "--key-id", key1, "--plaintext", "aGVsbG8="},
		{"--cli-binary-format=raw-in-base64-out", "kms", "encrypt", "--key-id", key1, "--plaintext", "hello", "--no-paginate"},
	} {
		code, out, stderr := fx.run(t, append(args, "--output", "text", "--query", "CiphertextBlob")...)
		if code != 0 || out != want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", args, code, out, stderr, want)
		}
	}
}

func TestConsistencyOptions(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	if code, _, errOut := fx.run(t, "kms", "create-key"); code != 0 {
		t.Fatalf("create-key: %s", errOut)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		wantSent map[string]string
		wantErr  string // stderr line: the printed metadata
	}{
		{name: "nothing asked, nothing sent or shown", wantSent: map[string]string{"Trent-Consistency": "", "Trent-Max-Staleness": "", "Trent-Min-Index": ""}},
		{name: "linearizable", args: []string{"--consistency", "linearizable", "--show-consistency"},
			wantSent: map[string]string{"Trent-Consistency": "linearizable"},
			wantErr:  "trent: served-by=fake1 consistency=linearizable applied-index=42 staleness-bound=3.5ms\n"},
		{name: "bounded tightened, read your write", args: []string{"--max-staleness=250ms", "--min-index", "41", "--show-consistency"},
			wantSent: map[string]string{"Trent-Max-Staleness": "250ms", "Trent-Min-Index": "41", "Trent-Consistency": ""},
			wantErr:  "trent: served-by=fake1 consistency=bounded applied-index=42 staleness-bound=3.5ms\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"kms", "describe-key", "--key-id", key1}, tc.args...)
			code, _, errOut := fx.run(t, args...)
			if code != 0 || errOut != tc.wantErr {
				t.Fatalf("exit %d, stderr %q; want 0, %q", code, errOut, tc.wantErr)
			}
			got := fx.sent()
			for k, v := range tc.wantSent {
				if got.Get(k) != v {
					t.Errorf("sent %s = %q, want %q", k, got.Get(k), v)
				}
			}
		})
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--consistency", "eventual"}, `argument --consistency: invalid choice "eventual" (choose from bounded, linearizable)`},
		{[]string{"--max-staleness", "soon"}, `argument --max-staleness: expected a duration such as 250ms, got "soon"`},
		{[]string{"--min-index", "-1"}, `argument --min-index: expected a raft index (a non-negative integer), got "-1"`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			code, _, errOut := fx.run(t, append([]string{"kms", "describe-key", "--key-id", key1}, tc.args...)...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want a usage error with %q", code, errOut, tc.want)
			}
		})
	}
}

func TestRetryableErrorNamesTheLeader(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	code, _, stderr := fx.run(t, "kms", "create-key", "--description", "no quorum")
	want := "An error occurred (DependencyTimeoutException) when calling the CreateKey operation: The service could not reach a quorum in time; retry the request. (the leader is at 127.0.0.1:7710: --endpoint 127.0.0.1:7710)\n"
	if code == 0 || stderr != want {
		t.Fatalf("exit %d, stderr\n%q\nwant\n%q", code, stderr, want)
	}
}
