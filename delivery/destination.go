package delivery

import (
	"sync"
	"time"

	"github.com/webhookd/webhookd"
)

// BreakerConfig configures the per-destination circuit breaker.
//
// The breaker is a few lines here rather than sony/gobreaker: the engine
// needs the breaker's clock to be the injected one (so tests drive it with a
// fake clock) and needs to know when an open circuit will let a trial
// through (to defer claims exactly until then), and gobreaker offers
// neither; keeping one breaker per destination in the same map as the
// in-flight counts also makes both checks one lock.
type BreakerConfig struct {
	// FailureThreshold is how many consecutive failed attempts open a
	// destination's circuit. Default 5.
	FailureThreshold int
	// OpenFor is how long an open circuit defers the destination's
	// deliveries before it lets one trial attempt through. Default 30s.
	OpenFor time.Duration
}

func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.FailureThreshold <= 0 {
		c.FailureThreshold = 5
	}
	if c.OpenFor <= 0 {
		c.OpenFor = 30 * time.Second
	}
	return c
}

// destinationKey names the destination a URI is sent to (see
// webhookd.DestinationOf).
func destinationKey(uri string) string { return webhookd.DestinationOf(uri) }

// verdict is how an attempt's outcome counts for its destination's circuit.
type verdict int

const (
	verdictNeutral verdict = iota // no request reached the network, or the engine stopped it
	verdictHealthy                // the receiver answered promptly (2xx, or a 3xx/4xx it chose)
	verdictFailing                // the destination is down, slow or overloaded
)

// destination is the state of one destination: attempts in flight, its
// circuit, and what spacing its deferred claims get. A circuit is closed when
// openUntil is zero, open before openUntil, and half-open after it (one trial
// attempt at a time).
type destination struct {
	// lim is its adaptive in-flight limit (limiter): the attempts it may
	// have in flight.
	lim       limiter
	inflight  int
	failures  int
	openUntil time.Time
	trial     bool
	// latency is a moving average of attempt durations; progress is when an
	// attempt last ended (or the destination last became busy). Together
	// they estimate how long the destination takes per attempt, including
	// one that is hanging right now.
	latency  time.Duration
	progress time.Time
	// horizon is the latest due time handed to a deferred claim.
	horizon time.Time
	// queue holds claims waiting, in memory, for one of the destination's
	// slots: a worker that finishes an attempt takes the next one at once.
	// Without it a burst for one fast destination would be deferred (written
	// back and claimed again) by the batch.
	queue []*webhookd.Claim
	// allowance is the queue limit room last counted on for d: claims
	// taken on that count are queued even when the limit has dropped
	// since, which it does with every slow attempt, instead of being
	// written back only to be claimed again.
	allowance int
}

// destinations admits attempts per destination. It is what keeps a hanging
// or failing destination from taking the workers that healthy ones need:
// claims it refuses are deferred without occupying a worker.
type destinations struct {
	// limit is the most attempts one destination may have in flight
	// (Config.PerDestinationLimit), and initial where its adaptive limit
	// starts.
	limit   int
	initial int
	breaker BreakerConfig
	maxStep time.Duration
	// queueCap bounds the claims waiting in the queue of a destination
	// whose pace is not known yet or is slow, and totalCap those of all
	// destinations (and of one fast destination), so that memory stays flat
	// however large the backlog. See queueLimit.
	queueCap, totalCap int
	// waitHorizon: see waitLimit. Default defaultWaitHorizon.
	waitHorizon time.Duration

	mu     sync.Mutex
	byKey  map[string]*destination
	opened int // circuits open or half-open
	queued int
	// blocked is the destination that last turned a claim away because
	// its slots and queue were full while it kept pace; see room.
	blocked string
}

// Circuit states, as CircuitState names them.
const (
	CircuitClosed   = "closed"
	CircuitOpen     = "open"
	CircuitHalfOpen = "half_open" // open past its time: one trial attempt at a time
)

