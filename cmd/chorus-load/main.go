// Command chorus-load drives a Chorus server through its public API with many
// 1:1 conversations and reports latency, loss and the server's resource use.
// It exits 1 when the run cannot start and 2 when the run found a problem
// (loss, unacknowledged or refused sends, real duplicates, gaps, failed setups).
//
//	chorus-load --url http://127.0.0.1:8080 --tenant demo --jwt-secret S \
//	    --conns 200 --rate 200 --duration 10s --pid $(pidof chorus) --json out.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/enkisys/chorus/internal/loadtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := loadtest.ParseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "chorus-load:", err)
		return 1
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rep, err := loadtest.Run(ctx, cfg, logger, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "chorus-load:", err)
		return 1
	}
	fmt.Fprint(stderr, rep.Text())
	if err := rep.Write(cfg.JSONPath, stdout, cfg.PrintJSON); err != nil {
		fmt.Fprintln(stderr, "chorus-load:", err)
		return 1
	}
	if !rep.OK {
		return 2
	}
	return 0
}
