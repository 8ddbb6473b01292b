package server

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestWriteFilesIgnoresPlantedTemporaryFiles: whatever sits at the name a
// temporary file once had (a symbolic link out of the data dir, a file
// readable by all), a key written by writeFiles lands only at its own
// name, with mode 0600.
func TestWriteFilesIgnoresPlantedTemporaryFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links and modes differ")
	}
	key := []byte("-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n")
	tests := []struct {
		name  string
		plant func(t *testing.T, tmp, outside string)
	}{
		{"symlink_out", func(t *testing.T, tmp, outside string) {
			if err := os.Symlink(outside, tmp); err != nil {
				t.Fatal(err)
			}
		}},
		{"world_readable_file", func(t *testing.T, tmp, _ string) {
			if err := os.WriteFile(tmp, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(tmp, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			outside := filepath.Join(t.TempDir(), "outside")
			if err := os.WriteFile(outside, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			// The name earlier versions used for the temporary file.
			tt.plant(t, filepath.Join(dir, ".key.pem.tmp"), outside)
			if err := writeFiles(dir, map[string][]byte{"key.pem": key}); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(outside); len(b) != 0 {
				t.Fatal("the key was written through the planted link")
			}
			b, err := os.ReadFile(filepath.Join(dir, "key.pem"))
			if err != nil || !bytes.Equal(b, key) {
				t.Fatalf("key.pem = %q, %v", b, err)
			}
			if fi, _ := os.Lstat(filepath.Join(dir, "key.pem")); !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
				t.Fatalf("key.pem mode = %v", fi.Mode())
			}
		})
	}
}
