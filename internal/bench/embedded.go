package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/webhookd/webhookd/signing"
)

// Embedded is how a run without --url has webhookd started in this
// process: in development mode (loopback destinations allowed) on a fresh
// SQLite database, with these settings; the rest are the defaults.
type Embedded struct {
	Addr                string // listen address, on loopback
	DB                  string // WEBHOOKD_DB
	APIKey              string // WEBHOOKD_API_KEY
	MasterKey           string // WEBHOOKD_MASTER_KEY
	LogLevel            string
	RetrySchedule       string
	RetryWindow         time.Duration
	Timeout             time.Duration // of one delivery attempt
	Workers             int
	PerDestinationLimit int
	ShutdownGrace       time.Duration
}

// ServeFunc runs webhookd as e says until ctx ends, logging to logger, and
// returns at once if it cannot start. cmd/webhookd's is its serve command.
type ServeFunc func(ctx context.Context, e Embedded, logger *slog.Logger) error

// startEmbedded runs webhookd in this process on a fresh SQLite database in
// a temporary directory, in development mode (loopback destinations
// allowed), with a random API key and master key, a short retry schedule
// and a 2 s delivery timeout. stop shuts it down and removes the directory.
func startEmbedded(ctx context.Context, o *Options, serve ServeFunc, logger *slog.Logger) (base, apiKey string, stop func() error, err error) {
	dir, err := os.MkdirTemp("", "webhookd-bench-")
	if err != nil {
		return "", "", nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", "", nil, err
	}
	e := Embedded{
		Addr:          addr,
		DB:            "sqlite:" + filepath.Join(dir, "bench.db"),
		APIKey:        "bench-" + randomHex(16),
		MasterKey:     randomHex(signing.MasterKeySize),
		LogLevel:      o.logLevel,
		RetrySchedule: retrySchedule,
		RetryWindow:   time.Minute,
		// A hanging destination's attempts time out, fail and are retried
		// within a phase of the hang scenario (4 s at 500 events/s), as
		// they would over a longer hang with the default 10 s.
		Timeout:             embeddedTimeout,
		Workers:             o.workers,
		PerDestinationLimit: o.perDest,
		ShutdownGrace:       time.Second,
	}
	srvCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- serve(srvCtx, e, logger) }()
	stop = func() error {
		cancel()
		err := <-errc
		return errors.Join(err, os.RemoveAll(dir))
	}
	// serve fails fast (bad config, port taken) or listens; Ready tells.
	select {
	case err := <-errc:
		cancel()
		_ = os.RemoveAll(dir)
		return "", "", nil, fmt.Errorf("embedded webhookd: %w", err)
	case <-time.After(50 * time.Millisecond):
	}
	return "http://" + addr, e.APIKey, stop, nil
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
