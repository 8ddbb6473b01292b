// Command trent is the client of a Trent cluster: AWS-CLI-style KMS
// operations (trent kms <verb>) and a load generator (trent bench).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/trentkms/trent/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
