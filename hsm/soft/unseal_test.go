package soft

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

// testPassphrase is long enough for a new state file.
const testPassphrase = "correct horse battery staple"

func TestReadPassphraseFile(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no group and other permission bits")
	}
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string // the passphrase, if wantErr is nil
		wantErr error
	}{
		{"plain", testPassphrase, 0o600, testPassphrase, nil},
		{"owner_read_only", testPassphrase, 0o400, testPassphrase, nil},
		{"newline", testPassphrase + "\n", 0o600, testPassphrase, nil},
		{"crlf", testPassphrase + "\r\n", 0o600, testPassphrase, nil},
		{"inner_and_trailing_space_kept", " a b " + testPassphrase + " \n", 0o600, " a b " + testPassphrase + " ", nil},
		{"group_readable", testPassphrase, 0o640, "", ErrFileMode},
		{"group_writable", testPassphrase, 0o620, "", ErrFileMode},
		{"world_readable", testPassphrase, 0o604, "", ErrFileMode},
		{"empty", "", 0o600, "", ErrEmptyPassphraseFile},
		{"only_newlines", "\n\r\n", 0o600, "", ErrEmptyPassphraseFile},
		{"max_length", strings.Repeat("x", maxSecretFile), 0o600, strings.Repeat("x", maxSecretFile), nil},
		{"too_long", strings.Repeat("x", maxSecretFile+1), 0o600, "", ErrFileTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "pass")
			writeFile(t, path, []byte(tt.content))
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			got, err := ReadPassphraseFile(path)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("ReadPassphraseFile = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := ReadPassphraseFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// A passphrase file may be a symbolic link (a mounted secret often is),
// but the mode that counts is that of the file it opens.
func TestReadPassphraseFileChecksTheOpenedFile(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no group and other permission bits")
	}
	dir := t.TempDir()
	target, link := filepath.Join(dir, "target"), filepath.Join(dir, "link")
	writeFile(t, target, []byte(testPassphrase))
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadPassphraseFile(link); err != nil || string(got) != testPassphrase {
		t.Fatalf("through a link to a 0600 file: %q, %v", got, err)
	}
	if err := os.Chmod(target, 0o644); err != nil {
		t.Fatal(err)
	}
	// The mode error's text is what tells the operator how to fix it.
	want := fmt.Sprintf("soft: passphrase file: %s has mode -rw-r--r--; it must not be accessible by group or others (chmod 600 %s)", link, link)
	if _, err := ReadPassphraseFile(link); !errors.Is(err, ErrFileMode) || err.Error() != want {
		t.Fatalf("through a link to a 0644 file: %v, want ErrFileMode: %s", err, want)
	}
}

func TestKeyFileRefusesSymlink(t *testing.T) {
	t.Parallel()
	if oNoFollow == 0 {
		t.Skip("no O_NOFOLLOW on this system")
	}
	dir := t.TempDir()
	target, link := filepath.Join(dir, "target"), filepath.Join(dir, "link")
	writeFile(t, target, bytes.Repeat([]byte{0x42}, keySize))
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	for _, create := range []bool{false, true} {
		_, err := Create(filepath.Join(dir, "state"), InsecureDevKeyFile(link, create))
		if !errors.Is(err, ErrSymlink) || !isSymlinkRefusal(err) {
			t.Fatalf("InsecureDevKeyFile(link, %v): %v", create, err)
		}
	}
	// A dangling link is not replaced by a new key file either.
	os.Remove(target)
	if _, err := Create(filepath.Join(dir, "state"), InsecureDevKeyFile(link, true)); err == nil {
		t.Fatal("created a state file through a dangling key file link")
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a key file was written through the link: %v", err)
	}
}

func TestPassphraseMinLength(t *testing.T) {
	t.Parallel()
	short := strings.Repeat("p", MinPassphraseLen-1)
	tests := []struct {
		name    string
		p       string
		wantErr error
	}{
		{"one_short", short, ErrShortPassphrase},
		{"tiny", "hunter2", ErrShortPassphrase},
		{"min", short + "p", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, create := range []func(string, Unsealer, ...Option) (*HSM, error){Create, CreateWithoutDomain} {
				path := filepath.Join(t.TempDir(), "state")
				h, err := create(path, Passphrase([]byte(tt.p)), cheapArgon2)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("create: %v, want %v", err, tt.wantErr)
				}
				if err == nil {
					h.Close()
					continue
				}
				if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
					t.Fatal("a refused passphrase left a state file")
				}
			}
		})
	}
}

// A state file sealed with a short passphrase before the minimum existed
// still opens: the passphrase of a state file cannot be changed, and
// refusing it would lock the node out of its keys.
func TestOpenAcceptsShortPassphraseOfExistingState(t *testing.T) {
	t.Parallel()
	pass := []byte("hunter2")
	c := newConfig([]Option{cheapArgon2, WithRand(seeded(9))})
	var h sealHeader
	Passphrase(pass).setKDF(&h, c)
	copy(h.salt[:], "0123456789abcdef")
	kek := argon2.IDKey(pass, h.salt[:], h.time, h.memory, h.threads, keySize)
	s, err := newState(c.rand(), true)
	if err != nil {
		t.Fatal(err)
	}
	file, err := sealState(&h, kek, c.rand(), s)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "state")
	writeFile(t, path, file)
	o, err := Open(path, Passphrase(pass))
	if err != nil {
		t.Fatalf("Open with the short passphrase the file was sealed with: %v", err)
	}
	defer o.Close()
	if o.DomainKeyID() != s.dkid {
		t.Fatal("opened a different state")
	}
}
