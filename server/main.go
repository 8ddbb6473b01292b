package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Main runs a node from its command line (args, without the program
// name) until ctx ends, and returns the process's exit code: 0 after a
// clean shutdown or --help, 1 when the node fails, 2 for a bad command
// line. name is the command as its usage and errors call it ("node",
// "trent server"). Both binaries' mains are this call.
//
// SIGHUP reloads the configuration: the command line is read again (the
// config file, then the flags, which still win) and the node applies what
// can change while it runs (see [Server.Reload]).
func Main(ctx context.Context, name string, args []string, stderr io.Writer) int {
	cfg, err := parseArgs(name, args, stderr)
	if errors.Is(err, ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	err = run(ctx, cfg, hup, func() (Config, error) { return parseArgs(name, args, io.Discard) })
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// Run starts a node and serves until ctx ends, then shuts down cleanly.
func Run(ctx context.Context, cfg Config) error { return run(ctx, cfg, nil, nil) }

// run is Run that also reloads the configuration reread returns on each
// value of reload.
func run(ctx context.Context, cfg Config, reload <-chan os.Signal, reread func() (Config, error)) error {
	s, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			s.log.Info("shutting down")
			return s.Close()
		case err := <-s.served:
			s.Close()
			return fmt.Errorf("API server stopped: %w", err)
		case <-reload:
			s.log.Info("SIGHUP: reloading the configuration")
			next, err := reread()
			if err != nil {
				s.log.Error("configuration not reloaded: it is not valid; nothing changed", "err", err)
				continue
			}
			_, _, _ = s.Reload(next)
		}
	}
}
