package delivery

import (
	"context"
	"time"

	"github.com/webhookd/webhookd"
)

// fail is the result of c failed without an attempt, for reason.
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
//
// Results the store cannot take because it is unavailable (a restart, a
// failover) are held, oldest first, up to MaxHeldResults, and written as
// soon as it is back; meanwhile e.held is non-zero and this engine claims
// nothing (see claim), so a delivery whose result is held keeps the lease it
// was sent under: it is neither sent again nor left pending until its lease
// ends. Only an outage longer than the lease lets another process claim it
// again, and its result is then ignored as stale.
func (e *Engine) recordLoop(ctx context.Context, in <-chan webhookd.Result, done chan<- struct{}) {
	defer close(done)
	batch := make([]webhookd.Result, 0, e.cfg.BatchSize)
	flush := time.NewTimer(e.cfg.FlushInterval)
	flush.Stop()
	defer flush.Stop()
	wakeups := newWakeups(e.cfg.Clock, e.Notify)
	defer wakeups.stop()
	h := &heldResults{max: e.cfg.MaxHeldResults, retry: time.NewTimer(time.Hour)}
	h.retry.Stop()
	defer h.retry.Stop()
	// recorded wakes the claim loop when deliveries put back (a deferral or
	// a retry) come due.
	recorded := func(rs []webhookd.Result) {
		for _, r := range rs {
			if r.Outcome == webhookd.OutcomeDeferred || r.Outcome == webhookd.OutcomeRetry {
				wakeups.add(r.NextAttemptTime)
			}
		}
	}
	write := func() {
		flush.Stop()
		if len(batch) == 0 {
			return
		}
		if len(h.results) > 0 {
			h.add(batch) // after the held ones, in order
		} else if err := e.record(ctx, batch); err != nil {
			h.add(batch)
			e.storeDown.Failed(ctx, err)
			h.arm()
		} else {
			recorded(batch)
		}
		e.held.Store(int64(len(h.results)))
		batch = batch[:0]
	}
	retry := func() {
		if h.writeAll(ctx, e, recorded) {
			e.storeDown.Succeeded(ctx)
			if h.dropped > 0 {
				e.log.Warn("results were dropped while the store was unavailable; their deliveries will be claimed again when their leases end",
					"dropped", h.dropped)
				h.dropped = 0
			}
			e.Notify() // claims waited for these results
		} else {
			h.arm()
		}
		e.held.Store(int64(len(h.results)))
	}
	for {
		select {
		case r, ok := <-in:
			if !ok {
				write()
				if len(h.results) > 0 {
					retry()
				}
				if n := len(h.results) + h.dropped; n > 0 {
					e.log.Warn("stopping with results the store could not take; their deliveries will be claimed again when their leases end",
						"results", n)
				}
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
		case <-h.retry.C:
			retry()
		}
	}
}

// heldResults are the results the store could not take while it was
// unavailable, oldest first, and the timer of the next try to write them.
type heldResults struct {
	results []webhookd.Result
	max     int
	dropped int // the oldest, dropped beyond max
	retry   *time.Timer
	backoff time.Duration
}

// Bounds of the wait between two tries to write held results: short, since
// a restart is over in seconds and each second held is a second the
// deliveries wait; a try costs one failed connection attempt.
const (
	heldRetryMin = 100 * time.Millisecond
	heldRetryMax = time.Second
)

// add holds rs after the results already held, dropping the oldest beyond
// h.max: a delivery whose result is dropped is claimed again when its lease
// ends (at-least-once), so memory stays bounded however long the outage.
func (h *heldResults) add(rs []webhookd.Result) {
	h.results = append(h.results, rs...)
	if over := len(h.results) - h.max; over > 0 {
		h.dropped += over
		h.results = append(h.results[:0], h.results[over:]...)
	}
}

// arm sets the timer of the next try, backing off up to heldRetryMax.
func (h *heldResults) arm() {
	h.backoff = min(max(2*h.backoff, heldRetryMin), heldRetryMax)
	h.retry.Reset(h.backoff)
}

// writeAll writes the held results a batch at a time, oldest first, and
// says whether all were written; it stops at the first batch the store
// cannot take.
func (h *heldResults) writeAll(ctx context.Context, e *Engine, recorded func([]webhookd.Result)) bool {
	for len(h.results) > 0 {
		n := min(len(h.results), e.cfg.BatchSize)
		if err := e.record(ctx, h.results[:n]); err != nil {
			return false
		}
		recorded(h.results[:n])
		h.results = h.results[n:]
	}
	h.results, h.backoff = nil, 0
	return true
}

// record writes one batch. It returns an error only when the store is
// unavailable (webhookd.EUNAVAILABLE), for the caller to hold the batch and
// try again when it is back. Any other failure is tried a few times: a
// batch that still cannot be written is not lost, since its deliveries are
// claimed again when their leases end, but each of them is then sent once
// more.
func (e *Engine) record(ctx context.Context, batch []webhookd.Result) error {
	backoff := 100 * time.Millisecond
	for try := 1; ; try++ {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := e.cfg.Store.RecordResults(wctx, batch)
		cancel()
		switch {
		case err == nil:
			return nil
		case webhookd.ErrorCode(err) == webhookd.EUNAVAILABLE:
			return err
		case try == 3:
			e.log.Error("recording delivery results failed; their deliveries will be claimed again when their leases end",
				"results", len(batch), "err", err)
			return nil
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
		case ctx.Err() != nil:
		case webhookd.ErrorCode(err) == webhookd.EUNAVAILABLE:
			e.storeDown.Failed(ctx, err)
		default:
			e.log.Warn("reading queue stats failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
