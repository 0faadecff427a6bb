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
// Destinations are isolated from each other: each has an in-flight cap and a
// circuit breaker, and a claim for a destination that is at its cap or whose
// circuit is open is deferred (put back with a later due time) instead of
// waiting for a worker. A hanging destination therefore holds at most its
// cap of workers, and only until its circuit opens.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/handoff"
	"github.com/webhookd/webhookd/netguard"
	"github.com/webhookd/webhookd/signing"
)

// Queue is the part of webhookd.Store the engine uses; every Store is one.
type Queue interface {
	ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]*webhookd.Claim, error)
	RecordResults(ctx context.Context, results []webhookd.Result) error
	QueueStats(ctx context.Context) (webhookd.QueueStats, error)
}

// Config configures an Engine. Zero fields take the defaults named on them.
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
	// Policy decides retries. Default: DefaultRetryPolicy.
	Policy RetryPolicy
	// Workers caps the attempts in flight in this process. Default 64.
	Workers int
	// PerDestinationLimit caps the attempts in flight to one destination
	// (scheme, host and port). Default 16.
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
	// PollInterval is how often the store is asked for due deliveries when
	// nothing calls Notify. Default 500ms.
	PollInterval time.Duration
	// StatsInterval is how often the queue gauges are refreshed. Default 5s.
	StatsInterval time.Duration
	// ShutdownGrace is how long Run waits, once its context ends, for
	// attempts in flight to finish; attempts still running then are
	// abandoned and their deliveries stay leased. Default: Timeout.
	ShutdownGrace time.Duration
	// Registerer receives the engine's metrics; nil registers none.
	Registerer prometheus.Registerer
}

func (c Config) withDefaults() Config {
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
		c.PerDestinationLimit = 16
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
	if c.FlushInterval <= 0 {
		c.FlushInterval = 50 * time.Millisecond
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 500 * time.Millisecond
	}
	if c.StatsInterval <= 0 {
		c.StatsInterval = 5 * time.Second
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
	cfg     Config
	log     *slog.Logger
	sender  *sender
	dests   *destinations
	metrics *metrics

	wake    chan struct{} // Notify
	freed   chan struct{} // a worker slot was released
	running atomic.Bool
	busy    atomic.Int64 // attempts in flight
	ended   atomic.Int64 // attempts ended (and queued claims dropped), ever: the queues' drain
	hand    handOffs
}

var _ handoff.Target = (*Engine)(nil)

// New checks cfg and returns an engine; nothing runs until Run.
func New(cfg Config) (*Engine, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "delivery"),
		sender: newSender(cfg.Transport, cfg.Sealer, cfg.JWTSigner, cfg.Issuer, cfg.Timeout, cfg.AllowHTTP),
		dests:  newDestinations(cfg.PerDestinationLimit, cfg.Breaker, cfg.DeferDelay, cfg.BatchSize, 10*cfg.BatchSize),
		wake:   make(chan struct{}, 1),
		freed:  make(chan struct{}, 1),
	}
	e.hand.ready = make(chan struct{}, 1)
	m, err := newMetrics(cfg.Registerer, e.dests.openCircuits)
	if err != nil {
		return nil, err
	}
	e.metrics = m
	return e, nil
}

// Notify tells the engine that deliveries may have become due, so that it
// claims at once instead of at its next poll. It never blocks; the API calls
// it after publishing an event.
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

	var attempts sync.WaitGroup
	e.log.InfoContext(ctx, "delivery engine started", "workers", e.cfg.Workers, "per_destination_limit", e.cfg.PerDestinationLimit)
	e.openHandOffs()
	removeHandOff := func() {}
	if hs, ok := e.cfg.Store.(handoff.Store); ok {
		removeHandOff = hs.HandOffTo(e)
	}
	e.claimLoop(ctx, attemptCtx, results, &attempts)
	removeHandOff()
	e.putBack(e.closeHandOffs(e.cfg.ShutdownGrace), results) // handed over, never dispatched

	finished := make(chan struct{})
	go func() { attempts.Wait(); close(finished) }()
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
	e.log.Info("delivery engine stopped")
	return nil
}

// saturatedWait is the longest the claim loop waits for an attempt to end
// after a batch that filled a destination's slots.
const saturatedWait = 10 * time.Millisecond

// wholeBatchWait is how long the claim loop may wait for the queues to free
// room for a whole claim batch, and drainWindow the shortest time over which
// it measures how fast they free it (see claimLoop's small).
const (
	wholeBatchWait = 50 * time.Millisecond
	drainWindow    = 10 * time.Millisecond
)

