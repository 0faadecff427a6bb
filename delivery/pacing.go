package delivery

import (
	"time"
)

// The claim loop's pacing: when to claim due deliveries and how many. It is
// a pure function of what the loop just saw (a cue) and what it measures
// (paceInput), so that it is table-tested without a store or a goroutine;
// the loop only measures, acts on the step and waits for the next cue.
//
// It claims the next batch only when every claim of the last one has been
// handed to a worker or settled without one (the loop's order), so a claim
// waits for a worker at most about BatchSize/Workers attempt timeouts (see
// Config.Lease). It claims no faster than the destinations take the claims:
//   - After a batch that filled a destination's slots (saturated), it waits
//     for an attempt to end (saturatedWait at most) before it claims again:
//     by then the destination's pace is usually known and its queue has
//     room. Claims taken sooner would mostly be deferred: written back and
//     claimed again, work that can halve the rate to a busy destination.
//   - It claims only as many as the queues have room for, and waits for
//     room when a claim would be too small (tooSmall).
//   - A wait ends at the poll interval at the latest; then it claims what
//     free workers can take, so that destinations with free slots are
//     served even while others' queues are full — within what the queues
//     hold, so that no claim taken is written back for want of a place.
//   - A claim that found fewer than it asked for emptied what was due: the
//     loop is idle until a wake-up (Notify) or the poll.

// cue is what the claim loop saw just before it asks for the next step.
type cue int

const (
	cueStart   cue = iota // the loop begins
	cueClaimed            // a claim was made and its claims dispatched
	cueHanded             // deliveries handed over at publish were dispatched
	cueFreed              // an attempt ended or a queue place was freed
	cueWake               // Notify: deliveries may have become due
	cueTimer              // the timer of the current wait fired
)

// paceInput is what the claim loop measures before each step.
type paceInput struct {
	room        int     // claims the queues can take now, at most a batch (Engine.claimRoom)
	hardRoom    int     // claims the queues hold before one is written back (Engine.hardRoom)
	queued      int     // claims waiting in the destinations' queues
	drain       float64 // queue places freed per second (drainMeter)
	idleWorkers int     // workers without an attempt
	// saturated: what was dispatched since the last step found a
	// destination's slots full (see Engine.dispatch).
	saturated bool
	// asked and got are, after cueClaimed, the claim's limit and how many
	// deliveries it found.
	asked, got int
}

// paceStep is what the claim loop does next: claim now, or wait for the
// next cue. A wait ends on a hand-off, the timer, and whichever of freed and
// wake it names; when timer is zero the timer of the current wait runs on.
type paceStep struct {
	claim int           // > 0: claim this many now
	timer time.Duration // > 0: (re)start the timer for this long
	freed bool          // a freed slot ends the wait
	wake  bool          // a Notify ends the wait
	// poll: the claim is made because the poll interval passed, not
	// because something woke the loop or freed room; what it finds was
	// due without anyone saying so (webhookd_deliveries_polled_total).
	poll bool
}

// paceState is what the pacing remembers between steps.
type paceState struct {
	idle      bool // the last claim emptied what was due: wait for a wake-up or the poll
	saturated bool // something dispatched since the last claim filled a destination's slots
	waiting   bool // a pacing wait is running, with the timer set for it
	short     bool // … and it is the short one after a saturating dispatch
}

// pacing holds the numbers the decision depends on; it never changes.
type pacing struct {
	batch    int // most deliveries one claim takes (Config.BatchSize)
	minBatch int // fewest worth a claim while others wait in the queues
	poll     time.Duration
}

func newPacing(batch int, poll time.Duration) pacing {
	return pacing{batch: batch, minBatch: max(batch/4, 1), poll: poll}
}

// saturatedWait is the longest the claim loop waits for an attempt to end
// after dispatching claims that filled a destination's slots.
const saturatedWait = 10 * time.Millisecond

// wholeBatchWait is how long the claim loop may wait for the queues to free
// room for a whole claim batch, and drainWindow the shortest time over which
// it measures how fast they free it (see tooSmall).
const (
	wholeBatchWait = 50 * time.Millisecond
	drainWindow    = 10 * time.Millisecond
)

