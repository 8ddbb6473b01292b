package soft

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trentkms/trent/hsm"
)

func TestStateFileRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		u    Unsealer
	}{
		{"key_file", InsecureDevKeyFile(filepath.Join(dir, "key"), true)},
		{"passphrase", Passphrase([]byte("correct horse battery staple"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, tt.name+".state")
			h, err := Create(path, tt.u, cheapArgon2)
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("state file mode = %v, %v", fi.Mode(), err)
			}
			ref := newKey(t, h, id(1), id(2))
			body := mustSeal(t, h, ref, id(3), []byte("aad"), []byte("pt"))
			tag, _ := h.MAC(context.Background(), "label", []byte("msg"))
			pub, dkid := h.IdentityPublicKey(), h.DomainKeyID()
			h.Close()

			h2, err := Open(path, tt.u)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer h2.Close()
			mustOpen(t, h2, ref, id(3), []byte("aad"), body, []byte("pt"))
			if !bytes.Equal(h2.IdentityPublicKey(), pub) || h2.DomainKeyID() != dkid {
				t.Fatal("identity or domain key id changed across reopen")
			}
			if tag2, _ := h2.MAC(context.Background(), "label", []byte("msg")); !bytes.Equal(tag, tag2) {
				t.Fatal("MAC changed across reopen")
			}
		})
	}
}

func TestCreateRefusesExistingFile(t *testing.T) {
	t.Parallel()
	h := newTestHSM(t)
	before := readFile(t, h.state)
	for _, create := range []func(string, Unsealer, ...Option) (*HSM, error){Create, CreateWithoutDomain} {
		if _, err := create(h.state, InsecureDevKeyFile(h.key, false)); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("create over an existing file: %v", err)
		}
	}
	if !bytes.Equal(before, readFile(t, h.state)) {
		t.Fatal("state file changed")
	}
}

