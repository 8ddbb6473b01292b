// Command node runs a Trent node, as `trent server` does (the same flags;
// see server.Main). With no flags it starts an embedded single-node
// cluster in ./trent-data serving https://127.0.0.1:7700.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/trentkms/trent/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := server.Main(ctx, "node", os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}
