package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/trentkms/trent/audit"
)

const auditUsage = `usage: trent [global options] audit <verb> [options]

Reads a node's audit log from local files (no server needed).

Verbs:
  verify [--dir DIR | FILE...] [--expect-head SEQ:HASH]
                                 check the hash chain; prints the records
                                 checked, the chain head, and the first
                                 broken link with its file, line and byte
                                 offset (exit 1 when broken). --expect-head
                                 names a head printed earlier and kept
                                 elsewhere: it must still be on the chain,
                                 which catches records cut off the end and
                                 a rewritten tail
  tail [-n N] [--dir DIR]        print the last N records (default 10), one
                                 JSON object per line

DIR defaults to DATA-DIR/audit (--data-dir, default ./trent-data).
`

// audit runs `trent audit <verb> ...`.
func (c *command) audit(_ context.Context, g *globals, args []string) error {
	if len(args) == 0 || args[0] == "help" || g.help {
		fmt.Fprint(c.stdout, auditUsage)
		return nil
	}
	fs := flag.NewFlagSet("audit "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dataDir := g.dataDir
	if dataDir == "" {
		dataDir = defaultDataDir
	}
	dir := fs.String("dir", filepath.Join(dataDir, "audit"), "audit log directory")
	n := fs.Int("n", 10, "records to print")
	var known []audit.Head
	fs.Func("expect-head", "SEQ:HASH of a head noted earlier", func(v string) error {
		h, err := audit.ParseHead(v)
		known = append(known, h)
		return err
	})
	switch args[0] {
	case "verify", "tail":
	default:
		return &usageError{msg: fmt.Sprintf("unknown audit verb %q (valid: verify, tail)", args[0]), help: auditUsage}
	}
	if err := fs.Parse(args[1:]); err != nil {
		return &usageError{msg: err.Error(), help: auditUsage}
	}
	if *n < 0 {
		return &usageError{msg: "-n must not be negative", help: auditUsage}
	}
	files := fs.Args()
	dirSet := false
	fs.Visit(func(f *flag.Flag) { dirSet = dirSet || f.Name == "dir" })
	if args[0] == "tail" && len(known) > 0 {
		return &usageError{msg: "--expect-head is an option of verify", help: auditUsage}
	}
	if len(files) > 0 && (dirSet || args[0] == "tail") {
		return &usageError{msg: "give --dir or files, not both (tail reads --dir only)", help: auditUsage}
	}
	if len(files) == 0 {
		var err error
		if files, err = audit.Files(*dir); err != nil {
			return fmt.Errorf("audit log %s: %w", *dir, err)
		}
		if len(files) == 0 {
			return fmt.Errorf("no audit files (audit-*.jsonl) in %s", *dir)
		}
	}
	if args[0] == "tail" {
		return c.auditTail(files, *n)
	}
	return c.auditVerify(g, files, known)
}

// verifyReport is what `audit verify` prints.
type verifyReport struct {
	Valid    bool        `json:"Valid"`
	Files    int         `json:"Files"`
	Records  uint64      `json:"Records"`
	FirstSeq uint64      `json:"FirstSeq,omitempty"`
	HeadSeq  uint64      `json:"HeadSeq,omitempty"`
	HeadHash string      `json:"HeadHash,omitempty"`
	BrokenAt *brokenLink `json:"BrokenAt,omitempty"`
}

type brokenLink struct {
	File   string `json:"File"`
	Line   int    `json:"Line"`
	Offset int64  `json:"Offset"`
	Seq    uint64 `json:"Seq,omitempty"`
	Reason string `json:"Reason"`
}

func (c *command) auditVerify(g *globals, files []string, known []audit.Head) error {
	res, err := audit.VerifyFiles(files, known...)
	rep := verifyReport{Valid: err == nil, Files: len(files), Records: res.Records, FirstSeq: res.FirstSeq,
		HeadSeq: res.HeadSeq, HeadHash: res.HeadHash}
	var ce *audit.ChainError
	if errors.As(err, &ce) {
		rep.BrokenAt = &brokenLink{File: ce.Pos.File, Line: ce.Pos.Line, Offset: ce.Pos.Offset, Seq: ce.Seq, Reason: ce.Reason}
	} else if err != nil {
		return err
	}
	if g.output == "text" {
		fmt.Fprintf(c.stdout, "checked %d records in %d files\n", rep.Records, rep.Files)
		if rep.Records > 0 {
			fmt.Fprintf(c.stdout, "chain head: seq %d hash %s\n", rep.HeadSeq, rep.HeadHash)
		}
		if rep.FirstSeq > 1 {
			fmt.Fprintf(c.stdout, "the chain starts at seq %d: older files are not present\n", rep.FirstSeq)
		}
		if ce != nil {
			fmt.Fprintf(c.stdout, "BROKEN at %s: %s\n", ce.Pos, ce.Reason)
		}
	} else {
		b, jerr := json.MarshalIndent(rep, "", "    ")
		if jerr != nil {
			return jerr
		}
		fmt.Fprintln(c.stdout, string(b))
	}
	if err != nil {
		return err
	}
	return nil
}

// auditTail prints the last n lines of the chain that runs through files.
func (c *command) auditTail(files []string, n int) error {
	var lines [][]byte
	for i := len(files) - 1; i >= 0 && len(lines) < n; i-- {
		b, err := os.ReadFile(files[i])
		if err != nil {
			return err
		}
		fileLines := bytes.SplitAfter(b, []byte("\n"))
		if len(fileLines[len(fileLines)-1]) == 0 {
			fileLines = fileLines[:len(fileLines)-1]
		}
		take := min(n-len(lines), len(fileLines))
		lines = append(fileLines[len(fileLines)-take:], lines...)
	}
	for _, l := range lines {
		if !bytes.HasSuffix(l, []byte("\n")) {
			l = append(l, '\n')
		}
		if _, err := c.stdout.Write(l); err != nil {
			return err
		}
	}
	return nil
}
