package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trentkms/trent/backup"
)

// goldenBackup writes a backup of the fsm package's v1 golden snapshot
// with a fixed header, and returns its path.
func goldenBackup(t *testing.T) string {
	t.Helper()
	payload, err := os.ReadFile(filepath.Join("..", "fsm", "testdata", "snapshot-v1.golden"))
	if err != nil {
		t.Fatal(err)
	}
	// The counts a node records of that snapshot (fsm.CountSnapshot).
	counts := backup.Counts{Keys: 3, Grants: 2, Aliases: 0, Users: 2, AccessKeys: 3, Roles: 0, PrincipalPolicies: 0, Nodes: 1}
	h := backup.Header{ClusterID: "c-golden", NodeID: "n1", Applied: 9, Term: 2,
		Created: time.Date(2026, 12, 7, 4, 30, 0, 0, time.UTC), DomainKeyID: "00112233445566778899aabbccddeeff", Counts: counts}
	var buf bytes.Buffer
	if err := backup.Write(&buf, h, func(w io.Writer) error { _, err := w.Write(payload); return err }); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "golden.snap")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSnapshotInspect(t *testing.T) {
	file := goldenBackup(t)
	for _, output := range []string{"json", "text"} {
		t.Run(output, func(t *testing.T) {
			code, out, stderr := runTrent(t, nil, "--output", output, "snapshot", "inspect", file)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			checkGolden(t, "snapshot-inspect-"+output, out)
		})
	}

	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func([]byte) []byte{
		"damaged":   func(b []byte) []byte { b[len(b)/2] ^= 1; return b },
		"truncated": func(b []byte) []byte { return b[:len(b)-1] },
	} {
		t.Run(name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), name+".snap")
			if err := os.WriteFile(bad, mutate(bytes.Clone(data)), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, stderr := runTrent(t, nil, "snapshot", "inspect", bad)
			if code != exitError || out != "" || !strings.Contains(stderr, "checksum mismatch") {
				t.Fatalf("exit %d, stdout %q, stderr %q; want a checksum refusal", code, out, stderr)
			}
		})
	}
}

func TestSnapshotUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"snapshot", "restore", "x.snap"}, "confirm with --force"},
		{[]string{"snapshot", "save"}, "want one FILE"},
		{[]string{"snapshot", "copy", "x"}, `unknown snapshot verb "copy"`},
	} {
		code, _, stderr := runTrent(t, nil, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want usage error %q", tc.args, code, stderr, tc.want)
		}
	}
}
