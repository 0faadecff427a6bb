// Package delivery is the delivery engine: it claims due deliveries from the
// store, signs them, sends them through the guarded HTTP client, and records
// each outcome with the next attempt time its retry policy picks.
//
// The queue is the store's deliveries table and a claim is a lease, so the
// engine keeps no state that matters across restarts: a delivery whose
// attempt did not finish (the process was killed, or shut down with the
// attempt in flight) is claimed again when its lease ends. That is the
// at-least-once guarantee; receivers deduplicate on webhook-id.
//
// Destinations are isolated from each other: each has an in-flight limit
// that adapts to how it answers (limiter) and a circuit breaker. A claim for a destination at its cap waits in memory,
// without a worker, for the destination's next free slot; one whose circuit
// is open, or whose destination hangs with all it may hold waiting, is
// deferred (put back with a later due time). A hanging destination
// therefore holds at most its cap of workers, and only until its circuit
// opens.
//
// An engine works in three stages, each in a file of its own: the claim
// loop (claim.go, paced by the pure decision in pacing.go) claims and
// dispatches, workers (attempt.go) send and decide what follows each
// attempt, and the record loop (record.go) writes the results in batches.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/handoff"
	"github.com/webhookd/webhookd/internal/outage"
	"github.com/webhookd/webhookd/internal/tracing"
	"github.com/webhookd/webhookd/netguard"
	"github.com/webhookd/webhookd/signing"
)

// Queue is the part of webhookd.Store the engine uses; every Store is one.
type Queue interface {
	ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]*webhookd.Claim, error)
	RecordResults(ctx context.Context, results []webhookd.Result) error
	QueueStats(ctx context.Context) (webhookd.QueueStats, error)
}

// Config configures an Engine. Zero fields take the defaults named on them
// (WithDefaults).
type Config struct {
	// Store is where deliveries are claimed and results recorded. Required.
	Store Queue
	// Sealer opens the webhooks' sealed signing secrets. Required for static
	// deliveries.
	Sealer *signing.Sealer
	// JWTSigner signs dynamic deliveries; nil fails them with "dynamic
	// signing is not configured".
	JWTSigner JWTSigner
	// Issuer is the iss claim of dynamic deliveries: the service's public
	// base URL.
	Issuer string
	// Clock gives attempt times (webhook-timestamp, retry arithmetic).
	// Default: the system clock. It should be the store's clock.
	Clock webhookd.Clock
	// Logger receives the engine's log lines; never a secret. Default:
	// discard.
	Logger *slog.Logger
	// Transport sends the requests. Default: NewTransport with a netguard
	// that refuses every non-public address. Production passes the same,
	// with the operator's allow-list or dev mode.
	Transport http.RoundTripper
	// AllowHTTP lets deliveries go to http:// URIs (development mode);
	// otherwise they fail without an attempt.
	AllowHTTP bool
	// ShowRefusals (development mode) records why a destination was
	// refused, or that its name does not exist, in full on the attempt,
	// which the API shows. Otherwise the attempt says only that the
	// destination is not allowed or does not resolve, and the address and
	// its class go to the log: the API must not map the internal network.
	ShowRefusals bool
	// Policy decides retries. Default: DefaultRetryPolicy.
	Policy RetryPolicy
	// Workers caps the attempts in flight in this process. Default 64.
	Workers int
	// PerDestinationLimit is the most attempts in flight to one
	// destination (scheme, host and port). Each destination's limit adapts
	// between 1 and this (see limiter), starting at 16 or this when lower.
	// Default 32: half the default workers, so that one destination never
	// takes more than half of them, however fast it has been.
	PerDestinationLimit int
	// Breaker configures the per-destination circuit breaker.
	Breaker BreakerConfig
	// DeferDelay is the longest spacing between the due times of deferred
	// claims of one destination. They are spaced by the destination's time
	// per attempt divided by PerDestinationLimit, up to this. Default 1s.
	DeferDelay time.Duration
	// Timeout bounds one attempt, from dialling to the end of reading the
	// response. Default 10s.
	Timeout time.Duration
	// Lease is how long a claim is held; a delivery whose attempt did not
	// finish is due again when it ends. It must cover the time a claim may
	// wait for a worker plus its attempt: at least 3×Timeout. Default 60s,
	// or 6×Timeout when that is longer.
	Lease time.Duration
	// DisableAfter is how long a static webhook may fail without a single
	// success before it is disabled_due_to_failed_deliveries. Default 24h;
	// negative turns auto-disable off.
	DisableAfter time.Duration
	// BatchSize is how many deliveries one claim and one result write take
	// at most. Default 100.
	BatchSize int
	// FlushInterval is the longest a result waits to be written with
	// others. Default 50ms.
	FlushInterval time.Duration
	// MaxHeldResults bounds the results kept in memory while the store is
	// unavailable, to be written when it is back; beyond it the oldest are
	// dropped and their deliveries claimed again when their leases end.
	// Default 100×BatchSize.
	MaxHeldResults int
	// PollInterval is how often the store is asked for due deliveries when
	// nothing calls Notify. Default 500ms.
	PollInterval time.Duration
	// StatsInterval is how often the queue gauges are refreshed. Default 5s.
	StatsInterval time.Duration
	// FailureLogInterval is how often, at most, failed attempts to one
	// destination are logged at WARN, with their count since the last
	// line. Default 1m.
	FailureLogInterval time.Duration
	// ShutdownGrace is how long Run waits, once its context ends, for
	// attempts in flight to finish; attempts still running then are
	// abandoned and their deliveries stay leased. Default: Timeout.
	ShutdownGrace time.Duration
	// Registerer receives the engine's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Observe, if set, is told of every attempt (and every delivery failed
	// without one) as its outcome is decided, with the destination it
	// went to (webhookd.DestinationOf). It must not block: the console's
	// activity recorder is one.
	Observe func(c *webhookd.Claim, r webhookd.Result, destination string)
	// TracerProvider, if set, gets a span for every attempt, a child of
	// the publish request's (see webhookd.Event.TraceParent); nil traces
	// nothing.
	TracerProvider trace.TracerProvider
}

