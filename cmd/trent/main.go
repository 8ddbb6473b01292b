// Command trent is Trent in one binary: `trent server` runs a node (the
// flags of server.Main), and every other command is the client of a
// cluster (package cli): AWS-CLI-style KMS operations (trent kms <verb>),
// administration, a load generator and a local development cluster.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/trentkms/trent/cli"
	"github.com/trentkms/trent/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var code int
	if len(os.Args) > 1 && os.Args[1] == "server" {
		code = server.Main(ctx, "trent server", os.Args[2:], os.Stderr)
	} else {
		code = cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	}
	stop()
	os.Exit(code)
}