// tooSmall says whether a claim of limit rows is not worth making yet, with
// queued claims waiting in the queues, which free drain places a second.
func tooSmall(limit, minBatch, batch, queued int, drain float64) bool {
	switch {
	case limit < minBatch:
		return true
	case limit >= batch || queued < batch:
		return false
	}
	return float64(batch-limit) <= drain*wholeBatchWait.Seconds()
}

// claimLoop claims due deliveries and starts their attempts until ctx ends.
// It claims the next batch only when every claim of the last one has been
// handed to a worker (or settled without one), so a claim waits for a worker
// at most about BatchSize/Workers attempt timeouts (see Config.Lease).
//
// It claims no faster than the destinations take the claims: after a batch
// that filled a destination's slots (some claims were queued, or deferred
// because the queue was full too), it waits for an attempt to end before it
// claims again (for saturatedWait at most) — by then the destination's pace
// is usually known and its queue has room — and it claims only as many as
// the queues have room for, waiting for room when they are full. Claims
// taken sooner would mostly be deferred: written back and claimed again,
// work that can halve the rate to a busy destination. The wait ends at the
// poll interval at the latest; then it claims what free workers can take,
// so that destinations with free slots are served even while others'
// queues are full.
//
// Deliveries handed over at publish (see handOffs) are dispatched as soon as
// they come, whatever the loop waits for; they never cause a claim.
func (e *Engine) claimLoop(ctx, attemptCtx context.Context, results chan<- webhookd.Result, attempts *sync.WaitGroup) {
	poll := time.NewTimer(e.cfg.PollInterval)
	defer poll.Stop()
	minBatch := max(e.cfg.BatchSize/4, 1)
	// drain is how many claims leave the queues per second (attempts
	// ending), measured over at least drainWindow.
	var (
		drain      float64
		drainN     int64
		drainSince = e.cfg.Clock.Now()
	)
	// small says whether a claim of limit is not worth making yet: below
	// minBatch, or below a whole batch while the queues still hold a
	// batch's worth of work and drain fast enough to free the rest of the
	// batch within wholeBatchWait. Each claim is a write transaction, and a
	// claim made the moment a quarter batch of room frees up, behind a deep
	// queue, costs the same for a quarter of the rows; behind a slow
	// destination's queue, waiting for a whole batch would delay the claims
	// of others for as long as it takes that destination to take it.
	small := func(limit int) bool {
		if now := e.cfg.Clock.Now(); now.Sub(drainSince) >= drainWindow {
			n := e.ended.Load()
			drain = float64(n-drainN) / now.Sub(drainSince).Seconds()
			drainN, drainSince = n, now
		}
		return tooSmall(limit, minBatch, e.cfg.BatchSize, e.dests.queuedTotal(), drain)
	}
	// nextLimit is the size of the next claim, if made now.
	nextLimit := func() int { return min(e.cfg.BatchSize, e.claimRoom()) }
	saturated := false // the last batch filled a destination's slots
	waiting := false   // the poll timer is set for the current wait
	short := false     // … and the wait is the short one after a saturating batch
	// handed dispatches what was handed over; it reports false when ctx
	// ended meanwhile.
	handed := func() bool {
		sat, ok := e.dispatchAll(ctx, attemptCtx, e.takeHanded(), results, attempts)
		saturated = saturated || sat
		return ok
	}
	for {
		if ctx.Err() != nil || !handed() {
			return
		}
		limit := nextLimit()
		if tooFew := small(limit); saturated || tooFew {
			if !waiting {
				// With room, the wait after a saturating batch is short:
				// the destination that filled up may be one that never
				// answers, and the next batch may be for others.
				wait := e.cfg.PollInterval
				if short = !tooFew; short {
					wait = min(wait, saturatedWait)
				}
				poll.Reset(wait)
				waiting = true
			}
			select {
			case <-ctx.Done():
				return
			case <-e.hand.ready:
				continue // dispatch them, and wait on until the same deadline
			case <-e.freed:
				if limit = nextLimit(); small(limit) {
					continue // still no room: wait on, until the same poll deadline
				}
			case <-poll.C:
				// After a whole poll interval without room, claim anyway
				// what the workers could start: the queues may be full
				// of one destination's claims while others wait in the
				// store. Not after the short wait: a claim beyond the
				// room would only be written back.
				if limit = nextLimit(); small(limit) {
					if short {
						waiting, saturated = false, false
						continue
					}
					limit = max(limit, min(e.cfg.BatchSize, e.cfg.Workers-int(e.busy.Load())), 1)
				}
			}
			waiting, saturated = false, false
		}
		e.reserve(limit)
		claims, err := e.cfg.Store.ClaimDeliveries(ctx, limit, e.cfg.Lease)
		if err != nil && ctx.Err() == nil {
			e.log.ErrorContext(ctx, "claiming deliveries failed", "err", err)
		}
		sat, ok := e.dispatchAll(ctx, attemptCtx, claims, results, attempts)
		e.reserve(0)
		if !ok {
			return
		}
		saturated = saturated || sat
		if len(claims) == limit {
			continue // more are probably due
		}
		poll.Reset(e.cfg.PollInterval)
	idle:
		for {
			select {
			case <-ctx.Done():
				return
			case <-e.hand.ready:
				if !handed() {
					return
				}
			case <-e.wake:
				break idle
			case <-poll.C:
				break idle
			}
		}
	}
}

