package delivery

import (
	"container/heap"
	"sync"
	"time"

	"github.com/webhookd/webhookd"
)

// wakeups wakes the claim loop when deliveries this engine put back (a
// deferral or a retry) come due, instead of at the next poll. Deferred
// claims of a busy destination come back within milliseconds to seconds,
// spaced at the destination's pace; waiting for a poll interval each time
// would leave its slots idle for most of it.
//
// Wake-ups come at least wakeupGranularity apart, so a thousand deferrals
// spaced a millisecond apart cost a hundred claims a second at most, not a
// thousand: the due times that pass between two wake-ups share the second.
// A wake-up never covers a time that has not passed yet. (Until round 12 of
// issue 6 one covered the times up to wakeupGranularity after its own: the
// claim it caused did not find those deliveries, not due yet, and nothing
// woke the loop for them again until the poll. In one run in four of
// webhookd bench with no flags, 3-5 deliveries of 10,000 waited 500 ms.)
// At most maxWakeups times are kept; the poll finds any others.
type wakeups struct {
	clock     webhookd.Clock
	wake      func()
	afterFunc func(time.Duration, func()) wakeTimer

	mu    sync.Mutex
	times timeHeap
	timer wakeTimer
	at    time.Time // when the timer fires, zero if it is not set
	last  time.Time // when it last fired
}

const (
	wakeupGranularity = 10 * time.Millisecond
	maxWakeups        = 10000
)

// wakeTimer is the part of *time.Timer that wakeups uses; tests fire a fake
// one on the fake clock.
type wakeTimer interface {
	Reset(time.Duration) bool
	Stop() bool
}

func newWakeups(clock webhookd.Clock, wake func()) *wakeups {
	return &wakeups{clock: clock, wake: wake, afterFunc: func(d time.Duration, f func()) wakeTimer { return time.AfterFunc(d, f) }}
}

// add schedules a wake-up at t.
func (w *wakeups) add(t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.times) >= maxWakeups {
		return
	}
	heap.Push(&w.times, t)
	w.scheduleLocked()
}

// scheduleLocked sets the timer for the earliest time, or wakeupGranularity
// after the last wake-up if that is later, unless it is set already for as
// early or earlier.
func (w *wakeups) scheduleLocked() {
	if len(w.times) == 0 {
		return
	}
	next := w.times[0]
	if soonest := w.last.Add(wakeupGranularity); next.Before(soonest) {
		next = soonest
	}
	if !w.at.IsZero() && !w.at.After(next) {
		return
	}
	w.at = next
	d := max(next.Sub(w.clock.Now()), 0)
	if w.timer == nil {
		w.timer = w.afterFunc(d, w.fire)
	} else {
		w.timer.Reset(d)
	}
}

// fire wakes the claim loop and drops the times that have passed; the
// timer is set again for the others.
func (w *wakeups) fire() {
	w.mu.Lock()
	now := w.clock.Now()
	for len(w.times) > 0 && !w.times[0].After(now) {
		heap.Pop(&w.times)
	}
	w.at, w.last = time.Time{}, now
	w.scheduleLocked()
	w.mu.Unlock()
	w.wake()
}

// stop cancels the timer.
func (w *wakeups) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.times, w.at = nil, time.Time{}
}

type timeHeap []time.Time

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(time.Time)) }
func (h *timeHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}
