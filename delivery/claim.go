package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/webhookd/webhookd"
)

// run is what the stages of one Run share: the claim loop starts attempts
// under it, and workers send their results to the record loop through it.
type run struct {
	ctx        context.Context // Run's: when it ends, claiming stops
	attemptCtx context.Context // attempts': outlives ctx by up to ShutdownGrace
	results    chan<- webhookd.Result
	attempts   sync.WaitGroup
}

// claimLoop claims due deliveries and starts their attempts until r.ctx
// ends. Each turn it dispatches what was handed over at publish (see
// handOffs), measures, and asks the pacing (pacing.next) whether to claim
// now or what to wait for. Hand-offs are dispatched as soon as they come,
// whatever the loop waits for; they never cause a claim.
func (e *Engine) claimLoop(r *run) {
	timer := time.NewTimer(e.cfg.PollInterval)
	defer timer.Stop()
	p := newPacing(e.cfg.BatchSize, e.cfg.PollInterval)
	var (
		state   paceState
		step    paceStep
		drain   drainMeter
		c       = cueStart
		claimed paceInput // after cueClaimed: what the claim asked, got and saturated
	)
	for r.ctx.Err() == nil {
		saturated, ok := e.dispatchAll(r, e.takeHanded())
		if !ok {
			return
		}
		in := e.measure(&drain)
		in.saturated = saturated || claimed.saturated
		in.asked, in.got = claimed.asked, claimed.got
		state, step = p.next(state, c, in)
		if step.claim > 0 {
			if claimed, ok = e.claim(r, step.claim, step.poll); !ok {
				return
			}
			c = cueClaimed
			continue
		}
		claimed = paceInput{}
		if step.timer > 0 {
			timer.Reset(step.timer)
		}
		var freed, wake <-chan struct{} // nil: not waited for
		if step.freed {
			freed = e.freed
		}
		if step.wake {
			wake = e.wake
		}
		select {
		case <-r.ctx.Done():
			return
		case <-e.hand.ready:
			c = cueHanded
		case <-freed:
			c = cueFreed
		case <-wake:
			c = cueWake
		case <-timer.C:
			c = cueTimer
		}
	}
}

// measure takes the pacing's measurements.
func (e *Engine) measure(drain *drainMeter) paceInput {
	return paceInput{
		room:        min(e.cfg.BatchSize, e.claimRoom()),
		hardRoom:    e.hardRoom(),
		queued:      e.dests.queuedTotal(),
		drain:       drain.measure(e.cfg.Clock.Now(), e.ended.Load()),
		idleWorkers: e.cfg.Workers - int(e.busy.Load()),
	}
}

// claim claims up to limit due deliveries and dispatches them; polled says
// that the poll interval made the claim (see paceStep.poll). It returns the
// claim's part of the next step's input (asked, got, saturated), and false
// when r.ctx ended before every claim was dispatched. A claim that failed
// is logged and counts as one that found nothing.
func (e *Engine) claim(r *run, limit int, polled bool) (claimed paceInput, ok bool) {
	if e.held.Load() > 0 {
		// Results wait for the store to come back; they are written
		// before anything is claimed, so that no delivery of theirs is
		// claimed again (see recordLoop), and the recorder wakes the loop.
		return paceInput{asked: limit}, true
	}
	e.reserve(limit)
	defer e.reserve(0)
	claims, err := e.cfg.Store.ClaimDeliveries(r.ctx, limit, e.cfg.Lease)
	switch {
	case err == nil:
		e.storeDown.Succeeded(r.ctx)
	case r.ctx.Err() != nil:
	case webhookd.ErrorCode(err) == webhookd.EUNAVAILABLE:
		e.storeDown.Failed(r.ctx, err)
	default:
		e.log.ErrorContext(r.ctx, "claiming deliveries failed", "err", err)
	}
	if polled {
		e.metrics.polled.Add(float64(len(claims)))
	}
	saturated, ok := e.dispatchAll(r, claims)
	return paceInput{asked: limit, got: len(claims), saturated: saturated}, ok
}

// dispatchAll dispatches claims in order, waiting for a worker whenever all
// are busy. It reports whether one of them found its destination's slots
// full (see dispatch), and false when r.ctx ended first; the claims not
// dispatched then are put back, due at once, for whichever engine runs
// next.
func (e *Engine) dispatchAll(r *run, claims []*webhookd.Claim) (saturated, ok bool) {
	for i := 0; i < len(claims); {
		if e.busy.Load() >= int64(e.cfg.Workers) {
			select {
			case <-r.ctx.Done():
				e.putBack(claims[i:], r.results)
				return saturated, false
			case <-e.freed:
			}
			continue
		}
		if e.dispatch(r, claims[i]) {
			saturated = true
		}
		i++
	}
	return saturated, true
}

// dispatch starts an attempt for c, queues it for its destination's next
// free slot, or settles it without one: fails it when it must not be sent,
// defers it when its destination hangs past what may wait for it, its
// circuit is open, or every queue is full. It reports whether c found its destination's slots full (c was
// queued, or deferred because the queue was full too) — not when the
// destination hangs: no attempt of it is about to end, so waiting for one
// would only delay the next claims, for other destinations.
func (e *Engine) dispatch(r *run, c *webhookd.Claim) (saturated bool) {
	d := c.Delivery
	now := e.cfg.Clock.Now()
	if reason := notAttempted(c, e.cfg.JWTSigner != nil); reason != "" {
		e.log.Info("delivery failed without an attempt", "delivery", d.ID, "event", d.EventID, "reason", reason)
		r.results <- e.fail(c, reason)
		return false
	}
	key := destinationKey(d.URI)
	switch a, retryAt := e.dests.acquire(key, c, now); a {
	case queued:
		return true
	case deferred, busy:
		res := e.deferral(c, now)
		res.NextAttemptTime = retryAt
		r.results <- res
		return a == busy
	}
	e.busy.Add(1)
	e.metrics.inflight.Inc()
	r.attempts.Add(1)
	go func() {
		defer r.attempts.Done()
		defer func() {
			e.busy.Add(-1)
			e.metrics.inflight.Dec()
			e.signalFreed()
		}()
		e.work(r, key, c)
	}()
	return false
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