// WithDefaults returns c with every zero field set to its default: the one
// place that knows the engine's defaults. New applies it; the command line
// reads it to show and check the same ones.
func (c Config) WithDefaults() Config {
	if kr, ok := c.JWTSigner.(*signing.KeyRing); ok && kr == nil {
		c.JWTSigner = nil // a nil key ring in the interface is "not configured", not a signer
	}
	if c.Clock == nil {
		c.Clock = webhookd.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Transport == nil {
		c.Transport = NewTransport(netguard.New(netguard.Options{}).DialContext)
	}
	if c.Workers <= 0 {
		c.Workers = 64
	}
	if c.PerDestinationLimit <= 0 {
		c.PerDestinationLimit = 32
	}
	c.Breaker = c.Breaker.withDefaults()
	if c.DeferDelay <= 0 {
		c.DeferDelay = time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Lease <= 0 {
		c.Lease = max(time.Minute, 6*c.Timeout)
	}
	if c.DisableAfter == 0 {
		c.DisableAfter = 24 * time.Hour
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.MaxHeldResults <= 0 {
		c.MaxHeldResults = 100 * c.BatchSize
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 50 * time.Millisecond
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 500 * time.Millisecond
	}
	if c.StatsInterval <= 0 {
		c.StatsInterval = 5 * time.Second
	}
	if c.FailureLogInterval <= 0 {
		c.FailureLogInterval = time.Minute
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = c.Timeout
	}
	return c
}

func (c Config) validate() error {
	if c.Store == nil {
		return errors.New("delivery: Config.Store is required")
	}
	if err := c.Policy.Validate(); err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	if c.Lease < 3*c.Timeout {
		return fmt.Errorf("delivery: lease %v is shorter than 3× the attempt timeout %v; a claim could expire while its attempt runs and be sent twice", c.Lease, c.Timeout)
	}
	return nil
}

// Engine delivers events. Create it with New and start it with Run.
type Engine struct {
	cfg      Config
	log      *slog.Logger
	sender   *sender
	dests    *destinations
	metrics  *metrics
	failures *failureLog
	// storeDown logs the store's outages once each (see outage.Log).
	storeDown *outage.Log
	tracer    trace.Tracer // nil: tracing off

	wake    chan struct{} // Notify
	freed   chan struct{} // a worker slot was released
	running atomic.Bool
	busy    atomic.Int64 // attempts in flight
	ended   atomic.Int64 // attempts ended (and queued claims dropped), ever: the queues' drain
	held    atomic.Int64 // results held for a store that is unavailable (see recordLoop)
	hand    handOffs
}

var _ handoff.Target = (*Engine)(nil)

// New checks cfg and returns an engine; nothing runs until Run.
func New(cfg Config) (*Engine, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "delivery"),
		sender: newSender(cfg.Transport, cfg.Sealer, cfg.JWTSigner, cfg.Issuer, cfg.Timeout, cfg.AllowHTTP, cfg.ShowRefusals),
		dests:  newDestinations(cfg.PerDestinationLimit, cfg.Breaker, cfg.DeferDelay, cfg.BatchSize, 10*cfg.BatchSize),
		wake:   make(chan struct{}, 1),
		freed:  make(chan struct{}, 1),
	}
	e.dests.waitHorizon = cfg.Lease / 4
	e.hand.ready = make(chan struct{}, 1)
	e.failures = newFailureLog(e.log, cfg.Clock, cfg.FailureLogInterval)
	e.storeDown = outage.New(e.log, cfg.Clock,
		"the store is unavailable; claims wait and results are kept until it is back",
		"the store is available again")
	e.tracer = tracing.Tracer(cfg.TracerProvider)
	m, err := newMetrics(cfg.Registerer, e.dests.openCircuits, e.dests.limits)
	if err != nil {
		return nil, err
	}
	e.metrics = m
	return e, nil
}

// CircuitState returns the state of a destination's circuit in this
// process: CircuitClosed, CircuitOpen or CircuitHalfOpen.
func (e *Engine) CircuitState(destination string) string {
	return e.dests.circuit(destination, e.cfg.Clock.Now())
}

// ConcurrencyLimit returns a destination's adaptive limit of attempts in
// flight in this process.
func (e *Engine) ConcurrencyLimit(destination string) int {
	return e.dests.concurrencyLimit(destination)
}

// Notify tells the engine that deliveries may have become due, so that it
// claims at once instead of at its next poll. It never blocks. Outside the
// engine only the store that commits calls it (its Listen, wired by
// serve), after every commit that leaves deliveries to claim; the engine
// calls it itself when deliveries it recorded come due.
func (e *Engine) Notify() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then stops claiming, gives attempts in flight
// up to ShutdownGrace to finish, writes every result it has, and returns
// nil. It returns an error only when it cannot start.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("delivery: engine is already running")
	}
	defer e.running.Store(false)

	// Attempts and result writes outlive ctx (bounded by ShutdownGrace), so
	// that what was in flight at shutdown is finished and recorded.
	attemptCtx, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	results := make(chan webhookd.Result, e.cfg.Workers+e.cfg.BatchSize)
	recorded := make(chan struct{})
	go e.recordLoop(context.WithoutCancel(ctx), results, recorded)
	statsDone := make(chan struct{})
	go e.statsLoop(ctx, statsDone)

	r := &run{ctx: ctx, attemptCtx: attemptCtx, results: results}
	e.log.InfoContext(ctx, "delivery engine started", "workers", e.cfg.Workers, "per_destination_limit", e.cfg.PerDestinationLimit)
	e.openHandOffs()
	removeHandOff := func() {}
	if hs, ok := e.cfg.Store.(handoff.Store); ok {
		removeHandOff = hs.HandOffTo(e)
	}
	e.claimLoop(r)
	removeHandOff()
	e.putBack(e.closeHandOffs(e.cfg.ShutdownGrace), results) // handed over, never dispatched

	finished := make(chan struct{})
	go func() { r.attempts.Wait(); close(finished) }()
	grace := time.NewTimer(e.cfg.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-finished:
	case <-grace.C:
		e.log.Warn("abandoning attempts still in flight at shutdown; their deliveries will be claimed again when their leases end",
			"in_flight", e.busy.Load())
		abandon()
		<-finished
	}
	close(results)
	<-recorded
	<-statsDone
	e.failures.stop()
	e.log.Info("delivery engine stopped")
	return nil
}
