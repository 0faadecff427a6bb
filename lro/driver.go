package lro

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/outage"
	"github.com/webhookd/webhookd/internal/tracing"
)

// DriverStore is what the Driver needs of a store: the claim and the commit
// of OperationStore.
type DriverStore interface {
	ClaimOperations(ctx context.Context, limit int, lease time.Duration) ([]*webhookd.Operation, error)
	CommitOperationChange(ctx context.Context, c webhookd.OperationChange) error
}

// DriverConfig tunes the Driver; zero fields take the defaults.
type DriverConfig struct {
	// PollInterval is how often the Driver looks for due operations when
	// nothing woke it (default 250ms; job steps are seconds apart).
	PollInterval time.Duration
	// Lease is how long a claimed operation is reserved for one step
	// (default 30s); a process that dies mid-step leaves it to others then.
	Lease time.Duration
	// ClaimLimit is how many operations one claim takes (default 32).
	ClaimLimit int
	// Logger receives step failures (default: discarded).
	Logger *slog.Logger
	// Registerer receives the webhookd_lro_* metrics (nil: not exported).
	Registerer prometheus.Registerer
	// TracerProvider, if set, gets a span for every state change a step
	// commits; nil traces nothing.
	TracerProvider trace.TracerProvider
}

func (c DriverConfig) withDefaults() DriverConfig {
	if c.PollInterval <= 0 {
		c.PollInterval = 250 * time.Millisecond
	}
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.ClaimLimit <= 0 {
		c.ClaimLimit = 32
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Driver runs a Runner against a store: it claims due operations, steps
// each, and commits each step's change (state, files and events together).
// Any number of Drivers may share a store: claims are leases, and a commit
// under a stale claim fails its version check and is dropped.
type Driver struct {
	store   DriverStore
	runner  Runner
	cfg     DriverConfig
	wake    chan struct{}
	metrics *driverMetrics
	tracer  trace.Tracer // nil: tracing off
}

// NewDriver returns a Driver; it fails only when its metrics cannot be
// registered.
func NewDriver(store DriverStore, runner Runner, cfg DriverConfig) (*Driver, error) {
	cfg = cfg.withDefaults()
	metrics, err := newDriverMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("lro: driver metrics: %w", err)
	}
	return &Driver{store: store, runner: runner, cfg: cfg, wake: make(chan struct{}, 1), metrics: metrics,
		tracer: tracing.Tracer(cfg.TracerProvider)}, nil
}

// Wake makes a running Driver look for due operations now (after an API call
// created one), instead of at its next poll.
func (d *Driver) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run steps due operations until ctx ends, then returns nil. Failures are
// logged and retried at a later poll: one bad operation never stops the rest.
func (d *Driver) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	storeDown := outage.New(d.cfg.Logger, nil,
		"lro: the store is unavailable; operations wait until it is back",
		"lro: the store is available again")
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-d.wake:
		}
		for {
			n, err := d.RunOnce(ctx)
			switch {
			case err == nil:
				storeDown.Succeeded(ctx)
			case ctx.Err() != nil:
			case webhookd.ErrorCode(err) == webhookd.EUNAVAILABLE:
				storeDown.Failed(ctx, err) // a restart or failover: once, not every poll
			default:
				d.cfg.Logger.ErrorContext(ctx, "lro: step operations", slog.Any("err", err))
			}
			// A full claim suggests more are due: go again at once.
			if err != nil || n < d.cfg.ClaimLimit || ctx.Err() != nil {
				break
			}
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(d.cfg.PollInterval)
	}
}

// RunOnce claims one batch of due operations and steps each; it returns how
// many it claimed. A step that fails or loses a race (ECONFLICT: a cancel or
// another driver got there first) is logged and skipped; the error returned
// is the claim's, or the commit failures of other kinds, joined.
func (d *Driver) RunOnce(ctx context.Context) (int, error) {
	ops, err := d.store.ClaimOperations(ctx, d.cfg.ClaimLimit, d.cfg.Lease)
	if err != nil {
		return 0, err
	}
	var firstErr error
	for _, op := range ops {
		outcome, err := d.step(ctx, op)
		d.metrics.steps.WithLabelValues(string(op.Kind), outcome).Inc()
		firstErr = errors.Join(firstErr, err)
	}
	return len(ops), firstErr
}

// step runs and commits one claimed operation and tells how it went; the
// error is a commit failure other than losing a race.
func (d *Driver) step(ctx context.Context, op *webhookd.Operation) (outcome string, err error) {
	log := d.cfg.Logger.With(slog.String("operation", op.Name()), slog.String("project", op.ProjectID))
	change, err := d.runner.Step(ctx, op)
	if err != nil {
		log.ErrorContext(ctx, "lro: step failed; retrying when the lease ends", slog.Any("err", err))
		return outcomeFailed, nil
	}
	if change.Empty() {
		return outcomeIdle, nil
	}
	if err := commit(ctx, d.tracer, d.store, op, change); err != nil {
		if webhookd.ErrorCode(err) == webhookd.ECONFLICT || webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
			log.DebugContext(ctx, "lro: step superseded", slog.Any("err", err))
			return outcomeSuperseded, nil
		}
		if webhookd.ErrorCode(err) != webhookd.EUNAVAILABLE { // Run logs an outage once
			log.ErrorContext(ctx, "lro: commit step", slog.Any("err", err))
		}
		return outcomeFailed, err
	}
	for _, n := range change.Update {
		if n.ID == op.ID && n.State != op.State {
			d.metrics.states.WithLabelValues(string(n.Kind), string(n.State)).Inc()
			log.DebugContext(ctx, "lro: stepped", slog.String("state", string(n.State)), slog.Int("events", len(change.Events)))
		}
	}
	return outcomeCommitted, nil
}