// circuit returns the state of key's circuit at now.
func (ds *destinations) circuit(key string, now time.Time) string {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	d := ds.byKey[key]
	switch {
	case d == nil || d.openUntil.IsZero():
		return CircuitClosed
	case now.Before(d.openUntil):
		return CircuitOpen
	}
	return CircuitHalfOpen
}

// admission is what acquire decided for a claim.
type admission int

const (
	admitted admission = iota // run it now, in a new slot
	queued                    // a worker of its destination will run it
	deferred                  // put it back, due at the returned time: its circuit is open, or it hangs
	busy                      // put it back, due at the returned time: its destination and its queue are full
)

// deferredClaim is a claim that must be put back, due at At.
type deferredClaim struct {
	Claim *webhookd.Claim
	At    time.Time
}

// minStep is the smallest spacing between deferred claims of one
// destination: a destination answering in a millisecond with 16 slots
// takes a claim every 60µs, and deferred claims spaced wider than its pace
// would come back slower than it can take them.
const minStep = 20 * time.Microsecond

// queueHorizon is about how long a claim may wait in a destination's queue:
// a destination queues as many claims as it starts in this time at its
// recent pace (see queueLimit).
const queueHorizon = 250 * time.Millisecond

// initialLimit is where a destination's adaptive in-flight limit starts
// (at most Config.PerDestinationLimit): the fixed cap of old.
const initialLimit = 16

func newDestinations(limit int, breaker BreakerConfig, maxStep time.Duration, queueCap, totalCap int) *destinations {
	return &destinations{limit: limit, breaker: breaker, maxStep: maxStep, initial: min(initialLimit, limit), queueCap: queueCap, totalCap: totalCap, waitHorizon: defaultWaitHorizon, byKey: map[string]*destination{}}
}

// acquire decides what happens to claim c for key at now: it runs at once,
// waits in the destination's queue for its next free slot (when it is at
// its cap with a closed circuit, up to waitLimit; never when c is nil), or
// is deferred to retryAt — after the half-open time for an open circuit,
// later for a destination that hangs or whose wait is full.
func (ds *destinations) acquire(key string, c *webhookd.Claim, now time.Time) (a admission, retryAt time.Time) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	d := ds.byKey[key]
	if d == nil {
		d = &destination{lim: newLimiter(ds.initial, ds.limit)}
		ds.byKey[key] = d
	}
	if !d.openUntil.IsZero() {
		if now.Before(d.openUntil) {
			return deferred, ds.spread(d, d.openUntil, now)
		}
		if d.trial || d.inflight > 0 {
			return deferred, ds.spread(d, now, now)
		}
		d.trial = true
	} else if d.inflight >= d.lim.current() {
		if c != nil && len(d.queue) < ds.waitLimit(d, now) && ds.queued < ds.totalCap {
			// It waits in memory for the destination's next free slot
			// (finish hands it over), however far past the queue's
			// limit: that limit only paces the claims (room), and a
			// claim taken must not be written back and claimed again.
			d.queue = append(d.queue, c)
			ds.queued++
			if len(d.queue) >= ds.queueRoom(d, now) && !ds.stalled(d, now) {
				ds.blocked = key
			}
			return queued, time.Time{}
		}
		if ds.hanging(d, now) {
			// Its attempts have stopped ending and its queue holds all
			// it may wait for: spread the rest out.
			return deferred, ds.spread(d, now, now)
		}
		if c != nil && !ds.stalled(d, now) {
			// It is keeping pace, only full: the claim is due again at
			// once, and claims stop until its queue has room (see room),
			// instead of being taken only to be put back, again and
			// again, or spread over a guess of its pace that leaves its
			// slots idle when the guess is slow.
			ds.blocked = key
			return busy, now
		}
		return busy, ds.spread(d, now, now)
	}
	if d.inflight == 0 {
		d.progress = now
	}
	d.inflight++
	return admitted, time.Time{}
}

