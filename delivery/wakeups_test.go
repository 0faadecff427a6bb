package delivery

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

// TestWakeups: a wake-up comes at each due time that is not within
// wakeupGranularity of an earlier one, and one covers all of those.
func TestWakeups(t *testing.T) {
	t.Parallel()
	woke := make(chan time.Time, 10)
	w := newWakeups(webhookd.SystemClock{}, func() { woke <- time.Now() })
	defer w.stop()
	start := time.Now()
	w.add(start.Add(150 * time.Millisecond))
	w.add(start.Add(30 * time.Millisecond))
	w.add(start.Add(35 * time.Millisecond)) // shares the first wake-up
	w.add(start.Add(-time.Second))          // already due: wakes at once, covers nothing else

	var got []time.Duration
	timeout := time.After(5 * time.Second)
	for len(got) < 3 {
		select {
		case at := <-woke:
			got = append(got, at.Sub(start))
		case <-timeout:
			t.Fatalf("wake-ups after %v: %v, want 3", time.Since(start), got)
		}
	}
	if got[0] > 25*time.Millisecond || got[1] < 30*time.Millisecond || got[2] < 150*time.Millisecond {
		t.Errorf("wake-ups at %v; want one at once, one at 30ms or later, one at 150ms or later", got)
	}
	select {
	case at := <-woke:
		t.Errorf("a fourth wake-up at %v: the 35ms one should have shared the 30ms one", at.Sub(start))
	case <-time.After(100 * time.Millisecond):
	}
}
