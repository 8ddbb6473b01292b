package server_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/trentkms/trent/server"
)

// testPassphrase is long enough for a new node.
const testPassphrase = "correct horse battery staple"

// writePassphrase writes a passphrase file with mode perm and returns its
// path.
func writePassphrase(t *testing.T, content string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "passphrase")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPassphraseFileRefusals(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no group and other permission bits")
	}
	tests := []struct {
		name    string
		content string
		perm    os.FileMode
		wantErr string
	}{
		{"group_readable", testPassphrase, 0o640, "chmod 600"},
		{"world_readable", testPassphrase + "\n", 0o644, "chmod 600"},
		{"short", "hunter2\n", 0o600, "at least 16 bytes"},
		{"one_short", strings.Repeat("x", 15), 0o600, "at least 16 bytes"},
		{"empty", "\n", 0o600, "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := testConfig(dir)
			cfg.HSMPassphraseFile = writePassphrase(t, tt.content, tt.perm)
			s, err := server.Start(context.Background(), cfg)
			if err == nil {
				s.Close()
				t.Fatal("the node started")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
			if _, err := os.Stat(filepath.Join(dir, "hsm", "state")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("an HSM state file was sealed with a refused passphrase: %v", err)
			}
		})
	}
}
