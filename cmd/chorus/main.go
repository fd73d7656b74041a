// Command chorus runs the Chorus live-chat platform: every role in one
// process by default, or the roles named by --roles. Subcommands issue
// tokens, create tenants and manage migrations.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/enkisys/chorus/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "chorus:", err)
		os.Exit(app.ExitCode(err))
	}
}