// dispatchAll dispatches claims in order, waiting for a worker whenever all
// are busy. It reports whether one of them found its destination's slots
// full (see dispatch), and false when ctx ended first; the claims not
// dispatched then are put back, due at once, for whichever engine runs
// next.
func (e *Engine) dispatchAll(ctx, attemptCtx context.Context, claims []*webhookd.Claim, results chan<- webhookd.Result, attempts *sync.WaitGroup) (saturated, ok bool) {
	for i := 0; i < len(claims); {
		if e.busy.Load() >= int64(e.cfg.Workers) {
			select {
			case <-ctx.Done():
				e.putBack(claims[i:], results)
				return saturated, false
			case <-e.freed:
			}
			continue
		}
		if e.dispatch(ctx, attemptCtx, claims[i], results, attempts) {
			saturated = true
		}
		i++
	}
	return saturated, true
}

// dispatch starts an attempt for c, queues it for its destination, or
// settles it without one: fails it when it must not be sent, defers it when
// its destination is busy (and its queue full), hangs, or its circuit is
// open. It reports whether c found its destination's slots full (c was
// queued, or deferred because the queue was full too) — not when the
// destination hangs: no attempt of it is about to end, so waiting for one
// would only delay the next claims, for other destinations.
func (e *Engine) dispatch(runCtx, attemptCtx context.Context, c *webhookd.Claim, results chan<- webhookd.Result, attempts *sync.WaitGroup) (saturated bool) {
	d := c.Delivery
	now := e.cfg.Clock.Now()
	if reason := notAttempted(c, e.cfg.JWTSigner != nil); reason != "" {
		e.log.Info("delivery failed without an attempt", "delivery", d.ID, "event", d.EventID, "reason", reason)
		results <- e.fail(c, reason)
		return false
	}
	key := destinationKey(d.URI)
	switch a, retryAt := e.dests.acquire(key, c, now); a {
	case queued:
		return true
	case deferred, busy:
		r := e.deferral(c, now)
		r.NextAttemptTime = retryAt
		results <- r
		return a == busy
	}
	e.busy.Add(1)
	e.metrics.inflight.Inc()
	attempts.Add(1)
	go func() {
		defer attempts.Done()
		defer func() {
			e.busy.Add(-1)
			e.metrics.inflight.Dec()
			e.signalFreed()
		}()
		e.work(runCtx, attemptCtx, key, c, results)
	}()
	return false
}

// work is one worker: it sends c, then, while its destination has claims
// queued, the next of them in the same slot.
func (e *Engine) work(runCtx, attemptCtx context.Context, key string, c *webhookd.Claim, results chan<- webhookd.Result) {
	for c != nil {
		v, took := verdictNeutral, time.Duration(0)
		start := time.Now()
		if r, sent := e.attempt(attemptCtx, c); sent {
			// The destination's pace is how long the attempt held its
			// slot — signing included, which for an RS256 JWT takes
			// longer than a loopback POST — unless nothing was sent.
			v = r.verdict
			if r.took > 0 {
				took = time.Since(start)
			}
			results <- r.result
		} // else abandoned at shutdown: the lease will expire
		for {
			now := e.cfg.Clock.Now()
			next, put := e.dests.finish(key, v, took, now, runCtx.Err() != nil)
			e.ended.Add(1)
			for _, p := range put {
				r := e.deferral(p.Claim, now)
				r.NextAttemptTime = p.At
				results <- r
			}
			if next != nil {
				e.signalFreed() // its place in the queue is free
			}
			c = next
			// A claim that waited in the queue must still hold its lease
			// for a whole attempt; otherwise it goes back, spaced like the
			// destination's other deferrals.
			if c == nil || !c.Delivery.NextAttemptTime.Before(now.Add(e.cfg.Timeout+e.cfg.FlushInterval+time.Second)) {
				break
			}
			r := e.deferral(c, now)
			r.NextAttemptTime = e.dests.later(key, now)
			results <- r
			v, took = verdictNeutral, 0
		}
	}
}