func TestKeyFiles(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{0x42}, 32)
	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
		wantErr error
	}{
		{"raw", key, 0o600, nil},
		{"hex", []byte(hex.EncodeToString(key)), 0o600, nil},
		{"hex_newline", []byte(hex.EncodeToString(key) + "\n"), 0o400, nil},
		{"hex_upper_crlf", []byte(strings.ToUpper(hex.EncodeToString(key)) + "\r\n"), 0o600, nil},
		{"short", key[:31], 0o600, ErrKeyFileFormat},
		{"long", append(key, 0), 0o600, ErrKeyFileFormat},
		{"bad_hex", []byte(strings.Repeat("zz", 32)), 0o600, ErrKeyFileFormat},
		{"empty", nil, 0o600, ErrKeyFileFormat},
		{"group_readable", key, 0o640, ErrFileMode},
		{"world_readable", key, 0o604, ErrFileMode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			kp := filepath.Join(dir, "key")
			writeFile(t, kp, tt.content)
			if err := os.Chmod(kp, tt.mode); err != nil {
				t.Fatal(err)
			}
			h, err := Create(filepath.Join(dir, "state"), InsecureDevKeyFile(kp, true))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				h.Close()
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestKeyFileCreation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kp := filepath.Join(dir, "key")
	if _, err := Create(filepath.Join(dir, "a"), InsecureDevKeyFile(kp, false)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing key file without create: %v", err)
	}
	h, err := Create(filepath.Join(dir, "a"), InsecureDevKeyFile(kp, true))
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	fi, err := os.Stat(kp)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v", fi.Mode(), err)
	}
	if b := readFile(t, kp); len(b) != 65 || b[64] != '\n' {
		t.Fatalf("key file = %q", b)
	}
	// Open never creates a key file: a new key could not open the state.
	os.Remove(kp)
	if _, err := Open(filepath.Join(dir, "a"), InsecureDevKeyFile(kp, true)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open with a missing key file: %v", err)
	}
	if _, err := os.Stat(kp); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("Open created a key file")
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	kf := newTestHSM(t)
	kfFile := readFile(t, kf.state)
	pdir := t.TempDir()
	ppath := filepath.Join(pdir, "state")
	ph, err := Create(ppath, Passphrase([]byte(testPassphrase)), cheapArgon2)
	if err != nil {
		t.Fatal(err)
	}
	ph.Close()
	pFile := readFile(t, ppath)

	otherKey := filepath.Join(t.TempDir(), "other.key")
	writeFile(t, otherKey, []byte(strings.Repeat("ab", 32)))

	// mutate returns a copy of the key-file state with f applied.
	mutate := func(file []byte, f func(b []byte) []byte) []byte { return f(bytes.Clone(file)) }
	set := func(i int, v byte) func([]byte) []byte { return func(b []byte) []byte { b[i] = v; return b } }
	xor := func(i int) func([]byte) []byte { return func(b []byte) []byte { b[i] ^= 1; return b } }

	tests := []struct {
		name string
		file []byte // nil: the file is missing
		u    Unsealer
		want error
	}{
		{"wrong_key_file", kfFile, InsecureDevKeyFile(otherKey, false), ErrWrongKey},
		{"wrong_passphrase", pFile, Passphrase([]byte(testPassphrase + "!")), ErrWrongKey},
		{"empty_passphrase", pFile, Passphrase(nil), nil},
		{"passphrase_for_key_file_state", kfFile, Passphrase([]byte(testPassphrase)), ErrWrongUnsealer},
		{"key_file_for_passphrase_state", pFile, InsecureDevKeyFile(kf.key, false), ErrWrongUnsealer},
		{"missing", nil, InsecureDevKeyFile(kf.key, false), fs.ErrNotExist},
		{"empty", []byte{}, InsecureDevKeyFile(kf.key, false), ErrCorruptState},
		{"truncated_header", kfFile[:30], InsecureDevKeyFile(kf.key, false), ErrCorruptState},
		{"truncated_body", kfFile[:len(kfFile)-1], InsecureDevKeyFile(kf.key, false), ErrWrongKey},
		{"truncated_to_min", kfFile[:stateHeaderSize+stateSizeNoDK+tagSize-1], InsecureDevKeyFile(kf.key, false), ErrCorruptState},
		{"trailing_byte", append(bytes.Clone(kfFile), 0), InsecureDevKeyFile(kf.key, false), ErrWrongKey},
		{"bad_magic", mutate(kfFile, set(0, 'X')), InsecureDevKeyFile(kf.key, false), ErrCorruptState},
		{"format_2", mutate(kfFile, set(8, 2)), InsecureDevKeyFile(kf.key, false), ErrCorruptState},
		{"kdf_0", mutate(kfFile, set(9, 0)), InsecureDevKeyFile(kf.key, false), ErrCorruptState},
		{"kdf_3", mutate(kfFile, set(9, 3)), InsecureDevKeyFile(kf.key, false), ErrCorruptState},
		{"key_file_with_params", mutate(kfFile, set(18, 1)), InsecureDevKeyFile(kf.key, false), ErrCorruptState},
		{"argon_threads_0", mutate(pFile, set(18, 0)), Passphrase([]byte(testPassphrase)), ErrCorruptState},
		{"argon_time_huge", mutate(pFile, set(10, 0xff)), Passphrase([]byte(testPassphrase)), ErrCorruptState},
		{"argon_memory_huge", mutate(pFile, set(14, 0xff)), Passphrase([]byte(testPassphrase)), ErrCorruptState},
		{"argon_time_changed", mutate(pFile, set(13, 2)), Passphrase([]byte(testPassphrase)), ErrWrongKey},
		{"salt_flipped", mutate(kfFile, xor(20)), InsecureDevKeyFile(kf.key, false), ErrWrongKey},
		{"nonce_flipped", mutate(kfFile, xor(40)), InsecureDevKeyFile(kf.key, false), ErrWrongKey},
		{"body_flipped", mutate(kfFile, xor(60)), InsecureDevKeyFile(kf.key, false), ErrWrongKey},
		{"too_large", append(bytes.Clone(kfFile), make([]byte, maxStateFile)...), InsecureDevKeyFile(kf.key, false), ErrCorruptState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "state")
			if tt.file != nil {
				writeFile(t, path, tt.file)
			}
			h, err := Open(path, tt.u)
			if err == nil {
				h.Close()
				t.Fatal("Open succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestInvalidArgon2ParamsRejectedOnCreate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i, o := range []Option{WithArgon2(0, 64, 1), WithArgon2(1, 64, 0), WithArgon2(1, 4, 1), WithArgon2(1, maxArgon2MemKiB+1, 1)} {
		path := filepath.Join(dir, string(rune('a'+i)))
		if _, err := Create(path, Passphrase([]byte("p")), o); err == nil {
			t.Errorf("option %d accepted", i)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("option %d left a state file", i)
		}
	}
}

func TestDefaultArgon2Params(t *testing.T) {
	t.Parallel()
	var h sealHeader
	Passphrase([]byte("p")).setKDF(&h, newConfig(nil))
	if h.kdf != kdfArgon2id || h.time != 3 || h.memory != 64*1024 || h.threads != 4 {
		t.Fatalf("defaults = %+v", h)
	}
}

func TestStateFileLayout(t *testing.T) {
	t.Parallel()
	h := newTestHSM(t)
	b := readFile(t, h.state)
	if string(b[:8]) != "TRENTHSM" || b[8] != 1 || b[9] != kdfKeyFile ||
		!bytes.Equal(b[10:19], make([]byte, 9)) || len(b) != stateHeaderSize+stateSizeWithDK+tagSize {
		t.Fatalf("state file = %x", b)
	}
	n := newTestHSMDomain(t, false)
	if b := readFile(t, n.state); len(b) != stateHeaderSize+stateSizeNoDK+tagSize {
		t.Fatalf("no-domain state file has %d bytes", len(b))
	}
	if entries, _ := os.ReadDir(h.dir); len(entries) != 2 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestParseStateRoundTrip(t *testing.T) {
	t.Parallel()
	s, err := newState(seeded(3), true)
	if err != nil {
		t.Fatal(err)
	}
	b := s.marshal()
	got, err := parseState(b)
	if err != nil || !bytes.Equal(got.marshal(), b) {
		t.Fatalf("parseState: %v", err)
	}
	bad := bytes.Clone(b)
	bad[len(bad)-1] ^= 1 // domain key id no longer matches the key
	if _, err := parseState(bad); err != ErrCorruptState {
		t.Fatalf("parseState(bad dkid) = %v", err)
	}
}

func TestNoDomainKey(t *testing.T) {
	t.Parallel()
	h := newTestHSMDomain(t, false)
	ctx := context.Background()
	ref := hsm.KeyRef{Spec: hsm.SymmetricDefault, EKT: make([]byte, 78)}
	errs := map[string]error{}
	_, errs["GenerateKey"] = h.GenerateKey(ctx, hsm.SymmetricDefault, id(1), id(2))
	_, errs["Seal"] = h.Seal(ctx, ref, id(3), nil, nil)
	_, errs["Open"] = h.Open(ctx, ref, id(3), nil, make([]byte, 28))
	_, errs["MAC"] = h.MAC(ctx, "l", nil)
	_, errs["ExportDomain"] = h.ExportDomain(ctx, h.IdentityPublicKey(), nil)
	for name, err := range errs {
		if !errors.Is(err, ErrNoDomainKey) || !errors.Is(err, hsm.ErrSealed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if h.DomainKeyID() != ([16]byte{}) {
		t.Error("DomainKeyID is not zero without a domain key")
	}
	if _, err := h.Random(ctx, 8); err != nil {
		t.Errorf("Random: %v", err)
	}
}