// pace is d's time per attempt at now: its moving average, or, when longer,
// how long the attempt running longest has run (since the last one ended).
func (d *destination) pace(now time.Time) time.Duration {
	if !d.progress.IsZero() && d.inflight > 0 {
		return max(d.latency, now.Sub(d.progress))
	}
	return d.latency
}

// queueLimit is how many claims d may hold in its queue at now: as many as
// its slots start within queueHorizon at its pace, between queueCap and
// totalCap. A destination that answers in a few milliseconds can then
// take a whole claim batch after another without any of it being deferred
// (written back and claimed again, work that would halve the engine's rate
// to one busy destination), while one that slows down or hangs — its pace
// includes the attempt running longest — keeps queueCap at most, and the
// rest of its claims are deferred at its pace instead of filling the
// memory that other destinations' claims need. Until one of its attempts
// has ended, its pace is unknown and it gets queueCap.
func (ds *destinations) queueLimit(d *destination, now time.Time) int {
	if d.latency <= 0 {
		return ds.queueCap
	}
	n := int64(d.lim.current()) * int64(queueHorizon) / int64(d.pace(now))
	return int(min(max(n, int64(ds.queueCap)), int64(ds.totalCap)))
}

// A claim waits in memory for a slot of its destination as long as the
// destination starts it within waitHorizon at its pace (waitLimit). The
// engine sets it to a quarter of the lease, so that a claim that waited
// still holds its lease for its attempt (see Engine.work); it is long
// enough that a destination keeping its pace never has a claim written
// back (the engine's total, totalCap, and the claim loop's room bound the
// claims waiting), while one that has hung for hungAfter holds fewer as
// its attempt running longest ages, down to queueCap, and its further
// claims are deferred, spread at its pace.
const defaultWaitHorizon = 15 * time.Second

// hungAfter is how long a destination's attempts must have stopped ending
// (and four times its pace) before its wait limit follows the attempt
// running longest. It is much longer than stallAfter: on a busy machine a
// healthy destination's attempts stop ending for tens of milliseconds, and
// its claims must not be written back then.
const hungAfter = time.Second

// waitLimit is how many claims may wait in d's queue at now (see
// defaultWaitHorizon), between queueCap and totalCap. Unlike queueLimit, which
// paces the claims taken, it is the bound past which a claim is written
// back.
func (ds *destinations) waitLimit(d *destination, now time.Time) int {
	p := d.latency
	if d.inflight > 0 && now.Sub(d.progress) > max(4*d.latency, hungAfter) {
		p = now.Sub(d.progress)
	}
	if p <= 0 {
		return max(ds.totalCap, ds.queueCap) // its pace is not known yet
	}
	n := int64(d.lim.current()) * int64(ds.waitHorizon) / int64(p)
	return int(min(max(n, int64(ds.queueCap)), int64(max(ds.totalCap, ds.queueCap))))
}

// queueRoom is how many claims d's queue takes at now: its limit, or the
// limit room last counted on for it when that is higher (allowance).
func (ds *destinations) queueRoom(d *destination, now time.Time) int {
	return max(ds.queueLimit(d, now), d.allowance)
}

// stalled says whether d is not known to keep its pace: it is hanging, or
// its pace is not known yet.
func (ds *destinations) stalled(d *destination, now time.Time) bool {
	return d.latency <= 0 || ds.hanging(d, now)
}

// hanging says whether d's attempts have stopped ending: attempts are in
// flight and none has ended (or, while its pace is unknown, begun) for
// four times its time per attempt, and at least stallAfter.
func (ds *destinations) hanging(d *destination, now time.Time) bool {
	return d.inflight > 0 && now.Sub(d.progress) > max(4*d.latency, stallAfter)
}

// stallAfter is the shortest time without an attempt ending that makes a
// busy destination stalled.
const stallAfter = 10 * time.Millisecond

// room is how many more claims the queues can take: all of them together,
// and the destination that last turned a claim away while keeping pace,
// until it stalls, its circuit opens or it goes idle.
func (ds *destinations) room(now time.Time) int {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return ds.roomLocked(now)
}