// putBack makes claims no worker took due again at once, for whichever
// engine runs next.
func (e *Engine) putBack(claims []*webhookd.Claim, results chan<- webhookd.Result) {
	now := e.cfg.Clock.Now()
	for _, c := range claims {
		results <- e.deferral(c, now)
	}
}

// signalFreed tells a waiting claimLoop that a worker or a queue place was
// released. It never blocks.
func (e *Engine) signalFreed() {
	select {
	case e.freed <- struct{}{}:
	default:
	}
}

// notAttempted returns why c must fail without an attempt, or "".
func notAttempted(c *webhookd.Claim, canSignDynamic bool) string {
	switch {
	case c.Delivery.Kind == webhookd.DeliveryDynamic:
		if !canSignDynamic {
			return "dynamic signing is not configured"
		}
	case c.WebhookState == webhookd.WebhookEnabled:
	case c.WebhookState == "":
		return "webhook was deleted; not attempted"
	case c.WebhookState == webhookd.WebhookDisabledDueToFailedDeliveries:
		return "webhook was disabled after failing continuously; not attempted (re-enable it and recover its failed deliveries)"
	default:
		return fmt.Sprintf("webhook is %s; not attempted", c.WebhookState)
	}
	return ""
}

type attemptOutcome struct {
	result  webhookd.Result
	verdict verdict
	took    time.Duration
}

// attempt sends c once and decides what happens next. sent is false when ctx
// ended first (shutdown): then nothing is recorded.
func (e *Engine) attempt(ctx context.Context, c *webhookd.Claim) (out attemptOutcome, sent bool) {
	d := c.Delivery
	now := e.cfg.Clock.Now()
	r, err := e.sender.send(ctx, c, now)
	if err != nil {
		e.log.Debug("attempt abandoned at shutdown", "delivery", d.ID)
		return out, false
	}
	if r.err != nil && !r.err.Retryable() {
		// Nothing was sent, and sending will never work: fail without an
		// attempt record, with the reason.
		e.log.Warn("delivery failed without an attempt", "delivery", d.ID, "event", d.EventID, "stage", r.err.Stage, "reason", r.err.Message)
		return attemptOutcome{result: e.fail(c, r.err.Message), verdict: verdictNeutral}, true
	}

	e.metrics.attemptSeconds.Observe(r.latency.Seconds())
	res := webhookd.Result{
		DeliveryID: d.ID,
		LeaseToken: d.LeaseToken,
		Attempt: &webhookd.Attempt{
			ID:              webhookd.NewSortableID(webhookd.PrefixAttempt, now),
			DeliveryID:      d.ID,
			Number:          d.AttemptCount + 1,
			Time:            now,
			StatusCode:      r.statusCode,
			Latency:         r.latency,
			ResponseBody:    r.body,
			ResponseHeaders: r.headers,
		},
	}
	if d.Kind == webhookd.DeliveryStatic && e.cfg.DisableAfter > 0 {
		res.DisableAfter = e.cfg.DisableAfter
	}
	if r.err == nil {
		res.Outcome = webhookd.OutcomeSucceeded
		e.metrics.deliveries.WithLabelValues(string(res.Outcome)).Inc()
		return attemptOutcome{result: res, verdict: verdictHealthy, took: r.latency}, true
	}

	res.Attempt.Error, res.Attempt.ErrorStage = r.err.Message, string(r.err.Stage)
	first := now
	if d.FirstAttemptTime != nil {
		first = *d.FirstAttemptTime
	}
	next, retry := e.cfg.Policy.Next(RetryParams{
		Attempt:      d.AttemptCount + 1,
		FirstAttempt: first,
		Now:          now,
		RetryAfter:   r.retryAfter,
		Random:       rand.Float64(),
	})
	if retry {
		res.Outcome, res.NextAttemptTime = webhookd.OutcomeRetry, next
		e.log.Debug("attempt failed; will retry", "delivery", d.ID, "event", d.EventID, "attempt", res.Attempt.Number,
			"stage", r.err.Stage, "error", r.err.Message, "next_attempt_time", next)
	} else {
		res.Outcome = webhookd.OutcomeFailed
		e.log.Info("delivery failed: retry window ended", "delivery", d.ID, "event", d.EventID, "attempts", res.Attempt.Number,
			"stage", r.err.Stage, "error", r.err.Message)
	}
	e.metrics.deliveries.WithLabelValues(string(res.Outcome)).Inc()
	return attemptOutcome{result: res, verdict: verdictOf(r.err), took: r.latency}, true
}

