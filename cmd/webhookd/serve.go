package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/activity"
	"github.com/webhookd/webhookd/api"
	"github.com/webhookd/webhookd/console"
	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/filter"
	"github.com/webhookd/webhookd/internal/maintenance"
	"github.com/webhookd/webhookd/internal/tracing"
	"github.com/webhookd/webhookd/lro"
	"github.com/webhookd/webhookd/signing"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := defaultConfig()
	if err := cfg.fromEnv(); err != nil {
		return err
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.bindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	return serve(ctx, cfg, stdout, logger)
}

// gcPercent is the garbage collector's target that serve sets when GOGC is
// not set. webhookd's live heap is small (tens of MiB, however long the
// backlog: it lives in the store), so at Go's default of 100 the collector
// runs often: its workers alone took 5-7% of the CPU of a busy delivery run.
// At 200 it runs half as often, for a heap that may grow to three times the
// live one instead of two (about 3 MiB more RSS, and 8-12% more deliveries
// a second in `webhookd bench --batch 100`). GOGC (and GOMEMLIMIT) set by
// the operator win.
const gcPercent = 200

// tuneGC sets the collector's target to gcPercent unless GOGC is set.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
}

// newLogger returns JSON logs in production and text logs in development.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.LogFormat
	if format == "" {
		format = "json"
		if cfg.Dev {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// loadSealer returns the sealer for the master key from WEBHOOKD_MASTER_KEY
// or, failing that, the key file (created on first start).
func loadSealer(cfg Config, logger *slog.Logger) (*signing.Sealer, error) {
	if cfg.MasterKey != "" {
		k, err := signing.ParseMasterKey(cfg.MasterKey)
		if err != nil {
			return nil, fmt.Errorf("WEBHOOKD_MASTER_KEY: %w", err)
		}
		return signing.NewSealer(k)
	}
	path := cfg.masterKeyFile()
	k, err := signing.LoadOrCreateMasterKey(path)
	if err != nil {
		return nil, err
	}
	logger.Info("master key loaded", "file", path)
	return signing.NewSealer(k)
}

// serve runs the API and the delivery engine until ctx ends, then shuts down
// in order: stop accepting requests and finish the ones in flight, then stop
// the engine (in-flight attempts finish and their results are recorded;
// anything unfinished stays leased and is retried after the lease), then
// close the store. Nothing acknowledged is lost at any point: every
// acknowledged event is already committed with its deliveries.
func serve(ctx context.Context, cfg Config, stdout io.Writer, logger *slog.Logger) error {
	tuneGC()
	clock := webhookd.SystemClock{}
	sealer, err := loadSealer(cfg, logger)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	filters, err := filter.NewCompiler(reg)
	if err != nil {
		return fmt.Errorf("filters: %w", err)
	}
	st, err := openStoreFiltering(ctx, cfg.DB, true, clock, logger, filters)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := bootstrap(ctx, st, cfg.APIKey, clock, stdout, logger); err != nil {
		return err
	}

	tp, err := tracing.FromEnv(ctx, os.Getenv, webhookd.Version)
	if err != nil {
		return err
	}
	if tp != nil {
		cfg.tracing = tp
		logger.Info("tracing on", "exporter", tp.Exporter)
		defer func() {
			// Spans still batched are sent before the process exits.
			flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := tp.Shutdown(flushCtx); err != nil {
				logger.Warn("tracing: flush spans", "err", err)
			}
		}()
	}

	ring, err := signing.NewKeyRing(ctx, signing.KeyRingConfig{Store: st, Sealer: sealer, Clock: clock, Logger: logger})
	if err != nil {
		return fmt.Errorf("key ring: %w", err)
	}
	maint, err := maintenance.New(maintenance.Config{
		Store: st, Keys: ring, Clock: clock, Logger: logger,
		Retention: cfg.retention(),
	})
	if err != nil {
		return err
	}

	rec := activity.New(clock)
	guard, uriPolicy := destinations(cfg)
	eng, err := newEngine(cfg, guard, st, sealer, ring, clock, reg, logger, rec)
	if err != nil {
		return err
	}

	ops, driver, err := newOperations(cfg, uriPolicy, st, eng, clock, reg, logger)
	if err != nil {
		return err
	}

	ui, err := console.New(cfg.PathPrefix)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	handler, err := api.New(api.Config{
		Store:             st,
		Sealer:            sealer,
		Catalog:           webhookd.NewCatalog(cfg.EventTypes...),
		URIPolicy:         uriPolicy,
		Clock:             clock,
		Logger:            logger,
		LogRequests:       cfg.Dev, // a new user sees what reached the API
		PathPrefix:        cfg.PathPrefix,
		Ready:             st.Ping,
		Metrics:           promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		JWKS:              ring.JWKSHandler(),
		Registerer:        reg,
		Operations:        ops,
		AdminKey:          cfg.AdminKey,
		PublicURL:         cfg.PublicURL,
		Console:           ui,
		Activity:          rec,
		Circuits:          eng.CircuitState,
		ConcurrencyLimits: eng.ConcurrencyLimit,
		TracerProvider:    cfg.tracing,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(rec.Close) // live streams end, so that shutdown need not wait for them

	engCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Go(func() {
		if err := eng.Run(engCtx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("delivery engine: %w", err)
		}
	})
	wg.Go(func() { _ = driver.Run(engCtx) })
	wg.Go(func() { maint.Run(engCtx) })
	if l, ok := st.(listener); ok {
		wg.Go(func() {
			if err := l.Listen(engCtx, eng.Notify); err != nil && !errors.Is(err, context.Canceled) {
				logger.Warn("cross-process wake-ups stopped", "err", err)
			}
		})
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http server: %w", err)
		}
	}()
	kind, _, _ := parseDB(cfg.DB)
	logger.Info("webhookd listening", "addr", ln.Addr().String(), "console", publicURL(cfg)+cfg.PathPrefix+"/console/", "db", kind, "dev", cfg.Dev, "version", webhookd.Version)

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case runErr = <-errc:
		logger.Error("stopping after a fatal error", "err", runErr)
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("http shutdown", "err", err)
	}
	stopEngine()
	wg.Wait()
	logger.Info("stopped")
	return runErr
}

// newOperations builds the long-running operations: the built-in simulator
// driven by a Driver, and the Service the API's job routes call. Commits
// that emit events wake the delivery engine.
func newOperations(cfg Config, uriPolicy webhookd.URIPolicy, st webhookd.Store, eng *delivery.Engine, clock webhookd.Clock, reg prometheus.Registerer, logger *slog.Logger) (*lro.Service, *lro.Driver, error) {
	m, err := lro.New(lro.Config{
		SimJobDuration:  cfg.SimJob,
		BatchExpiry:     cfg.BatchExpiry,
		FileQuota:       cfg.FileQuota,
		OutputRetention: cfg.OutputKeep,
		PublicBaseURL:   publicURL(cfg) + cfg.PathPrefix,
		URIPolicy:       uriPolicy,
		TracerProvider:  cfg.tracing,
	})
	if err != nil {
		return nil, nil, err
	}
	driver, err := lro.NewDriver(st, lro.NewSimulator(m, st, clock), lro.DriverConfig{Logger: logger, Registerer: reg, TracerProvider: cfg.tracing})
	if err != nil {
		return nil, nil, err
	}
	svc := lro.NewService(m, st, clock, driver.Wake)
	return svc, driver, nil
}

// listener is implemented by stores that can wake this process when another
// process publishes (PostgreSQL LISTEN/NOTIFY).
type listener interface {
	Listen(ctx context.Context, wake func()) error
}

// publicURL is the issuer of delivery JWTs: the configured public URL, or
// the listen address for local use.
func publicURL(cfg Config) string {
	if cfg.PublicURL != "" {
		return strings.TrimSuffix(cfg.PublicURL, "/")
	}
	return "http://" + cfg.Addr
}
