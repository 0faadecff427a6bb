package delivery

import (
	"testing"
	"time"
)

// TestLimiter drives the adaptive limit through sequences of attempts on a
// fake clock: each step is an attempt ending at its time after took, with
// inflight attempts in flight, and the limit it must leave.
func TestLimiter(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	type step struct {
		v        verdict
		took     time.Duration
		inflight int
		at       time.Duration // after dt0
		repeat   int           // this many times (0: once), at the same time
		want     int
	}
	tests := []struct {
		name             string
		initial, maxLimt int
		steps            []step
	}{
		{"grows by one per limit's worth of quick healthy attempts while in use", 16, 64, []step{
			{verdictHealthy, ms, 16, 10 * ms, 15, 16}, // 15/16 of the way
			{verdictHealthy, ms, 16, 10 * ms, 0, 17},
			{verdictHealthy, ms, 17, 11 * ms, 17, 18},
		}},
		{"does not grow while fewer than half of its slots are taken", 16, 64, []step{
			{verdictHealthy, ms, 7, 10 * ms, 1000, 16},
		}},
		{"grows to max and no further", 4, 6, []step{
			{verdictHealthy, ms, 6, 10 * ms, 1000, 6},
		}},
		{"a failing attempt halves it; those that began before the cut do not cut again", 32, 64, []step{
			{verdictHealthy, ms, 1, 10 * ms, 0, 32},
			{verdictFailing, 5 * ms, 32, 20 * ms, 0, 16},
			{verdictFailing, 5 * ms, 31, 21 * ms, 10, 16}, // began at 16ms, before the cut at 20ms
			{verdictFailing, 5 * ms, 16, 26 * ms, 0, 8},   // began at 21ms, after it
		}},
		{"429, 5xx and timeouts take it down to 1, not below", 16, 64, []step{
			{verdictFailing, 10 * ms, 1, 100 * ms, 0, 8},
			{verdictFailing, 10 * ms, 1, 200 * ms, 0, 4},
			{verdictFailing, 10 * ms, 1, 300 * ms, 0, 2},
			{verdictFailing, 10 * ms, 1, 400 * ms, 0, 1},
			{verdictFailing, 10 * ms, 1, 500 * ms, 0, 1},
		}},
		{"latency rising past twice the usual time and 10ms cuts it by a tenth", 10, 20, []step{
			{verdictHealthy, 2 * ms, 20, 10 * ms, 300, 20}, // grown to max
			{verdictHealthy, 13 * ms, 20, 30 * ms, 0, 20},  // 13ms < 2×2ms+10ms: noise
			{verdictHealthy, 30 * ms, 20, 60 * ms, 0, 18},  // 20 × 0.9
		}},
		{"rising latency never cuts below the start; a failing attempt does", 10, 20, []step{
			{verdictHealthy, 2 * ms, 20, 10 * ms, 300, 20},
			{verdictHealthy, 30 * ms, 20, 1 * time.Second, 0, 18},
			{verdictHealthy, 30 * ms, 20, 2 * time.Second, 0, 16},
			{verdictHealthy, 30 * ms, 20, 3 * time.Second, 0, 14},
			{verdictHealthy, 30 * ms, 20, 4 * time.Second, 0, 13},
			{verdictHealthy, 30 * ms, 20, 5 * time.Second, 0, 11},
			{verdictHealthy, 30 * ms, 20, 6 * time.Second, 0, 10},
			{verdictHealthy, 30 * ms, 20, 7 * time.Second, 0, 10}, // 10.6 × 0.9 would be 9.6
			{verdictHealthy, 30 * ms, 20, 8 * time.Second, 0, 10},
			{verdictFailing, 30 * ms, 20, 9 * time.Second, 0, 5},
			{verdictHealthy, 90 * ms, 5, 10 * time.Second, 0, 5}, // below the start: latency leaves it
		}},
		{"a destination that became slower for good stops being cut", 5, 10, []step{
			{verdictHealthy, ms, 10, 10 * ms, 100, 10},
			{verdictHealthy, 50 * ms, 1, 100 * ms, 0, 9},
			// The usual time drifts towards 50ms, attempt by attempt, a
			// second apart (so each would be a cut of its own).
			{verdictHealthy, 50 * ms, 10, 1100 * ms, 0, 8},
			{verdictHealthy, 50 * ms, 10, 2100 * ms, 0, 7},
		}},
		{"nothing sent says nothing", 16, 64, []step{
			{verdictNeutral, 0, 16, 10 * ms, 100, 16},
			{verdictNeutral, 5 * time.Second, 16, 10 * time.Second, 0, 16},
			{verdictFailing, 0, 16, 10 * time.Second, 0, 16},
		}},
		{"the initial limit is at most max, and both at least 1", 16, 8, []step{
			{verdictNeutral, 0, 0, 0, 0, 8},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newLimiter(tt.initial, tt.maxLimt)
			for i, s := range tt.steps {
				for range s.repeat + 1 {
					l.observe(s.v, s.took, s.inflight, dt0.Add(s.at))
				}
				if got := l.current(); got != s.want {
					t.Fatalf("step %d: limit %d (%.3f), want %d", i+1, got, l.limit, s.want)
				}
			}
		})
	}
	if l := newLimiter(0, 0); l.current() != 1 {
		t.Errorf("newLimiter(0, 0) = %d, want 1", l.current())
	}
}

// TestLimiterRecovers: after a destination's failures took its limit to 1,
// quick healthy attempts bring it back up, one a round trip.
func TestLimiterRecovers(t *testing.T) {
	t.Parallel()
	l := newLimiter(16, 64)
	now := dt0
	for range 10 {
		now = now.Add(time.Second)
		l.observe(verdictFailing, 2*time.Second, 16, now)
	}
	if l.current() != 1 {
		t.Fatalf("after 10 failures: %d, want 1", l.current())
	}
	n := 0
	for l.current() < 16 {
		now = now.Add(time.Millisecond)
		l.observe(verdictHealthy, time.Millisecond, l.current(), now)
		n++
		if n > 1000 {
			t.Fatalf("still %d after %d healthy attempts", l.current(), n)
		}
	}
	// From k to k+1 takes k attempts: 1+2+…+15 = 120, a few more where
	// k times 1/k falls short of 1 in floating point.
	if n < 120 || n > 135 {
		t.Errorf("back to 16 after %d healthy attempts, want about 120", n)
	}
}
