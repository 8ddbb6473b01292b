package server

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Main runs a node from its command line (args, without the program
// name) until ctx ends, and returns the process's exit code: 0 after a
// clean shutdown or --help, 1 when the node fails, 2 for a bad command
// line. name is the command as its usage and errors call it ("node",
// "trent server"). Both binaries' mains are this call.
func Main(ctx context.Context, name string, args []string, stderr io.Writer) int {
	cfg, err := parseArgs(name, args, stderr)
	if errors.Is(err, ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	if err := Run(ctx, cfg); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}
