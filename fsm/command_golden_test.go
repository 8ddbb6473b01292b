package fsm

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Raft log entries written by the first release must decode and re-encode
// to the same bytes in every later release: a log is replayed, not
// migrated. testdata/commands-v1.golden holds one entry of every command,
// as Encode wrote it (without the leading version byte, one per line). Its
// lines are never changed; a new command adds one.
func TestDecodesCommandsFromTheFirstRelease(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "commands-v1.golden"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[Op]bool{}
	for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		entry := append([]byte{commandVersion}, line...)
		c, err := Decode(entry)
		if err != nil {
			t.Fatalf("decode %s: %v", line, err)
		}
		b, err := Encode(c)
		if err != nil {
			t.Fatalf("re-encode %s: %v", line, err)
		}
		if !bytes.Equal(b, entry) {
			t.Fatalf("re-encoded differently:\n got %s\nwant %s", b[1:], line)
		}
		seen[c.Op()] = true
	}
	for op := range registry {
		if !seen[op] {
			t.Errorf("golden file has no %s entry: add one", op)
		}
	}
}

// Applied in order, the golden entries give the results in
// testdata/commands-v1.results: the same entries apply identically. A new
// golden entry adds a result with -rewrite; a change to an old result is
// a change to how the log applies, which a release must not make.
func TestAppliesCommandsFromTheFirstReleaseIdentically(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "commands-v1.golden"))
	if err != nil {
		t.Fatal(err)
	}
	f := New()
	var got bytes.Buffer
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		r := f.Apply(Entry{Index: uint64(i + 1), Data: append([]byte{commandVersion}, line...)})
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got.Write(append(b, '\n'))
	}
	path := filepath.Join("testdata", "commands-v1.results")
	if *rewrite {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("results differ:\n got %s\nwant %s", got.Bytes(), want)
	}
}
