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
