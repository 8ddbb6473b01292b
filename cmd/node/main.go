// Command node runs a Trent node. With no flags it starts an embedded
// single-node cluster in ./trent-data serving https://127.0.0.1:7700.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/trentkms/trent/server"
)

func main() {
	cfg, err := server.ParseArgs(os.Args[1:], os.Stderr)
	if errors.Is(err, server.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := server.Run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		os.Exit(1)
	}
}
