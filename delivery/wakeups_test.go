package delivery

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/fakeclock"
)

// TestWakeups: each due time gets a wake-up at or after it, never before
// it, and wake-ups come at least wakeupGranularity apart.
func TestWakeups(t *testing.T) {
	t.Parallel()
	w, ft := newFakeWakeups(t)
	start := ft.clock.Now()
	w.add(start.Add(150 * time.Millisecond))
	w.add(start.Add(30 * time.Millisecond))
	w.add(start.Add(35 * time.Millisecond)) // not due at the 30ms wake-up: one of its own, wakeupGranularity after it
	w.add(start.Add(-time.Second))          // already due: wakes at once
	got := ft.runOut()
	want := []time.Duration{0, 30 * time.Millisecond, 30*time.Millisecond + wakeupGranularity, 150 * time.Millisecond}
	checkWakeups(t, start, got, want)
}

// TestWakeupsLate: a timer that fires late wakes once for every time that
// has passed, and the times after it keep their own wake-ups.
func TestWakeupsLate(t *testing.T) {
	t.Parallel()
	w, ft := newFakeWakeups(t)
	start := ft.clock.Now()
	for _, d := range []time.Duration{30, 35, 60} {
		w.add(start.Add(d * time.Millisecond))
	}
	ft.fireAt(start.Add(46 * time.Millisecond)) // the 30ms timer, 16ms late
	got := ft.runOut()
	checkWakeups(t, start, got, []time.Duration{46 * time.Millisecond, 60 * time.Millisecond})
}

// TestWakeupsShare: times a millisecond apart share wake-ups, and the last
// of them still has one at or after it: a wake-up that came before a
// delivery was due would leave it to the poll.
func TestWakeupsShare(t *testing.T) {
	t.Parallel()
	w, ft := newFakeWakeups(t)
	start := ft.clock.Now()
	const n = 95
	for i := range n {
		w.add(start.Add(20*time.Millisecond + time.Duration(i)*time.Millisecond))
	}
	// 20ms, then every wakeupGranularity until one at or after the last
	// time (114ms): 11 wake-ups for 95 times.
	var want []time.Duration
	for d := 20 * time.Millisecond; d < 130*time.Millisecond; d += wakeupGranularity {
		want = append(want, d)
	}
	checkWakeups(t, start, ft.runOut(), want)
}

// TestWakeupsTimer: on the system clock and a real timer, a due time wakes
// the loop. (When, exactly, is the fake timer's tests' business.)
func TestWakeupsTimer(t *testing.T) {
	t.Parallel()
	woke := make(chan struct{}, 2)
	w := newWakeups(webhookd.SystemClock{}, func() { woke <- struct{}{} })
	t.Cleanup(w.stop)
	w.add(time.Now().Add(time.Millisecond))
	select {
	case <-woke:
	case <-time.After(20 * time.Second):
		t.Fatal("no wake-up")
	}
}

func checkWakeups(t *testing.T, start time.Time, got []time.Time, want []time.Duration) {
	t.Helper()
	rel := make([]time.Duration, len(got))
	for i, at := range got {
		rel[i] = at.Sub(start)
	}
	if len(rel) != len(want) {
		t.Fatalf("wake-ups at %v, want %v", rel, want)
	}
	for i := range want {
		if rel[i] != want[i] {
			t.Fatalf("wake-ups at %v, want %v", rel, want)
		}
	}
}

// fakeTimer is the wakeups' timer on a fake clock: the test fires it.
type fakeTimer struct {
	clock    *fakeclock.Clock
	f        func()
	deadline time.Time
	armed    bool
	woke     []time.Time // the clock's time at every wake-up
}

func newFakeWakeups(t *testing.T) (*wakeups, *fakeTimer) {
	ft := &fakeTimer{clock: fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))}
	w := newWakeups(ft.clock, func() { ft.woke = append(ft.woke, ft.clock.Now()) })
	w.afterFunc = func(d time.Duration, f func()) wakeTimer {
		ft.f = f
		ft.Reset(d)
		return ft
	}
	t.Cleanup(w.stop)
	return w, ft
}

func (ft *fakeTimer) Reset(d time.Duration) bool {
	was := ft.armed
	ft.deadline, ft.armed = ft.clock.Now().Add(d), true
	return was
}

func (ft *fakeTimer) Stop() bool {
	was := ft.armed
	ft.armed = false
	return was
}

// fireAt moves the clock to at and fires the timer, if it is armed.
func (ft *fakeTimer) fireAt(at time.Time) {
	if !ft.armed {
		return
	}
	ft.clock.Set(at)
	ft.armed = false
	ft.f()
}

// runOut fires the timer at each of its deadlines until it is no longer
// set, and returns the times of all wake-ups so far.
func (ft *fakeTimer) runOut() []time.Time {
	for i := 0; ft.armed; i++ {
		if i > 1000 {
			panic("the wake-up timer never stops")
		}
		at := ft.deadline
		if now := ft.clock.Now(); at.Before(now) {
			at = now
		}
		ft.fireAt(at)
	}
	return ft.woke
}
