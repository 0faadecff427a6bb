package delivery_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// almostOne is the largest Random value: the shortest jittered gaps.
var almostOne = math.Nextafter(1, 0)

// walk follows a policy from a first attempt at t0, each retry made exactly
// when due, and returns the attempt times (the first is t0).
func walk(t *testing.T, p delivery.RetryPolicy, random func(attempt int) float64) []time.Time {
	t.Helper()
	times := []time.Time{t0}
	for n := 1; ; n++ {
		next, ok := p.Next(delivery.RetryParams{Attempt: n, FirstAttempt: t0, Now: times[n-1], Random: random(n)})
		if !ok {
			return times
		}
		if !next.After(times[n-1]) {
			t.Fatalf("attempt %d: next %v is not after now %v", n+1, next, times[n-1])
		}
		times = append(times, next)
		if n > 1000 {
			t.Fatal("policy never gives up")
		}
	}
}

// checkDefaultBounds asserts every bound SPEC §4 puts on the default
// schedule: first retry within 10 s, each gap at least ×2 the previous (up to
// the cap; the jittered cap band is 3.2–4 h), no gap over 4 h, the last
// attempt 23–24 h after the first.
func checkDefaultBounds(t *testing.T, times []time.Time) {
	t.Helper()
	const capGap = 4 * time.Hour
	capFloor := time.Duration(float64(capGap) * (1 - delivery.RetryJitter))
	if len(times) < 2 {
		t.Fatalf("only %d attempts", len(times))
	}
	if g := times[1].Sub(times[0]); g > 10*time.Second {
		t.Errorf("first retry after %v, want within 10s", g)
	}
	last := len(times) - 1
	for i := 1; i <= last; i++ {
		g := times[i].Sub(times[i-1])
		if g > capGap {
			t.Errorf("gap %d is %v, over the 4h cap", i, g)
		}
		// The final attempt is placed by the window, not by the growth rule.
		if i >= 2 && i < last {
			prev := times[i-1].Sub(times[i-2])
			if want := min(2*prev, capFloor); g < want {
				t.Errorf("gap %d is %v, want at least %v (×2 of %v, up to the cap)", i, g, want, prev)
			}
		}
	}
	if span := times[last].Sub(times[0]); span < 23*time.Hour || span > 24*time.Hour {
		t.Errorf("last attempt %v after the first, want 23h–24h", span)
	}
}

func TestDefaultScheduleBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		random func(int) float64
	}{
		{"no jitter", func(int) float64 { return 0 }},
		{"shortest gaps", func(int) float64 { return almostOne }},
		{"midpoint", func(int) float64 { return 0.5 }},
		{"alternating extremes", func(n int) float64 { return float64(n%2) * almostOne }},
		{"short then long", func(n int) float64 { return map[bool]float64{true: almostOne, false: 0}[n < 7] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkDefaultBounds(t, walk(t, delivery.DefaultRetryPolicy(), tt.random))
		})
	}
}

func TestDefaultScheduleBoundsRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		times := walk(t, delivery.DefaultRetryPolicy(), func(int) float64 { return rng.Float64() })
		checkDefaultBounds(t, times)
		if t.Failed() {
			t.Fatalf("attempt times: %v", times)
		}
	}
}

