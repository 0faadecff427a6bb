package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/webhookd/webhookd/internal/bench"
)

// runBench runs "webhookd bench"; the webhookd it starts in-process (no
// --url) is this command's serve.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return bench.Main(ctx, args, stdout, stderr, serveEmbedded)
}

// serveEmbedded is serve in development mode with the settings the bench
// picked, the defaults for the rest.
func serveEmbedded(ctx context.Context, e bench.Embedded, logger *slog.Logger) error {
	cfg := defaultConfig()
	cfg.Dev = true
	cfg.Addr, cfg.DB, cfg.APIKey, cfg.MasterKey = e.Addr, e.DB, e.APIKey, e.MasterKey
	cfg.LogLevel = e.LogLevel
	cfg.RetrySchedule, cfg.RetryWindow = e.RetrySchedule, e.RetryWindow
	cfg.Timeout, cfg.Workers, cfg.PerDestLimit = e.Timeout, e.Workers, e.PerDestinationLimit
	cfg.ShutdownGrace = e.ShutdownGrace
	if err := cfg.validate(); err != nil {
		return err
	}
	return serve(ctx, cfg, io.Discard, logger)
}
