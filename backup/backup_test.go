package backup

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

func TestRoundTripAndCorruption(t *testing.T) {
	h := Header{ClusterID: "c1", NodeID: "n1", Applied: 42, Term: 3, Created: time.Unix(1700000000, 0).UTC(), DomainKeyID: "ab"}
	var buf bytes.Buffer
	if err := Write(&buf, h, func(w io.Writer) error { _, err := w.Write([]byte("snapshot")); return err }); err != nil {
		t.Fatal(err)
	}
	got, snap, err := Read(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	h.Version = Version
	if got != h || string(snap) != "snapshot" {
		t.Fatalf("read %+v %q", got, snap)
	}
	for name, mutate := range map[string]func([]byte) []byte{
		"flipped payload byte": func(b []byte) []byte { b[len(b)-40] ^= 1; return b },
		"flipped checksum":     func(b []byte) []byte { b[len(b)-1] ^= 1; return b },
		"truncated":            func(b []byte) []byte { return b[:len(b)-5] },
		"bad magic":            func(b []byte) []byte { b[0] = 'X'; return b },
		"future version":       func(b []byte) []byte { b[11] = 9; return b },
		"empty":                func([]byte) []byte { return nil },
	} {
		t.Run(name, func(t *testing.T) {
			b := mutate(bytes.Clone(buf.Bytes()))
			if _, _, err := Read(b); !errors.Is(err, ErrFormat) {
				t.Fatalf("Read: %v, want ErrFormat", err)
			}
		})
	}
}
