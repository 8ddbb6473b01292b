package pkcs11_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/trentkms/trent/hsm/pkcs11"
)

func TestReadPIN(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name, file, env, want string
	}{
		{"file with newline", write("a", "1234\n", 0o600), "", "1234"},
		{"file without newline", write("b", "12 34", 0o400), "", "12 34"},
		{"file beats env", write("c", "file\r\n", 0o600), "env", "file"},
		{"env", "", "from-env", "from-env"},
		{"group-readable file", write("d", "1234", 0o640), "", ""},
		{"empty file", write("e", "\n", 0o600), "", ""},
		{"missing file", filepath.Join(dir, "none"), "", ""},
		{"nothing", "", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(pkcs11.PINEnv, c.env)
			pin, err := pkcs11.ReadPIN(c.file)
			if c.want == "" {
				if err == nil {
					t.Fatalf("ReadPIN = %q, want an error", pin)
				}
				return
			}
			if err != nil || string(pin) != c.want {
				t.Fatalf("ReadPIN = %q, %v; want %q", pin, err, c.want)
			}
		})
	}
}