// verdictOf says whether a failure means the destination is in trouble.
// Only those open its circuit: a receiver that promptly answers 400 or 404
// costs no worker time, and its deliveries follow the normal schedule.
func verdictOf(err *AttemptError) verdict {
	switch err.Stage {
	case StageRefused, StageRequest, StageSign:
		return verdictNeutral // nothing went over the network
	case StageStatus:
		if err.StatusCode >= 500 || err.StatusCode == http.StatusTooManyRequests || err.StatusCode == http.StatusRequestTimeout {
			return verdictFailing
		}
		return verdictHealthy
	}
	return verdictFailing
}

func (e *Engine) fail(c *webhookd.Claim, reason string) webhookd.Result {
	e.metrics.deliveries.WithLabelValues(string(webhookd.OutcomeFailed)).Inc()
	return webhookd.Result{DeliveryID: c.Delivery.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeFailed, Error: reason}
}

// deferral returns a deferral of c, due at now; callers may move it later.
func (e *Engine) deferral(c *webhookd.Claim, now time.Time) webhookd.Result {
	e.metrics.deliveries.WithLabelValues(string(webhookd.OutcomeDeferred)).Inc()
	return webhookd.Result{DeliveryID: c.Delivery.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeDeferred, NextAttemptTime: now}
}

// recordLoop writes results in batches: when BatchSize have gathered, or
// FlushInterval after the first of a batch arrived. It returns, after a last
// write, when in is closed.
func (e *Engine) recordLoop(ctx context.Context, in <-chan webhookd.Result, done chan<- struct{}) {
	defer close(done)
	batch := make([]webhookd.Result, 0, e.cfg.BatchSize)
	flush := time.NewTimer(e.cfg.FlushInterval)
	flush.Stop()
	defer flush.Stop()
	wakeups := newWakeups(e.cfg.Clock, e.Notify)
	defer wakeups.stop()
	write := func() {
		if len(batch) > 0 {
			e.record(ctx, batch)
			// What was put back for later is due again at its
			// NextAttemptTime: wake the claim loop then.
			for _, r := range batch {
				if r.Outcome == webhookd.OutcomeDeferred || r.Outcome == webhookd.OutcomeRetry {
					wakeups.add(r.NextAttemptTime)
				}
			}
			batch = batch[:0]
		}
		flush.Stop()
	}
	for {
		select {
		case r, ok := <-in:
			if !ok {
				write()
				return
			}
			batch = append(batch, r)
			if len(batch) == 1 {
				flush.Reset(e.cfg.FlushInterval)
			}
			if len(batch) >= e.cfg.BatchSize {
				write()
			}
		case <-flush.C:
			write()
		}
	}
}

// record writes one batch, trying a few times: a batch that cannot be
// written is not lost, since its deliveries are claimed again when their
// leases end, but each of them is then sent once more.
func (e *Engine) record(ctx context.Context, batch []webhookd.Result) {
	backoff := 100 * time.Millisecond
	for try := 1; ; try++ {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := e.cfg.Store.RecordResults(wctx, batch)
		cancel()
		if err == nil {
			return
		}
		if try == 3 {
			e.log.Error("recording delivery results failed; their deliveries will be claimed again when their leases end",
				"results", len(batch), "err", err)
			return
		}
		e.log.Warn("recording delivery results failed; trying again", "results", len(batch), "err", err, "try", try)
		t := time.NewTimer(backoff)
		<-t.C
		backoff *= 2
	}
}

// statsLoop refreshes the queue gauges until ctx ends.
func (e *Engine) statsLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(e.cfg.StatsInterval)
	defer tick.Stop()
	for {
		st, err := e.cfg.Store.QueueStats(ctx)
		switch {
		case err == nil:
			e.metrics.queueDue.Set(float64(st.Due))
			age := 0.0
			if !st.OldestDue.IsZero() {
				age = max(e.cfg.Clock.Now().Sub(st.OldestDue).Seconds(), 0)
			}
			e.metrics.queueOldestAge.Set(age)
		case ctx.Err() == nil:
			e.log.Warn("reading queue stats failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
