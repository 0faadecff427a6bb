package delivery

import (
	"time"
)

// limiter is one destination's adaptive in-flight limit: additive increase,
// multiplicative decrease, as TCP's congestion window and Netflix's
// concurrency-limits do it. A fixed cap is too small for a fast, healthy
// receiver and no measure of a slow one; the limit instead follows what the
// destination shows:
//   - It grows by one per limit's worth of attempts (about one a round
//     trip) that end healthy and quickly while the limit is in use: at
//     least half of its slots are taken. A destination that is never busy
//     has no reason to be allowed more.
//   - It is halved by an attempt that fails in a way that says the
//     destination is in trouble (a timeout, a connection error, 5xx, 429,
//     408: verdictFailing), and cut by a tenth by a healthy attempt that
//     took much longer than the destination's usual time (its latency
//     rises: it queues what it is sent). Rising latency alone only takes
//     back what the limit grew beyond its start: on a busy machine every
//     attempt's time swings, and that must not throttle a destination that
//     answers every attempt well below the fixed cap it had before.
//   - It is cut once per round trip at most: attempts that began before the
//     last cut saw the old limit, and their bad news is already counted.
//
// It stays between 1 and max. It is a pure value on the times it is given,
// so that it is table-tested on a fake clock.
type limiter struct {
	limit float64
	max   int
	// floor is where the limit started: a slow but healthy attempt never
	// cuts below it, only failing ones do.
	floor float64
	// base is the destination's usual time per attempt: its lowest recent
	// one, drifting slowly up towards the times it takes now, so that a
	// destination that has become slower for good is not cut for ever.
	base time.Duration
	// cutAt is when the limit was last cut.
	cutAt time.Time
}

// Tuning of limiter.
const (
	// limitBackoff is the cut on a failing attempt, slowBackoff on a slow
	// healthy one.
	limitBackoff = 0.5
	slowBackoff  = 0.9
	// A healthy attempt is slow when it took longer than slowFactor times
	// the destination's usual time and slowSlack more: on a busy machine a
	// loopback attempt's time doubles from one to the next, and that says
	// nothing about the destination.
	slowFactor = 2
	slowSlack  = 10 * time.Millisecond
	// baseDrift is how much of the way from the usual time to a longer
	// attempt's the usual time moves with each attempt.
	baseDrift = 64
)

// newLimiter returns a limiter that starts at initial, at most maxLimit
// (at least 1 both).
func newLimiter(initial, maxLimit int) limiter {
	maxLimit = max(maxLimit, 1)
	start := float64(min(max(initial, 1), maxLimit))
	return limiter{limit: start, max: maxLimit, floor: start}
}

// current is the number of attempts the destination may have in flight.
func (l *limiter) current() int { return int(l.limit) }

// observe takes the outcome of an attempt that ended at now after took,
// with inflight attempts in flight to the destination when it ended (itself
// included). A neutral verdict (nothing went over the network) or a zero
// took says nothing about the destination.
func (l *limiter) observe(v verdict, took time.Duration, inflight int, now time.Time) {
	if v == verdictNeutral || took <= 0 {
		return
	}
	began := now.Add(-took)
	switch {
	case l.base <= 0 || took < l.base:
		l.base = took
	default:
		l.base += (took - l.base) / baseDrift
	}
	switch {
	case v == verdictFailing:
		l.cut(limitBackoff, 1, began, now)
	case took > slowFactor*l.base+slowSlack:
		if l.limit > l.floor {
			l.cut(slowBackoff, l.floor, began, now)
		}
	case float64(inflight) >= l.limit/2:
		l.limit = min(l.limit+1/l.limit, float64(l.max))
	}
}

// cut multiplies the limit by f, down to floor at most, unless an attempt
// that began at began has been counted by a cut already.
func (l *limiter) cut(f, floor float64, began, now time.Time) {
	if !l.cutAt.IsZero() && began.Before(l.cutAt) {
		return
	}
	l.limit = max(l.limit*f, floor, 1)
	l.cutAt = now
}
