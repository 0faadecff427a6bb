package delivery

import (
	"sync"
	"time"

	"github.com/webhookd/webhookd"
)

// handOffs are the fresh deliveries a store hands this engine at publish
// (see handoff.Target): admitted inside the publishing transaction, taken
// after its commit, and dispatched by the claim loop like claims.
type handOffs struct {
	mu      sync.Mutex
	state   handOffState
	taken   int               // taken by Admit, not yet settled by Take
	claims  []*webhookd.Claim // taken, not yet dispatched
	ready   chan struct{}     // room for one: claims were taken
	settled chan struct{}     // while closing with takes unsettled: closed when they are
	// claiming is the room the claim loop counts on for the claim it is
	// making and dispatching: Admit leaves it, so that the two do not
	// both fill the same room.
	claiming int
}

type handOffState int

const (
	handOffClosed  handOffState = iota // not running: Admit takes nothing, and late claims are left to their lease
	handOffOpen                        // Run is claiming: Admit takes what the queues have room for
	handOffClosing                     // Run is stopping: Admit takes nothing; takes still settle
)

// Admit is the engine's side of handoff.Target. While Run claims, it puts
// off a delivery whose destination's circuit is open, or which has hung for
// putOffAfter, as dispatch would defer its claim; otherwise it takes it if the
// destinations' queues have room (the claim loop's own limit, see
// destinations.room) beside what it took and has not dispatched yet, so
// that hand-offs never hold more claims in memory than claims would.
func (e *Engine) Admit(uri string) (take bool, putOff time.Time) {
	key := destinationKey(uri)
	h := &e.hand
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != handOffOpen {
		return false, time.Time{}
	}
	room, at := e.dests.admit(key, e.cfg.Clock.Now())
	switch {
	case !at.IsZero():
		return false, at
	case room-h.taken-len(h.claims)-h.claiming <= 0:
		return false, time.Time{}
	}
	h.taken++
	return true, time.Time{}
}

// claimRoom is how many deliveries the claim loop may claim: the room in
// the destinations' queues, less what hand-offs took and has not been
// dispatched yet.
func (e *Engine) claimRoom() int {
	room := e.dests.room(e.cfg.Clock.Now())
	h := &e.hand
	h.mu.Lock()
	defer h.mu.Unlock()
	return max(room-h.taken-len(h.claims), 0)
}

// hardRoom is how many deliveries the queues hold beyond those waiting and
// those hand-offs took and have not dispatched yet (destinations.hardRoom).
func (e *Engine) hardRoom() int {
	room := e.dests.hardRoom()
	h := &e.hand
	h.mu.Lock()
	defer h.mu.Unlock()
	return max(room-h.taken-len(h.claims), 0)
}

// reserve tells Admit how much room the claim loop is claiming, until it
// has dispatched the claim; 0 when it is done.
func (e *Engine) reserve(n int) {
	e.hand.mu.Lock()
	e.hand.claiming = n
	e.hand.mu.Unlock()
}

// Lease is the engine's side of handoff.Target: its claims' lease.
func (e *Engine) Lease() time.Duration { return e.cfg.Lease }

// Take is the engine's side of handoff.Target: it queues claims for the
// claim loop and wakes it. Claims taken after Run stopped are left to their
// lease, like a crashed engine's.
func (e *Engine) Take(claims []*webhookd.Claim, taken int) {
	h := &e.hand
	h.mu.Lock()
	defer h.mu.Unlock()
	h.taken -= taken
	if h.state == handOffClosing && h.taken <= 0 && h.settled != nil {
		close(h.settled)
		h.settled = nil
	}
	if len(claims) == 0 {
		return
	}
	if h.state == handOffClosed {
		e.log.Warn("deliveries handed over after the engine stopped; they are due again when their lease ends", "deliveries", len(claims))
		return
	}
	h.claims = append(h.claims, claims...)
	e.metrics.handOffs.Add(float64(len(claims)))
	select {
	case h.ready <- struct{}{}:
	default:
	}
}

// openHandOffs starts admitting.
func (e *Engine) openHandOffs() {
	e.hand.mu.Lock()
	defer e.hand.mu.Unlock()
	e.hand.state = handOffOpen
}

// takeHanded returns the claims taken since the last call.
func (e *Engine) takeHanded() []*webhookd.Claim {
	e.hand.mu.Lock()
	defer e.hand.mu.Unlock()
	c := e.hand.claims
	e.hand.claims = nil
	return c
}

// closeHandOffs stops admitting, waits (up to grace) for the takes made to
// be settled — a publish commits in milliseconds — and returns the claims
// taken and not dispatched, which Run puts back.
func (e *Engine) closeHandOffs(grace time.Duration) []*webhookd.Claim {
	h := &e.hand
	h.mu.Lock()
	h.state = handOffClosing
	settled := h.settled
	if h.taken > 0 && settled == nil {
		settled = make(chan struct{})
		h.settled = settled
	}
	h.mu.Unlock()
	if settled != nil {
		t := time.NewTimer(grace)
		select {
		case <-settled:
		case <-t.C:
			e.log.Warn("stopping with deliveries taken for a hand-off that has not come; they are due again when their lease ends")
		}
		t.Stop()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.state = handOffClosed
	h.settled = nil
	c := h.claims
	h.claims = nil
	return c
}
