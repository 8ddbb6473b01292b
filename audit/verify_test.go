package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/trentkms/trent/audit"
)

// chainLines returns the lines (without newlines) of a fresh n-record log.
func chainLines(t *testing.T, n int) [][]byte {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	for i := range n {
		if err := l.Record(context.Background(), encryptCall(i)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	files, _ := audit.Files(dir)
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

func join(lines [][]byte) []byte {
	var b []byte
	for _, l := range lines {
		b = append(b, l...)
		b = append(b, '\n')
	}
	return b
}

// rehash recomputes a modified line's own hash, as a forger would.
func rehash(line []byte) []byte {
	const suffix = 64 + len(`,"hash":""}`)
	body := append(append([]byte{}, line[:len(line)-suffix]...), '}')
	sum := sha256.Sum256(body)
	return append(body[:len(body)-1], `,"hash":"`+hex.EncodeToString(sum[:])+`"}`...)
}

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name     string
		tamper   func(lines [][]byte) []byte
		wantLine int    // 0: the chain verifies
		wantSeq  uint64 // seq reported at the break
		reason   string
	}{
		{"intact", func(l [][]byte) []byte { return join(l) }, 0, 0, ""},
		{"modified record", func(l [][]byte) []byte {
			l[2] = bytes.Replace(l[2], []byte(`"Encrypt"`), []byte(`"Decrypt"`), 1)
			return join(l)
		}, 3, 0, "does not match its hash"},
		{"modified and rehashed", func(l [][]byte) []byte {
			l[2] = rehash(bytes.Replace(l[2], []byte(`"Encrypt"`), []byte(`"Decrypt"`), 1))
			return join(l)
		}, 4, 4, "replaced or inserted"},
		{"deleted record", func(l [][]byte) []byte {
			return join(append(l[:2:2], l[3:]...))
		}, 3, 4, "1 record(s) missing"},
		{"span cut from the middle", func(l [][]byte) []byte {
			return join(append(l[:1:1], l[4:]...))
		}, 2, 5, "3 record(s) missing"},
		{"reordered", func(l [][]byte) []byte {
			l[1], l[2] = l[2], l[1]
			return join(l)
		}, 2, 3, "1 record(s) missing"},
		{"replayed", func(l [][]byte) []byte {
			return join(append(l[:3:3], l[1:]...))
		}, 4, 2, "reordered or replayed"},
		{"torn last line", func(l [][]byte) []byte {
			b := join(l)
			return b[:len(b)-20]
		}, 5, 0, "incomplete"},
		{"line cut in the middle", func(l [][]byte) []byte {
			l[2] = l[2][:len(l[2])/2]
			return join(l)
		}, 3, 0, "does not end with its hash"},
		{"empty line", func(l [][]byte) []byte {
			return join(append(l[:2:2], append([][]byte{{}}, l[2:]...)...))
		}, 3, 0, "empty line"},
		{"first record not from genesis", func(l [][]byte) []byte {
			l[0] = rehash(bytes.Replace(l[0], []byte(`"prevHash":"0000`), []byte(`"prevHash":"1111`), 1))
			return join(l)
		}, 1, 1, "genesis"},
		{"older files removed", func(l [][]byte) []byte { return join(l[2:]) }, 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			res, err := audit.Verify(bytes.NewReader(tt.tamper(chainLines(t, 5))))
			if tt.wantLine == 0 {
				if err != nil {
					t.Fatalf("intact chain: %v", err)
				}
				if res.HeadSeq != 5 || res.Records != 5+1-res.FirstSeq {
					t.Fatalf("result %+v", res)
				}
				return
			}
			var ce *audit.ChainError
			if !errors.As(err, &ce) || !errors.Is(err, audit.ErrTampered) {
				t.Fatalf("got %v (result %+v), want a ChainError", err, res)
			}
			if ce.Pos.Line != tt.wantLine || ce.Seq != tt.wantSeq || !strings.Contains(ce.Reason, tt.reason) {
				t.Fatalf("got %v (line %d seq %d), want line %d seq %d %q", err, ce.Pos.Line, ce.Seq, tt.wantLine, tt.wantSeq, tt.reason)
			}
			if res.Records != uint64(tt.wantLine-1) {
				t.Fatalf("%d records counted before the break at line %d", res.Records, tt.wantLine)
			}
		})
	}
}