// hardRoom is how many more claims the queues hold before a claim is
// written back because they are full: the room a poll may claim beyond
// room (see pacing).
func (ds *destinations) hardRoom() int {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return max(ds.totalCap-ds.queued, 0)
}

// roomLocked is room, with ds.mu held.
func (ds *destinations) roomLocked(now time.Time) int {
	r := ds.totalCap - ds.queued
	if ds.blocked != "" {
		d := ds.byKey[ds.blocked]
		if d == nil || !d.openUntil.IsZero() || ds.stalled(d, now) {
			ds.blocked = ""
		} else {
			d.allowance = ds.queueLimit(d, now)
			r = min(r, d.allowance-len(d.queue))
		}
	}
	return max(r, 0)
}

// queuedTotal is how many claims wait in the queues.
func (ds *destinations) queuedTotal() int {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return ds.queued
}

// admit is room, and, for a new delivery to key, whether it is to be put
// off: its circuit is open, or it has hung for putOffAfter with every slot
// taken. Then it returns the due time a deferral would get (taking its place
// in the spread), and otherwise the zero time. The publish hand-off uses it
// to write such a delivery already deferred. Room is at most what dispatch
// would start or queue for key (ownRoomLocked): the first burst of a run was
// handed over whole, and all but the queue's first limit of it was written
// back, to be claimed again.
func (ds *destinations) admit(key string, now time.Time) (room int, putOff time.Time) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	room = ds.roomLocked(now)
	d := ds.byKey[key]
	room = min(room, ds.ownRoomLocked(d, now))
	switch {
	case d == nil:
	case !d.openUntil.IsZero() && now.Before(d.openUntil):
		putOff = ds.spread(d, d.openUntil, now)
	case d.openUntil.IsZero() && d.inflight >= d.lim.current() && now.Sub(d.progress) > putOffAfter:
		putOff = ds.spread(d, now, now)
	}
	return room, putOff
}

// ownRoomLocked is how many claims destination d (nil: one not seen yet)
// can start or queue at now: its free slots and the room in its queue.
func (ds *destinations) ownRoomLocked(d *destination, now time.Time) int {
	if d == nil {
		return ds.initial + ds.queueCap
	}
	return max(d.lim.current()-d.inflight, 0) + max(ds.queueRoom(d, now)-len(d.queue), 0)
}

// putOffAfter is how long a destination's attempts must have stopped ending
// before new deliveries to it are put off at publish. It is much longer than
// stallAfter on purpose: dispatch defers only the claims of a batch it cannot
// queue, but the hand-off is asked about every delivery published, and a
// short stall of a healthy destination (the machine busy signing, a pause)
// would put off all of them, each a step further out than the last (in
// webhookd bench's batched runs, seconds of deliveries).
const putOffAfter = time.Second

// later returns a due time for one more deferred claim of key, spaced like
// the deferrals of a busy destination.
func (ds *destinations) later(key string, now time.Time) time.Time {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	d := ds.byKey[key]
	if d == nil {
		return now
	}
	return ds.spread(d, now, now)
}

// spread returns the due time of one more deferred claim of d, no earlier
// than from. Deferred claims of a destination are spaced by the time it
// takes per attempt divided by its cap, which is about the rate at which it
// could take them: a fast destination's deferrals come back within
// milliseconds, while a thousand claims for a hanging one are spread over
// minutes instead of all being claimed, and deferred, again and again — the
// churn that would delay every other destination's claims. Deferrals
// spaced gridAbove or wider come due on deferralGrid.
func (ds *destinations) spread(d *destination, from, now time.Time) time.Time {
	step := min(max(d.pace(now)/time.Duration(d.lim.current()), minStep), ds.maxStep)
	if d.horizon.After(from) {
		from = d.horizon
	}
	d.horizon = from.Add(step)
	if step >= gridAbove {
		return d.horizon.Add(deferralGrid - 1).Truncate(deferralGrid)
	}
	return d.horizon
}