func TestDefaultScheduleExactTimes(t *testing.T) {
	t.Parallel()
	times := walk(t, delivery.DefaultRetryPolicy(), func(int) float64 { return 0 })
	var got []string
	for _, tm := range times {
		got = append(got, tm.Sub(t0).String())
	}
	want := "0s 5s 20s 1m20s 6m20s 36m20s 2h6m20s 6h6m20s 10h6m20s 14h6m20s 18h6m20s 22h6m20s 24h0m0s"
	if strings.Join(got, " ") != want {
		t.Errorf("attempt offsets:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}

func TestRetryPolicyNext(t *testing.T) {
	t.Parallel()
	short := delivery.RetryPolicy{Schedule: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}, Window: 240 * time.Millisecond}
	tests := []struct {
		name   string
		policy delivery.RetryPolicy
		in     delivery.RetryParams
		want   time.Duration // from Now; -1 = give up
	}{
		{"first retry, no jitter", delivery.DefaultRetryPolicy(), delivery.RetryParams{Attempt: 1, FirstAttempt: t0, Now: t0}, 5 * time.Second},
		{"first retry, most jitter", delivery.DefaultRetryPolicy(), delivery.RetryParams{Attempt: 1, FirstAttempt: t0, Now: t0, Random: almostOne}, 4 * time.Second},
		{"attempt 0 is read as 1", delivery.DefaultRetryPolicy(), delivery.RetryParams{Attempt: 0, FirstAttempt: t0, Now: t0}, 5 * time.Second},
		{"last step repeats", delivery.DefaultRetryPolicy(), delivery.RetryParams{Attempt: 9, FirstAttempt: t0, Now: t0.Add(10 * time.Hour)}, 4 * time.Hour},
		{"Random out of range is clamped", delivery.DefaultRetryPolicy(), delivery.RetryParams{Attempt: 1, FirstAttempt: t0, Now: t0, Random: 7}, 4 * time.Second},
		{"Retry-After shorter than the gap is ignored", delivery.DefaultRetryPolicy(), delivery.RetryParams{Attempt: 3, FirstAttempt: t0, Now: t0.Add(time.Minute), RetryAfter: time.Second}, time.Minute},
		{"Retry-After longer than the gap is honoured", delivery.DefaultRetryPolicy(), delivery.RetryParams{Attempt: 1, FirstAttempt: t0, Now: t0, RetryAfter: 2 * time.Minute}, 2 * time.Minute},
		{"Retry-After is capped at 4h", delivery.DefaultRetryPolicy(), delivery.RetryParams{Attempt: 1, FirstAttempt: t0, Now: t0, RetryAfter: 48 * time.Hour}, 4 * time.Hour},
		{"Retry-After past the window gets the final attempt", delivery.DefaultRetryPolicy(), delivery.RetryParams{Attempt: 8, FirstAttempt: t0, Now: t0.Add(21 * time.Hour), RetryAfter: 4 * time.Hour}, 3 * time.Hour},
		{"gap past the window: final attempt at the end", delivery.DefaultRetryPolicy(), delivery.RetryParams{Attempt: 12, FirstAttempt: t0, Now: t0.Add(22 * time.Hour)}, 2 * time.Hour},
		{"gap past the window: final attempt, earliest", delivery.DefaultRetryPolicy(), delivery.RetryParams{Attempt: 12, FirstAttempt: t0, Now: t0.Add(22 * time.Hour), Random: 0.5}, 90 * time.Minute},
		{"in the final hour: give up", delivery.DefaultRetryPolicy(), delivery.RetryParams{Attempt: 12, FirstAttempt: t0, Now: t0.Add(23 * time.Hour)}, -1},
		{"past the window (late attempt): give up", delivery.DefaultRetryPolicy(), delivery.RetryParams{Attempt: 3, FirstAttempt: t0, Now: t0.Add(30 * time.Hour)}, -1},
		{"in the final hour but the gap fits", delivery.DefaultRetryPolicy(), delivery.RetryParams{Attempt: 1, FirstAttempt: t0, Now: t0.Add(23*time.Hour + 30*time.Minute)}, 5 * time.Second},
		{"short schedule, step 2", short, delivery.RetryParams{Attempt: 2, FirstAttempt: t0, Now: t0.Add(10 * time.Millisecond)}, 20 * time.Millisecond},
		{"short schedule, final attempt", short, delivery.RetryParams{Attempt: 5, FirstAttempt: t0, Now: t0.Add(200 * time.Millisecond)}, 40 * time.Millisecond},
		{"short schedule, give up", short, delivery.RetryParams{Attempt: 6, FirstAttempt: t0, Now: t0.Add(235 * time.Millisecond)}, -1},
		{"zero policy is the default", delivery.RetryPolicy{}, delivery.RetryParams{Attempt: 2, FirstAttempt: t0, Now: t0}, 15 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			next, ok := tt.policy.Next(tt.in)
			if tt.want < 0 {
				if ok {
					t.Fatalf("Next = %v (+%v), want give up", next, next.Sub(tt.in.Now))
				}
				return
			}
			if !ok {
				t.Fatalf("Next gave up, want +%v", tt.want)
			}
			// Jitter multiplies a float; allow a nanosecond of rounding.
			if got := next.Sub(tt.in.Now); got < tt.want-time.Nanosecond || got > tt.want+time.Nanosecond {
				t.Errorf("Next = +%v, want +%v", got, tt.want)
			}
		})
	}
}

func TestRetryPolicyValidate(t *testing.T) {
	t.Parallel()
	if err := delivery.DefaultRetryPolicy().Validate(); err != nil {
		t.Errorf("default policy: %v", err)
	}
	if err := (delivery.RetryPolicy{Schedule: []time.Duration{time.Second, 0}}).Validate(); err == nil || !strings.Contains(err.Error(), "step 2") {
		t.Errorf("zero step: %v", err)
	}
	if err := (delivery.RetryPolicy{Window: -time.Hour}).Validate(); err == nil {
		t.Error("negative window accepted")
	}
}

func TestParseSchedule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []time.Duration
		wantErr string
	}{
		{in: "5s,30s,5m,1h,4h", want: []time.Duration{5 * time.Second, 30 * time.Second, 5 * time.Minute, time.Hour, 4 * time.Hour}},
		{in: " 10ms , 20ms,20ms ", want: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}},
		{in: "1h30m", want: []time.Duration{90 * time.Minute}},
		{in: "", wantErr: "retry schedule is empty"},
		{in: "  ", wantErr: "retry schedule is empty"},
		{in: "5s,,1m", wantErr: "step 2 is empty"},
		{in: "5s,1m,", wantErr: "step 3 is empty"},
		{in: "5s,10", wantErr: `step 2: "10" is not a duration`},
		{in: "5 seconds", wantErr: `step 1: "5 seconds" is not a duration`},
		{in: "0s,1m", wantErr: "step 1 is 0s; every step must be positive"},
		{in: "-5s", wantErr: "step 1 is -5s"},
		{in: "1m,30s", wantErr: "step 2 (30s) is shorter than step 1 (1m0s)"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := delivery.ParseSchedule(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSchedule(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSchedule(%q): %v", tt.in, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ParseSchedule(%q) = %v, want %v", tt.in, got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("ParseSchedule(%q) = %v, want %v", tt.in, got, tt.want)
				}
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"120", 2 * time.Minute, true},
		{" 0 ", 0, true},
		{"Sun, 01 Mar 2026 12:05:00 GMT", 5 * time.Minute, true},
		{"Sunday, 01-Mar-26 12:00:30 GMT", 30 * time.Second, true},
		{"Sun, 01 Mar 2026 11:00:00 GMT", 0, true}, // in the past
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"99999999999999999999", 0, false}, // overflows uint63
		{"9223372036854775807", time.Duration(math.MaxInt64), true}, // saturates
	}
	for _, tt := range tests {
		got, ok := delivery.ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}