func TestVerifyFilesReportsTheFile(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 1500)
	for i := range 8 {
		if err := l.Record(context.Background(), encryptCall(i)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	files, _ := audit.Files(dir)
	if len(files) < 3 {
		t.Fatalf("%d files", len(files))
	}
	// Removing a whole file from the middle breaks the chain at the next.
	if err := os.Remove(files[1]); err != nil {
		t.Fatal(err)
	}
	_, err := audit.VerifyFiles(append(files[:1:1], files[2:]...))
	var ce *audit.ChainError
	if !errors.As(err, &ce) || ce.Pos.File != files[2] || ce.Pos.Line != 1 || !strings.Contains(ce.Reason, "missing") {
		t.Fatalf("got %v", err)
	}
}

func FuzzParseLine(f *testing.F) {
	for _, l := range chainLinesF(f) {
		f.Add(l)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"seq":1,"hash":"00"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := audit.ParseLine(line)
		if err != nil {
			return
		}
		// A line that parses carries its own correct hash, which the
		// verifier then accepts as a one-record chain (unless it claims
		// to be seq 1 without the genesis link).
		sum := sha256.Sum256(append(append([]byte{}, line[:len(line)-len(`,"hash":"`)-66]...), '}'))
		if hex.EncodeToString(sum[:]) != r.Hash {
			t.Fatalf("parsed with hash %s, body hashes to %x", r.Hash, sum)
		}
		if _, err := audit.Verify(bytes.NewReader(append(append([]byte{}, line...), '\n'))); err != nil &&
			!(r.Seq == 1 && r.PrevHash != audit.GenesisHash) {
			t.Fatalf("ParseLine accepts what Verify rejects: %v", err)
		}
	})
}

// chainLinesF seeds the fuzzer with real records.
func chainLinesF(f *testing.F) [][]byte {
	dir := f.TempDir()
	l := openLog(f, dir, 0)
	for i := range 2 {
		if err := l.Record(context.Background(), encryptCall(i)); err != nil {
			f.Fatal(err)
		}
	}
	l.Close()
	files, _ := audit.Files(dir)
	b, _ := os.ReadFile(files[0])
	return bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

// FuzzVerify feeds arbitrary logs to the verifier: it must never panic,
// and whatever it accepts must be a chain of records that parse.
func FuzzVerify(f *testing.F) {
	f.Add(join(chainLinesF(f)))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := audit.Verify(bytes.NewReader(data))
		if err == nil && res.Records != uint64(bytes.Count(data, []byte("\n"))) {
			t.Fatalf("accepted %d records from %d lines", res.Records, bytes.Count(data, []byte("\n")))
		}
	})
}

func TestVerifyKnownHeads(t *testing.T) {
	a := chainLines(t, 5)
	resA, err := audit.Verify(bytes.NewReader(join(a)))
	if err != nil {
		t.Fatal(err)
	}
	// Record 4 of chain a, as an operator would have noted it.
	r4, err := audit.ParseLine(a[3])
	if err != nil {
		t.Fatal(err)
	}
	head4 := audit.Head{Seq: 4, Hash: r4.Hash}

	// A different chain of the same length: the whole log rewritten.
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	for i := range 5 {
		if err := l.Record(context.Background(), encryptCall(100+i)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	files, _ := audit.Files(dir)
	rewritten, _ := os.ReadFile(files[0])

	tests := []struct {
		name     string
		log      []byte
		known    []audit.Head
		wantLine int
		reason   string
	}{
		{"on the chain", join(a), []audit.Head{head4, {Seq: 5, Hash: resA.HeadHash}}, 0, ""},
		{"cut off the end", join(a[:3]), []audit.Head{head4}, 3, "cut off the end"},
		{"rewritten", rewritten, []audit.Head{head4}, 4, "rewritten"},
		{"older than the first record present", join(a[4:]), []audit.Head{head4}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			_, err := audit.Verify(bytes.NewReader(tt.log), tt.known...)
			if tt.wantLine == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ce *audit.ChainError
			if !errors.As(err, &ce) || ce.Pos.Line != tt.wantLine || !strings.Contains(ce.Reason, tt.reason) {
				t.Fatalf("got %v, want line %d %q", err, tt.wantLine, tt.reason)
			}
		})
	}
}

func TestParseHead(t *testing.T) {
	h := strings.Repeat("ab", 32)
	if got, err := audit.ParseHead("12:" + h); err != nil || got != (audit.Head{Seq: 12, Hash: h}) {
		t.Fatalf("%+v %v", got, err)
	}
	for _, bad := range []string{"", "12", "0:" + h, "x:" + h, "12:" + h[:63], "12:" + strings.ToUpper(h)} {
		if _, err := audit.ParseHead(bad); err == nil {
			t.Errorf("ParseHead(%q) accepted", bad)
		}
	}
}
