package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ErrTampered is wrapped by every error that reports a broken chain.
var ErrTampered = errors.New("audit chain broken")

// maxLine bounds one line; records are far smaller (a 32 KB key policy is
// the largest member).
const maxLine = 4 << 20

// Result summarizes a verified chain.
type Result struct {
	// Records is the number of records checked.
	Records uint64
	// FirstSeq is the seq of the first record: 1 when the chain starts at
	// its genesis, more when older files were removed.
	FirstSeq uint64
	// HeadSeq and HeadHash identify the last record, the chain head.
	HeadSeq  uint64
	HeadHash string
}

// Position locates a line: the file (empty for a plain reader), the line
// number from 1 and the byte offset of its start.
type Position struct {
	File   string
	Line   int
	Offset int64
}

func (p Position) String() string {
	if p.File == "" {
		return fmt.Sprintf("line %d (byte %d)", p.Line, p.Offset)
	}
	return fmt.Sprintf("%s:%d (byte %d)", p.File, p.Line, p.Offset)
}

// ChainError is the first broken link of a chain: where it is, the seq of
// the record there (0 when it could not be parsed) and what is wrong.
type ChainError struct {
	Pos    Position
	Seq    uint64
	Reason string
}

func (e *ChainError) Error() string {
	if e.Seq != 0 {
		return fmt.Sprintf("audit chain broken at %s, seq %d: %s", e.Pos, e.Seq, e.Reason)
	}
	return fmt.Sprintf("audit chain broken at %s: %s", e.Pos, e.Reason)
}

func (e *ChainError) Unwrap() error { return ErrTampered }

// Head identifies a record noted earlier, for example a chain head that
// `trent audit verify` printed and an operator kept elsewhere.
type Head struct {
	Seq  uint64
	Hash string
}

// ParseHead parses SEQ:HASH.
func ParseHead(s string) (Head, error) {
	seq, hash, ok := strings.Cut(s, ":")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil || n == 0 || len(hash) != hashLen || !isLowerHex([]byte(hash)) {
		return Head{}, fmt.Errorf("a head is SEQ:HASH (seq from 1, 64 lowercase hex digits), not %q", s)
	}
	return Head{Seq: n, Hash: hash}, nil
}

// Verify checks the chain in r, a log file or the concatenation of
// consecutive ones: every line must be a record whose hash matches, whose
// seq is one more than the previous record's and whose prevHash is the
// previous record's hash. It detects a modified, inserted, deleted or
// reordered record, a span cut out of the middle and a torn last line, and
// reports the first broken link as a *ChainError. Cutting records off the
// end leaves a valid, shorter chain; known heads, noted earlier, catch
// that and a rewrite of the whole tail: each must be on the chain (its
// seq present with that hash) unless it is older than the first record.
func Verify(r io.Reader, known ...Head) (Result, error) {
	c := chain{known: known}
	if err := c.read(r, ""); err != nil {
		return c.res, err
	}
	return c.res, c.end()
}

// VerifyFiles checks one chain that runs through paths in order, as
// [Files] lists them.
func VerifyFiles(paths []string, known ...Head) (Result, error) {
	c := chain{known: known}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return c.res, err
		}
		err = c.read(f, p)
		f.Close()
		if err != nil {
			return c.res, err
		}
	}
	return c.res, c.end()
}

// chain is the state of a verification in progress.
type chain struct {
	res   Result
	known []Head
	last  Position
}

// end checks, once every line is read, that no known head lies beyond the
// chain's end.
func (c *chain) end() error {
	for _, h := range c.known {
		if h.Seq > c.res.HeadSeq {
			return &ChainError{Pos: c.last, Seq: c.res.HeadSeq, Reason: fmt.Sprintf(
				"the chain ends at seq %d, before the known head seq %d: records were cut off the end", c.res.HeadSeq, h.Seq)}
		}
	}
	return nil
}

// read checks every line of r, continuing the chain.
func (c *chain) read(r io.Reader, file string) error {
	br := bufio.NewReaderSize(r, 64<<10)
	pos := Position{File: file}
	var next int64
	for {
		line, err := readLine(br)
		pos.Line++
		pos.Offset = next
		next += int64(len(line))
		switch {
		case errors.Is(err, io.EOF) && len(line) == 0:
			return nil
		case errors.Is(err, io.EOF):
			return &ChainError{Pos: pos, Reason: "the last line is incomplete (torn write or truncated file)"}
		case errors.Is(err, bufio.ErrBufferFull):
			return &ChainError{Pos: pos, Reason: fmt.Sprintf("line longer than %d bytes", maxLine)}
		case err != nil:
			return fmt.Errorf("read %s: %w", pos, err)
		}
		if err := c.check(line[:len(line)-1], pos); err != nil {
			return err
		}
	}
}

// readLine returns the next line with its newline, or what is left before
// EOF without one.
func readLine(br *bufio.Reader) ([]byte, error) {
	var long []byte
	for {
		part, err := br.ReadSlice('\n')
		if err == nil && long == nil {
			return part, nil
		}
		long = append(long, part...)
		if len(long) > maxLine {
			return long, bufio.ErrBufferFull
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return long, err
		}
	}
}

// check verifies one line against the chain so far.
func (c *chain) check(line []byte, pos Position) error {
	if len(bytes.TrimSpace(line)) == 0 {
		return &ChainError{Pos: pos, Reason: "empty line"}
	}
	r, err := ParseLine(line)
	if err != nil {
		return &ChainError{Pos: pos, Reason: err.Error()}
	}
	if c.res.Records == 0 {
		if r.Seq == 1 && r.PrevHash != GenesisHash {
			return &ChainError{Pos: pos, Seq: r.Seq, Reason: "the first record of the chain does not link to the genesis hash"}
		}
		c.res.FirstSeq = r.Seq
	} else {
		switch {
		case r.Seq <= c.res.HeadSeq:
			return &ChainError{Pos: pos, Seq: r.Seq, Reason: fmt.Sprintf("seq %d follows seq %d: records reordered or replayed", r.Seq, c.res.HeadSeq)}
		case r.Seq != c.res.HeadSeq+1:
			return &ChainError{Pos: pos, Seq: r.Seq, Reason: fmt.Sprintf("seq %d follows seq %d: %d record(s) missing", r.Seq, c.res.HeadSeq, r.Seq-c.res.HeadSeq-1)}
		case r.PrevHash != c.res.HeadHash:
			return &ChainError{Pos: pos, Seq: r.Seq, Reason: fmt.Sprintf("prevHash %s is not the hash %s of seq %d: a record was replaced or inserted", r.PrevHash, c.res.HeadHash, c.res.HeadSeq)}
		}
	}
	for _, h := range c.known {
		if h.Seq == r.Seq && h.Hash != r.Hash {
			return &ChainError{Pos: pos, Seq: r.Seq, Reason: fmt.Sprintf(
				"hash %s is not the known head's %s: the chain was rewritten from here or earlier", r.Hash, h.Hash)}
		}
	}
	c.res.Records++
	c.res.HeadSeq, c.res.HeadHash = r.Seq, r.Hash
	c.last = pos
	return nil
}