// The deferred claims of a slow or hanging destination (spaced gridAbove or
// wider) come due on a grid of deferralGrid, up to that much later than
// their spacing says, so that those due together are taken back by one
// claim, a write transaction, instead of one claim each. The spacing still
// sets how many come back per second. Beside a hanging destination, the
// trickle of one-row claims (400 in a 10 s run at 500 events/s) raised
// PostgreSQL's p99 by 29%; on the grid there are about 120.
const (
	gridAbove    = 5 * time.Millisecond
	deferralGrid = 100 * time.Millisecond
)

// finish ends an attempt admitted by acquire and applies its verdict to the
// circuit; took is the attempt's duration (zero when nothing was sent).
// The freed slot goes to the next queued claim, returned as next, unless the
// circuit is now open or the engine is stopping: then every queued claim is
// returned as deferred instead.
func (ds *destinations) finish(key string, v verdict, took time.Duration, now time.Time, stopping bool) (next *webhookd.Claim, put []deferredClaim) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	d := ds.byKey[key]
	if d == nil {
		return nil, nil
	}
	ds.applyLocked(key, d, v, took, now)
	if len(d.queue) == 0 {
		return nil, nil
	}
	if stopping || !d.openUntil.IsZero() {
		for _, c := range d.queue {
			at := now
			if !stopping {
				at = ds.spread(d, d.openUntil, now)
			}
			put = append(put, deferredClaim{Claim: c, At: at})
		}
		ds.queued -= len(d.queue)
		d.queue = nil
		return nil, put
	}
	next = d.queue[0]
	d.queue[0] = nil
	d.queue = d.queue[1:]
	ds.queued--
	d.inflight++
	return next, nil
}

func (ds *destinations) applyLocked(key string, d *destination, v verdict, took time.Duration, now time.Time) {
	d.lim.observe(v, took, d.inflight, now)
	d.inflight--
	d.progress = now
	if took > 0 {
		if d.latency == 0 {
			d.latency = took
		} else {
			d.latency += (took - d.latency) / 4
		}
	}
	wasOpen := !d.openUntil.IsZero()
	switch v {
	case verdictHealthy:
		d.failures, d.openUntil = 0, time.Time{}
	case verdictFailing:
		d.failures++
		switch {
		case d.trial:
			d.openUntil = now.Add(ds.breaker.OpenFor) // the trial failed: open again
		case !wasOpen && d.failures >= ds.breaker.FailureThreshold:
			d.openUntil = now.Add(ds.breaker.OpenFor)
		}
	}
	if v != verdictNeutral {
		d.trial = false
	} else if d.trial && d.inflight == 0 {
		d.trial = false // the trial never ran; let the next claim try
	}
	if isOpen := !d.openUntil.IsZero(); isOpen != wasOpen {
		if isOpen {
			ds.opened++
		} else {
			ds.opened--
		}
	}
	if d.inflight == 0 && len(d.queue) == 0 && d.failures == 0 && d.openUntil.IsZero() && !d.horizon.After(now) && d.lim.current() <= ds.initial {
		// Healthy, idle, nothing deferred, no limit learnt beyond where
		// limits start: nothing worth remembering. (A limit cut by slow
		// attempts starts afresh with its next one.)
		delete(ds.byKey, key)
	}
}

// concurrencyLimit is key's in-flight limit now; a destination not seen
// (or forgotten) has the initial one.
func (ds *destinations) concurrencyLimit(key string) int {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if d := ds.byKey[key]; d != nil {
		return d.lim.current()
	}
	return ds.initial
}

// limits calls f with every destination remembered and its limit.
func (ds *destinations) limits(f func(key string, limit int)) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	for k, d := range ds.byKey {
		f(k, d.lim.current())
	}
}

// openCircuits counts the destinations whose circuit is open or half-open.
func (ds *destinations) openCircuits() int {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return ds.opened
}
