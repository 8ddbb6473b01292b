package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	nodev1 "github.com/trentkms/trent/gen/trent/node/v1"
	"github.com/trentkms/trent/gen/trent/node/v1/nodev1connect"
)

const nodeUsage = `usage: trent node <verb>

Verbs:
  unseal   unseal the node at --endpoint, started with --sealed-start, with
           the soft HSM's passphrase or the PKCS#11 token's user PIN (admin
           only). The secret is read from the terminal without echo or, when
           stdin is not a terminal, from the first line of stdin; it is
           never an argument, which would show in ps and shell history. A
           wrong one leaves the node sealed; after three, each attempt waits
           longer.
`

// maxSecret bounds a passphrase or PIN read from stdin (the node takes at
// most 1 KiB from a passphrase file too).
const maxSecret = 1024

func (c *command) node(ctx context.Context, g *globals, args []string) error {
	if len(args) == 0 || args[0] == "help" || g.help {
		fmt.Fprint(c.stdout, nodeUsage)
		return nil
	}
	if args[0] != "unseal" {
		return &usageError{msg: fmt.Sprintf("unknown node verb %q (valid: unseal)", args[0]), help: nodeUsage}
	}
	if len(args) != 1 {
		return &usageError{msg: "trent node unseal takes no arguments: it reads the passphrase or PIN from the terminal or stdin", help: nodeUsage}
	}
	t, err := resolveTarget(g, c.lookupEnv)
	if err != nil {
		return err
	}
	hc, err := t.httpClient(g.connectTimeout)
	if err != nil {
		return err
	}
	secret, err := c.readSecret("Passphrase or PIN of the HSM of the node at " + t.baseURL + ": ")
	if err != nil {
		return err
	}
	defer clear(secret)
	r, err := nodev1connect.NewNodeServiceClient(hc, t.baseURL).Unseal(ctx, &nodev1.UnsealRequest{Secret: secret})
	if err != nil {
		return &callError{op: "Unseal", endpoint: t.baseURL, err: err}
	}
	fmt.Fprintf(c.stdout, "unsealed %s\n", r.NodeId)
	return nil
}

// readSecret reads a passphrase or PIN: from the terminal, after prompt on
// stderr and without echo, when stdin is one; else the first line of
// stdin (without its line ending). The caller clears it.
func (c *command) readSecret(prompt string) ([]byte, error) {
	if f, ok := c.stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(c.stderr, prompt)
		b, err := readNoEcho(f)
		fmt.Fprintln(c.stderr)
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase: %w", err)
		}
		return trimSecret(b)
	}
	r := bufio.NewReaderSize(io.LimitReader(c.stdin, maxSecret+1), maxSecret+1)
	line, err := r.ReadSlice('\n')
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("reading the passphrase from stdin: %w", err)
	}
	if len(line) > maxSecret {
		clear(line)
		return nil, fmt.Errorf("the passphrase on stdin is longer than %d bytes", maxSecret)
	}
	out := bytes.Clone(line)
	clear(line)
	return trimSecret(out)
}

// trimSecret drops b's line ending; an empty secret is an error.
func trimSecret(b []byte) ([]byte, error) {
	s := bytes.TrimRight(b, "\r\n")
	if len(s) == 0 {
		clear(b)
		return nil, errors.New("no passphrase or PIN: type it at the prompt or give it as the first line of stdin")
	}
	return s, nil
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
