package delivery

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

// TestWakeups: each due time gets a wake-up at or after it, never before
// it, and wake-ups come at least wakeupGranularity apart.
func TestWakeups(t *testing.T) {
	t.Parallel()
	w, woke := newTestWakeups(t, 10)
	start := time.Now()
	w.add(start.Add(150 * time.Millisecond))
	w.add(start.Add(30 * time.Millisecond))
	w.add(start.Add(35 * time.Millisecond)) // not due at the 30ms wake-up: one of its own, 10ms after it
	w.add(start.Add(-time.Second))          // already due: wakes at once

	var got []time.Duration
	timeout := time.After(5 * time.Second)
	for len(got) < 4 {
		select {
		case at := <-woke:
			got = append(got, at.Sub(start))
		case <-timeout:
			t.Fatalf("wake-ups after %v: %v, want 4", time.Since(start), got)
		}
	}
	if got[0] > 25*time.Millisecond || got[1] < 30*time.Millisecond || got[2] < 35*time.Millisecond ||
		got[2]-got[1] < wakeupGranularity/2 || got[3] < 150*time.Millisecond {
		// (About wakeupGranularity apart: the times are taken in the
		// callback, a little after each wake-up's own.)
		t.Errorf("wake-ups at %v; want one at once, one at 30ms or later, one at 35ms or later and about %v after it, one at 150ms or later",
			got, wakeupGranularity)
	}
	select {
	case at := <-woke:
		t.Errorf("a fifth wake-up at %v", at.Sub(start))
	case <-time.After(100 * time.Millisecond):
	}
}

// TestWakeupsShare: times a millisecond apart share wake-ups, and the last
// of them still has one at or after it: a wake-up that came before a
// delivery was due would leave it to the poll.
func TestWakeupsShare(t *testing.T) {
	t.Parallel()
	w, woke := newTestWakeups(t, 200)
	start := time.Now()
	const n = 95
	for i := range n {
		w.add(start.Add(20*time.Millisecond + time.Duration(i)*time.Millisecond))
	}
	last := start.Add(20*time.Millisecond + (n-1)*time.Millisecond)
	var got []time.Time
	for {
		select {
		case at := <-woke:
			got = append(got, at)
			if !at.Before(last) {
				if len(got) > 12 {
					t.Errorf("%d wake-ups for times spread over %v; want them %v apart at least", len(got), last.Sub(start)-20*time.Millisecond, wakeupGranularity)
				}
				return
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no wake-up at or after the last time (%d wake-ups, the last %v before it)", len(got), last.Sub(got[len(got)-1]))
		}
	}
}

// newTestWakeups returns wakeups on the system clock that send the time of
// each wake-up on woke (buffered for n), stopped when the test ends.
func newTestWakeups(t *testing.T, n int) (w *wakeups, woke <-chan time.Time) {
	ch := make(chan time.Time, n)
	w = newWakeups(webhookd.SystemClock{}, func() { ch <- time.Now() })
	t.Cleanup(w.stop)
	return w, ch
}
