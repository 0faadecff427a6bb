package delivery

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/webhookd/webhookd"
)

// work is one worker: it sends c, then, while its destination has claims
// queued, the next of them in the same slot.
func (e *Engine) work(r *run, key string, c *webhookd.Claim) {
	for c != nil {
		v, took := verdictNeutral, time.Duration(0)
		start := time.Now()
		if out, sent := e.attempt(r.attemptCtx, key, c); sent {
			// The destination's pace is how long the attempt held its
			// slot — signing included, which for an RS256 JWT takes
			// longer than a loopback POST — unless nothing was sent.
			v = out.verdict
			if out.took > 0 {
				took = time.Since(start)
			}
			if e.cfg.Observe != nil {
				e.cfg.Observe(c, out.result, key)
			}
			r.results <- out.result
		} // else abandoned at shutdown: the lease will expire
		for {
			now := e.cfg.Clock.Now()
			next, put := e.dests.finish(key, v, took, now, r.ctx.Err() != nil)
			e.ended.Add(1)
			for _, p := range put {
				res := e.deferral(p.Claim, now)
				res.NextAttemptTime = p.At
				r.results <- res
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
			res := e.deferral(c, now)
			res.NextAttemptTime = e.dests.later(key, now)
			r.results <- res
			v, took = verdictNeutral, 0
		}
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

// attempt sends c, to destination key, once and decides what happens next.
// sent is false when ctx ended first (shutdown): then nothing is recorded.
func (e *Engine) attempt(ctx context.Context, key string, c *webhookd.Claim) (out attemptOutcome, sent bool) {
	if e.tracer != nil {
		var span trace.Span
		ctx, span = e.startAttempt(ctx, c)
		defer func() { endAttempt(span, out, sent) }()
	}
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
		e.log.Info("delivery failed without an attempt", "delivery", d.ID, "event", d.EventID, "stage", r.err.Stage, "reason", r.err.LogText(),
			"trace_id", traceID(ctx, c))
		e.failures.note(key, r.err, true, traceID(ctx, c))
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
	if r.statusCode == http.StatusGone && r.err.Stage == StageStatus {
		// The receiver says it is gone for good (Standard Webhooks): no
		// retries, and a static webhook is disabled at once.
		res.Outcome = webhookd.OutcomeFailed
		res.Gone = d.Kind == webhookd.DeliveryStatic
		e.log.Info("delivery failed: receiver answered 410 Gone", "delivery", d.ID, "event", d.EventID, "webhook", d.WebhookID,
			"trace_id", traceID(ctx, c))
		e.failures.note(key, r.err, true, traceID(ctx, c))
		e.metrics.deliveries.WithLabelValues(string(res.Outcome)).Inc()
		return attemptOutcome{result: res, verdict: verdictOf(r.err), took: r.latency}, true
	}
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
			"stage", r.err.Stage, "err", r.err.LogText(), "next_attempt_time", next, "trace_id", traceID(ctx, c))
	} else {
		res.Outcome = webhookd.OutcomeFailed
		e.log.Info("delivery failed: retry window ended", "delivery", d.ID, "event", d.EventID, "attempts", res.Attempt.Number,
			"stage", r.err.Stage, "err", r.err.LogText(), "trace_id", traceID(ctx, c))
	}
	e.failures.note(key, r.err, !retry, traceID(ctx, c))
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
