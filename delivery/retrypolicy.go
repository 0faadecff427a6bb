package delivery

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultSchedule returns the base gap after each failed attempt: after attempt n
// the delivery waits Schedule[n-1], and the last step repeats until the
// retry window ends. Jitter shortens each gap by up to RetryJitter (never
// lengthens it), and the steps grow by at least ×2.5, so even the shortest
// jittered gap is at least twice the longest previous one, up to the 4 h cap:
//
//	5s 15s 1m 5m 30m 1h30m 4h 4h …
//
// With a 24 h window that is 12 or 13 attempts; the last one is placed in the
// final hour of the window (see RetryPolicy.Next).
func DefaultSchedule() []time.Duration { return slices.Clone(defaultSchedule) }

var defaultSchedule = []time.Duration{
	5 * time.Second,
	15 * time.Second,
	time.Minute,
	5 * time.Minute,
	30 * time.Minute,
	90 * time.Minute,
	4 * time.Hour,
}

// DefaultRetryWindow is how long after its first attempt a delivery is
// retried before it is marked failed.
const DefaultRetryWindow = 24 * time.Hour

// RetryJitter is the largest fraction by which jitter shortens a gap. Jitter
// only shortens, so the largest step is a hard cap and a Retry-After can be
// compared with the scheduled gap without surprises.
const RetryJitter = 0.2

// RetryPolicy decides when a failed delivery is attempted again. It is a pure
// function of its inputs (see Next), so every bound is table-testable
// without clocks or randomness.
type RetryPolicy struct {
	// Schedule is the base gap after each attempt; the last step repeats.
	// Empty means DefaultSchedule(). The largest step is the cap of every gap,
	// including one asked for by Retry-After.
	Schedule []time.Duration
	// Window is how long after the first attempt retries go on; zero means
	// DefaultRetryWindow. The last attempt falls in the final Window/24 of
	// the window (23–24 h after the first for the default).
	Window time.Duration
}

// DefaultRetryPolicy returns the policy of SPEC §4: first retry within 10 s,
// gaps growing at least ×2 up to 4 h, the last attempt 23–24 h after the
// first.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Schedule: DefaultSchedule(), Window: DefaultRetryWindow}
}

// RetryParams are the inputs of RetryPolicy.Next.
type RetryParams struct {
	// Attempt is the number of attempts made so far, counting the one that
	// just failed (1 after the first attempt).
	Attempt int
	// FirstAttempt is the time of the first attempt of the current retry
	// window; Now is the time the attempt that just failed was made.
	FirstAttempt time.Time
	Now          time.Time
	// RetryAfter is the receiver's Retry-After, 0 when it sent none.
	RetryAfter time.Duration
	// Random is a uniform sample from [0, 1) that picks the jitter.
	Random float64
}

// Validate reports a policy that cannot work: a non-positive step or window.
func (p RetryPolicy) Validate() error {
	for i, d := range p.Schedule {
		if d <= 0 {
			return fmt.Errorf("retry schedule step %d is %v; every step must be positive", i+1, d)
		}
	}
	if p.Window < 0 {
		return fmt.Errorf("retry window is %v; it must be positive", p.Window)
	}
	return nil
}

func (p RetryPolicy) schedule() []time.Duration {
	if len(p.Schedule) == 0 {
		return defaultSchedule
	}
	return p.Schedule
}

func (p RetryPolicy) window() time.Duration {
	if p.Window <= 0 {
		return DefaultRetryWindow
	}
	return p.Window
}

// Cap is the longest gap the policy ever waits: its largest step.
func (p RetryPolicy) Cap() time.Duration {
	var m time.Duration
	for _, d := range p.schedule() {
		m = max(m, d)
	}
	return m
}

// Next returns when to attempt again after a failed attempt, or ok=false to
// give up. The rules, in order:
//
//  1. The gap is the schedule step for this attempt, shortened by jitter
//     (up to RetryJitter of it, picked by Random).
//  2. A Retry-After longer than that gap replaces it, but never beyond the
//     cap (the largest step). A Retry-After shorter than the gap is ignored:
//     the backoff exists to protect receivers that are struggling, and a
//     receiver asking for an early retry gains little from it.
//  3. If the retry lands inside the window it is the answer.
//  4. Otherwise, if Now is already in the final Window/24 of the window, the
//     attempt that just failed was the last one: give up.
//  5. Otherwise one final attempt is placed in the final Window/24 of the
//     window (its exact point picked by Random), so the delivery gets its
//     last chance as late as the window allows. That gap is never longer than
//     the one rule 3 rejected, so the cap still holds; it may be shorter than
//     the gap before it; the growth rule yields to the window here.
func (p RetryPolicy) Next(in RetryParams) (next time.Time, ok bool) {
	sched := p.schedule()
	n := min(max(in.Attempt, 1), len(sched))
	u := min(max(in.Random, 0), math.Nextafter(1, 0))

	gap := sched[n-1] - time.Duration(float64(sched[n-1])*RetryJitter*u)
	if in.RetryAfter > gap {
		gap = min(in.RetryAfter, p.Cap())
	}
	window := p.window()
	deadline := in.FirstAttempt.Add(window)
	if t := in.Now.Add(gap); t.Before(deadline) {
		return t, true
	}
	finalBand := window / 24
	if !in.Now.Before(deadline.Add(-finalBand)) {
		return time.Time{}, false
	}
	return deadline.Add(-time.Duration(float64(finalBand) * u)), true
}

// ParseSchedule parses a comma-separated list of Go durations, such as the
// WEBHOOKD_RETRY_SCHEDULE setting ("5s,30s,5m,30m,2h,4h"). Steps must be
// positive and must not shrink: a schedule that backs off less after more
// failures is almost certainly a typo.
func ParseSchedule(s string) ([]time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("retry schedule is empty; give a comma-separated list of durations such as 5s,30s,5m,1h,4h")
	}
	parts := strings.Split(s, ",")
	out := make([]time.Duration, 0, len(parts))
	for i, part := range parts {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("retry schedule step %d is empty (two commas in a row, or a trailing comma?)", i+1)
		}
		d, err := time.ParseDuration(part)
		if err != nil {
			return nil, fmt.Errorf("retry schedule step %d: %q is not a duration such as 30s, 5m or 4h", i+1, part)
		}
		if d <= 0 {
			return nil, fmt.Errorf("retry schedule step %d is %v; every step must be positive", i+1, d)
		}
		if i > 0 && d < out[i-1] {
			return nil, fmt.Errorf("retry schedule step %d (%v) is shorter than step %d (%v); steps must not shrink", i+1, d, i, out[i-1])
		}
		out = append(out, d)
	}
	return out, nil
}

// ParseRetryAfter reads a Retry-After header, given as delay-seconds or as an
// HTTP date, as a delay from now. ok is false when the header is absent or
// unreadable; a date in the past is a zero delay.
func ParseRetryAfter(h string, now time.Time) (d time.Duration, ok bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(h, 10, 63); err == nil {
		if secs > uint64(math.MaxInt64/int64(time.Second)) {
			return time.Duration(math.MaxInt64), true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