// next is the pacing decision: the state and step that follow s after cue c
// with the measurements in.
func (p pacing) next(s paceState, c cue, in paceInput) (paceState, paceStep) {
	s.saturated = s.saturated || in.saturated
	if s.idle {
		if c != cueWake && c != cueTimer {
			return s, paceStep{wake: true} // a hand-off: dispatched, idle on
		}
		polled := c == cueTimer
		s.idle, c = false, cueStart // what is due now is to be paced afresh
		s, step := p.next(s, c, in)
		step.poll = polled && step.claim > 0
		return s, step
	}
	small := tooSmall(in.room, p.minBatch, p.batch, in.queued, in.drain)
	switch c {
	case cueClaimed:
		if in.got < in.asked {
			s.idle = true
			return s, paceStep{timer: p.poll, wake: true}
		}
	case cueFreed:
		if !small {
			return p.claim(s, in.room) // room freed: the wait is over, saturated or not
		}
	case cueTimer:
		switch {
		case !small:
			polled := s.waiting && !s.short // the wait was the poll interval's
			s, step := p.claim(s, in.room)
			step.poll = polled
			return s, step
		case s.short:
			// Still too little room after the short wait: wait on, for
			// the poll interval this time. Not a claim beyond the room:
			// it would only be written back.
			s.waiting, s.saturated = false, false
		case s.waiting:
			// A whole poll interval without room: claim anyway what the
			// workers could start. The queues may be full of one
			// destination's claims while others wait in the store. Not
			// beyond what the queues hold, though: a claim for a full
			// destination then waits for its slot, and none is written
			// back only to be claimed again.
			if n := min(max(in.room, min(p.batch, in.idleWorkers), 1), in.hardRoom); n > 0 {
				s, step := p.claim(s, n)
				step.poll = true
				return s, step
			}
			s.waiting, s.saturated = false, false // wait on, another poll interval
		}
	}
	if !s.saturated && !small {
		return p.claim(s, in.room)
	}
	step := paceStep{freed: true}
	if !s.waiting {
		// With room, the wait after a saturating dispatch is short: the
		// destination that filled up may be one that never answers, and
		// the next batch may be for others.
		s.waiting, s.short = true, !small
		step.timer = p.poll
		if s.short {
			step.timer = min(p.poll, saturatedWait)
		}
	}
	return s, step
}

// claim is the step that claims n, which ends any wait.
func (p pacing) claim(s paceState, n int) (paceState, paceStep) {
	s.waiting, s.short, s.saturated = false, false, false
	return s, paceStep{claim: n}
}

// tooSmall says whether a claim of limit rows is not worth making yet, with
// queued claims waiting in the queues, which free drain places a second:
// it is below minBatch, or below a whole batch while the queues still hold
// a batch's worth of work and drain fast enough to free the rest of the
// batch within wholeBatchWait. Each claim is a write transaction, and a
// claim made the moment a quarter batch of room frees up, behind a deep
// queue, costs the same for a quarter of the rows; behind a slow
// destination's queue, waiting for a whole batch would delay the claims of
// others for as long as it takes that destination to take it.
func tooSmall(limit, minBatch, batch, queued int, drain float64) bool {
	switch {
	case limit < minBatch:
		return true
	case limit >= batch || queued < batch:
		return false
	}
	return float64(batch-limit) <= drain*wholeBatchWait.Seconds()
}

// drainMeter measures how many claims leave the queues per second (attempts
// ending), over at least drainWindow.
type drainMeter struct {
	rate  float64
	ended int64
	since time.Time
}

// measure returns the rate at now, given how many attempts have ended ever.
func (m *drainMeter) measure(now time.Time, ended int64) float64 {
	if m.since.IsZero() {
		m.ended, m.since = ended, now
	}
	if d := now.Sub(m.since); d >= drainWindow {
		m.rate = float64(ended-m.ended) / d.Seconds()
		m.ended, m.since = ended, now
	}
	return m.rate
}
