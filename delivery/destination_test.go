package delivery

import (
	"net/http"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

var dt0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// admit asks for a slot without a claim to queue: admitted or deferred.
func admit(ds *destinations, key string, now time.Time) (bool, time.Time) {
	a, at := ds.acquire(key, nil, now)
	return a == admitted, at
}

// done ends an attempt; these tests queue nothing.
func done(ds *destinations, key string, v verdict, took time.Duration, now time.Time) {
	if next, put := ds.finish(key, v, took, now, false); next != nil || put != nil {
		panic("unexpected queued claims")
	}
}

func claimFor(id string) *webhookd.Claim {
	return &webhookd.Claim{Delivery: &webhookd.Delivery{ID: id}}
}

// TestQueue: claims over a destination's cap wait in its queue, past the
// queue's pacing limit (queueCap here), up to what all queues together
// hold, and take the slot of the attempt that ends; an opening circuit or
// a stopping engine hands them back to be deferred.
func TestQueue(t *testing.T) {
	t.Parallel()
	const a, b = "https://a.test:443", "https://b.test:443"
	ds := newDestinations(1, BreakerConfig{FailureThreshold: 1, OpenFor: time.Minute}, time.Second, 2, 4)
	want := func(key, id string, wantA admission) {
		t.Helper()
		if got, _ := ds.acquire(key, claimFor(id), dt0); got != wantA {
			t.Fatalf("acquire %s for %s = %v, want %v", id, key, got, wantA)
		}
	}
	want(a, "a1", admitted)
	want(a, "a2", queued)
	want(a, "a3", queued)
	want(a, "a4", queued) // past queueCap: it waits
	want(b, "b1", admitted)
	want(b, "b2", queued)
	want(b, "b3", busy) // all queues together are full

	next, put := ds.finish(a, verdictHealthy, time.Millisecond, dt0, false)
	if next == nil || next.Delivery.ID != "a2" || put != nil {
		t.Fatalf("finish = %v, %v; want the slot handed to a2", next, put)
	}
	want(a, "a5", queued)                                             // a2 left the queue, so there is room again
	next, put = ds.finish(a, verdictFailing, time.Second, dt0, false) // opens a's circuit
	if next != nil || len(put) != 3 {
		t.Fatalf("finish after the circuit opened = %v, %v; want both queued claims deferred", next, put)
	}
	for _, p := range put {
		if p.At.Before(dt0.Add(time.Minute)) {
			t.Errorf("%s deferred to %v, before the circuit half-opens", p.Claim.Delivery.ID, p.At.Sub(dt0))
		}
	}
	next, put = ds.finish(b, verdictHealthy, time.Millisecond, dt0, true) // stopping
	if next != nil || len(put) != 1 || !put[0].At.Equal(dt0) {
		t.Fatalf("finish while stopping = %v, %v; want b2 deferred, due now", next, put)
	}
}

func TestDestinationKey(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"https://Example.COM/hooks?x=1":  "https://example.com:443",
		"https://example.com:8443/a":     "https://example.com:8443",
		"http://example.com/":            "http://example.com:80",
		"HTTPS://example.com":            "https://example.com:443",
		"https://[2001:db8::1]/x":        "https://[2001:db8::1]:443",
		"https://user@example.com:443/x": "https://example.com:443",
	}
	for in, want := range tests {
		if got := destinationKey(in); got != want {
			t.Errorf("destinationKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInFlightCap(t *testing.T) {
	t.Parallel()
	ds := newDestinations(2, BreakerConfig{}.withDefaults(), time.Second, 0, 0)
	const key = "https://a.test:443"
	for i := range 2 {
		if ok, _ := admit(ds, key, dt0); !ok {
			t.Fatalf("attempt %d refused under the cap", i+1)
		}
	}
	ok, at := admit(ds, key, dt0)
	if ok || !at.After(dt0) {
		t.Fatalf("third attempt: ok=%v at=%v, want deferred to later", ok, at)
	}
	if ok, _ := admit(ds, "https://b.test:443", dt0); !ok {
		t.Fatal("another destination was refused because of a busy one")
	}
	done(ds, key, verdictHealthy, time.Millisecond, dt0)
	if ok, _ := admit(ds, key, dt0); !ok {
		t.Fatal("refused after a slot was released")
	}
}

// TestDeferralSpacing: deferred claims of a destination are spaced by its
// time per attempt over its cap, so a hanging destination's backlog is spread
// out while a fast one's comes back at once.
func TestDeferralSpacing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		latency  time.Duration // of a finished attempt, before the test
		hangFor  time.Duration // how long the attempts in flight have run
		wantStep time.Duration
	}{
		{"fast destination", 2 * time.Millisecond, 0, 500 * time.Microsecond},                  // 2ms/4
		{"instant destination", 40 * time.Microsecond, 0, minStep},                             // 40µs/4 is below the floor
		{"slow destination", 400 * time.Millisecond, 0, 100 * time.Millisecond},                // 400ms/4
		{"hanging destination", 2 * time.Millisecond, 2 * time.Second, 500 * time.Millisecond}, // 2s/4
		{"hanging past the cap", 0, 10 * time.Second, time.Second},                             // 10s/4 capped at maxStep
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ds := newDestinations(4, BreakerConfig{}.withDefaults(), time.Second, 0, 0)
			const key = "https://a.test:443"
			for range 4 {
				admit(ds, key, dt0)
			}
			if tt.latency > 0 { // one attempt finishes, another starts
				done(ds, key, verdictHealthy, tt.latency, dt0)
				admit(ds, key, dt0)
			}
			now := dt0.Add(tt.hangFor)
			prev := now
			for i := range 3 {
				ok, at := admit(ds, key, now)
				if ok {
					t.Fatal("admitted over the cap")
				}
				if step := at.Sub(prev); step != tt.wantStep {
					t.Errorf("deferral %d: step %v, want %v", i+1, step, tt.wantStep)
				}
				prev = at
			}
		})
	}
}

func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	const key = "https://a.test:443"
	openFor := 30 * time.Second
	ds := newDestinations(10, BreakerConfig{FailureThreshold: 3, OpenFor: openFor}, time.Second, 0, 0)
	fail := func(now time.Time) {
		t.Helper()
		if ok, _ := admit(ds, key, now); !ok {
			t.Fatalf("refused at %v", now.Sub(dt0))
		}
		done(ds, key, verdictFailing, time.Second, now)
	}

	fail(dt0)
	fail(dt0)
	admit(ds, key, dt0) // a healthy answer resets the count
	done(ds, key, verdictHealthy, time.Millisecond, dt0)
	fail(dt0)
	fail(dt0)
	if ds.openCircuits() != 0 {
		t.Fatal("open after 2 consecutive failures, threshold is 3")
	}
	fail(dt0)
	if ds.openCircuits() != 1 {
		t.Fatal("not open after 3 consecutive failures")
	}
	ok, at := admit(ds, key, dt0.Add(time.Second))
	if ok || at.Before(dt0.Add(openFor)) {
		t.Fatalf("open circuit: ok=%v, due %v after opening; want deferred past the half-open time %v", ok, at.Sub(dt0), openFor)
	}

	halfOpen := dt0.Add(openFor)
	if ok, _ := admit(ds, key, halfOpen); !ok {
		t.Fatal("half-open circuit refused the trial attempt")
	}
	if ok, _ := admit(ds, key, halfOpen); ok {
		t.Fatal("half-open circuit admitted a second attempt during the trial")
	}
	done(ds, key, verdictFailing, time.Second, halfOpen)
	if ok, at := admit(ds, key, halfOpen.Add(time.Second)); ok || at.Before(halfOpen.Add(openFor)) {
		t.Fatalf("after a failed trial: ok=%v due %v; want open again for %v", ok, at.Sub(halfOpen), openFor)
	}

	again := halfOpen.Add(openFor)
	if ok, _ := admit(ds, key, again); !ok {
		t.Fatal("second trial refused")
	}
	done(ds, key, verdictHealthy, time.Millisecond, again)
	if ds.openCircuits() != 0 {
		t.Fatal("still open after a successful trial")
	}
	if ok, _ := admit(ds, key, again); !ok {
		t.Fatal("closed circuit refused an attempt")
	}
}

func TestVerdictOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *AttemptError
		want verdict
	}{
		{&AttemptError{Stage: StageStatus, StatusCode: http.StatusInternalServerError}, verdictFailing},
		{&AttemptError{Stage: StageStatus, StatusCode: http.StatusServiceUnavailable}, verdictFailing},
		{&AttemptError{Stage: StageStatus, StatusCode: http.StatusTooManyRequests}, verdictFailing},
		{&AttemptError{Stage: StageStatus, StatusCode: http.StatusRequestTimeout}, verdictFailing},
		{&AttemptError{Stage: StageStatus, StatusCode: http.StatusNotFound}, verdictHealthy},
		{&AttemptError{Stage: StageStatus, StatusCode: http.StatusFound}, verdictHealthy},
		{&AttemptError{Stage: StageTimeout}, verdictFailing},
		{&AttemptError{Stage: StageConnect}, verdictFailing},
		{&AttemptError{Stage: StageConnection}, verdictFailing},
		{&AttemptError{Stage: StageTLS}, verdictFailing},
		{&AttemptError{Stage: StageDNS}, verdictFailing},
		{&AttemptError{Stage: StageRefused}, verdictNeutral},
		{&AttemptError{Stage: StageSign}, verdictNeutral},
	}
	for _, tt := range tests {
		if got := verdictOf(tt.err); got != tt.want {
			t.Errorf("verdictOf(%s %d) = %v, want %v", tt.err.Stage, tt.err.StatusCode, got, tt.want)
		}
	}
}

// TestQueueLimitFollowsPace: a destination queues as many claims as it
// starts within queueHorizon at its pace — queueCap while its pace is
// unknown, up to totalCap when it is fast, and back to queueCap once its
// running attempt shows that it has slowed down or hangs.
func TestQueueLimitFollowsPace(t *testing.T) {
	t.Parallel()
	const key = "https://a.test:443"
	ds := newDestinations(4, BreakerConfig{}.withDefaults(), time.Second, 10, 1000)
	d := func() *destination { return ds.byKey[key] }
	if a, _ := ds.acquire(key, nil, dt0); a != admitted {
		t.Fatal("first acquire not admitted")
	}
	if got := ds.queueLimit(d(), dt0); got != 10 {
		t.Errorf("unknown pace: limit %d, want queueCap 10", got)
	}
	// Attempts of 5ms: 4 slots start 200 in 250ms.
	ds.acquire(key, nil, dt0)
	ds.finish(key, verdictHealthy, 5*time.Millisecond, dt0, false)
	if got := ds.queueLimit(d(), dt0); got != 200 {
		t.Errorf("5ms per attempt: limit %d, want 200", got)
	}
	// 1ms per attempt would be 1000 in 250ms; 100µs is capped at totalCap.
	d().latency = 100 * time.Microsecond
	if got := ds.queueLimit(d(), dt0); got != 1000 {
		t.Errorf("100µs per attempt: limit %d, want totalCap 1000", got)
	}
	// The attempt in flight has run for 2s: the pace is at least that.
	if got := ds.queueLimit(d(), dt0.Add(2*time.Second)); got != 10 {
		t.Errorf("an attempt hanging for 2s: limit %d, want queueCap 10", got)
	}
}

// TestBusyKeepingPace: a claim turned away by a destination that is full
// but keeping pace is due again at once and holds the claims back (room)
// until its queue has room; one turned away by a destination that has
// stalled is spread out and holds nothing back.
func TestBusyKeepingPace(t *testing.T) {
	t.Parallel()
	const key = "https://a.test:443"
	ds := newDestinations(2, BreakerConfig{}.withDefaults(), time.Second, 2, 2) // the queues are full at 2
	admit(ds, key, dt0)
	admit(ds, key, dt0)
	ds.finish(key, verdictHealthy, time.Millisecond, dt0, false) // pace: 1ms
	ds.acquire(key, claimFor("run"), dt0)
	ds.acquire(key, claimFor("q1"), dt0)
	ds.acquire(key, claimFor("q2"), dt0)
	if got := ds.room(dt0); got != 0 {
		t.Fatalf("room with the queues full = %d, want 0", got)
	}
	a, at := ds.acquire(key, claimFor("over"), dt0)
	if a != busy || !at.Equal(dt0) {
		t.Fatalf("acquire over a full queue = %v at +%v, want busy, due at once", a, at.Sub(dt0))
	}
	if ds.blocked != key {
		t.Fatalf("blocked = %q, want %q", ds.blocked, key)
	}
	// An attempt ends and takes a queued claim: one place of room.
	if next, _ := ds.finish(key, verdictHealthy, time.Millisecond, dt0, false); next == nil {
		t.Fatal("the slot was not handed to a queued claim")
	}
	if got := ds.room(dt0); got != 1 {
		t.Errorf("room after one queued claim left = %d, want 1", got)
	}

	// 50ms without an attempt ending, at 1ms per attempt: it hangs. A
	// claim still waits while the queues have room; past that it is
	// spread out, and the hanging destination holds nothing back.
	later := dt0.Add(50 * time.Millisecond)
	if a, _ := ds.acquire(key, claimFor("over2"), later); a != queued {
		t.Errorf("acquire at a hanging destination with room = %v, want queued", a)
	}
	a, at = ds.acquire(key, claimFor("over3"), later)
	if a != deferred || !at.After(later) {
		t.Errorf("acquire at a hanging destination, queues full = %v at +%v, want deferred, spread after now", a, at.Sub(later))
	}
	if got := ds.room(later); got != 0 || ds.blocked != "" {
		t.Errorf("room = %d, blocked = %q; want 0 (the queues are full) and nothing blocked", got, ds.blocked)
	}
}

// TestWaitLimit: how many claims may wait for a destination's slots
// follows its pace (here: what its slots start in 2s), the attempt running
// longest included once it has hung: all the engine
// holds for a fast one, fewer as a running attempt ages, and queueCap for
// one that hangs; past it a hanging destination's claims are deferred.
func TestWaitLimit(t *testing.T) {
	t.Parallel()
	const key = "https://a.test:443"
	tests := []struct {
		name    string
		latency time.Duration // of an attempt that ended at dt0 (another runs on); 0: none has
		at      time.Duration // after dt0, with an attempt in flight since dt0
		want    int
	}{
		{"pace unknown, just begun", 0, 0, 1000},
		{"pace unknown, first attempt running 1s", 0, time.Second, 1000},                             // not hung yet
		{"pace unknown, first attempt running 1.6s", 0, 1600 * time.Millisecond, 10},                 // 4 slots × 2s / 1.6s = 5, at least queueCap
		{"5ms per attempt", 5 * time.Millisecond, 0, 1000},                                           // 1600, at most totalCap
		{"20ms per attempt", 20 * time.Millisecond, 0, 400},                                          // 4 × 2s / 20ms
		{"5ms per attempt, one running 500ms", 5 * time.Millisecond, 500 * time.Millisecond, 1000},   // a stall, not a hang
		{"400ms per attempt, one running 1.5s", 400 * time.Millisecond, 1500 * time.Millisecond, 20}, // not hung: 4 × 400ms is longer
		{"400ms per attempt, one running 1.7s", 400 * time.Millisecond, 1700 * time.Millisecond, 10},
		{"100ms per attempt, one running 1.1s", 100 * time.Millisecond, 1100 * time.Millisecond, 10}, // 7
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ds := newDestinations(4, BreakerConfig{}.withDefaults(), time.Second, 10, 1000)
			ds.waitHorizon = 2 * time.Second
			admit(ds, key, dt0)
			if tt.latency > 0 { // with one more in flight, so that it is remembered
				admit(ds, key, dt0)
				done(ds, key, verdictHealthy, tt.latency, dt0)
				admit(ds, key, dt0)
			}
			if got := ds.waitLimit(ds.byKey[key], dt0.Add(tt.at)); got != tt.want {
				t.Errorf("waitLimit = %d, want %d", got, tt.want)
			}
		})
	}

	// A destination hanging for 2s (pace unknown) waits queueCap claims;
	// the next is deferred, spread out.
	ds := newDestinations(1, BreakerConfig{}.withDefaults(), time.Second, 2, 1000)
	ds.waitHorizon = 2 * time.Second
	admit(ds, key, dt0)
	now := dt0.Add(2 * time.Second)
	for i := range 2 {
		if a, _ := ds.acquire(key, claimFor("w"), now); a != queued {
			t.Fatalf("claim %d within the wait limit = %v, want queued", i+1, a)
		}
	}
	if a, at := ds.acquire(key, claimFor("over"), now); a != deferred || !at.After(now) {
		t.Errorf("claim past the wait limit of a hanging destination = %v at +%v, want deferred, spread", a, at.Sub(now))
	}
}

// TestQueueKeepsTheRoomItGave: claims taken on the room a destination's
// queue had are queued even when a failing attempt has lowered its limit
// since, and so are claims beyond that room, which leave none for more. Before, every slow
// attempt of an RS256 run lowered the limit for a moment, and the claims
// of the batch in flight were written back, to be claimed again: 1.7
// claims per delivery.
func TestQueueKeepsTheRoomItGave(t *testing.T) {
	t.Parallel()
	const key = "https://a.test:443"
	ds := newDestinations(4, BreakerConfig{}.withDefaults(), time.Second, 10, 1000)
	for range 4 {
		admit(ds, key, dt0)
	}
	// 5ms per attempt: 4 slots start 200 in 250ms.
	done(ds, key, verdictHealthy, 5*time.Millisecond, dt0)
	admit(ds, key, dt0)
	ds.blocked = key // as a claim turned away by its full queue leaves it
	if got := ds.room(dt0); got != 200 {
		t.Fatalf("room = %d, want the queue's limit, 200", got)
	}
	// A failing attempt ends (and is replaced): the pace is 15ms, and the
	// destination's in-flight limit is halved to 2 (limiter), so the
	// queue's limit is 33.
	done(ds, key, verdictFailing, 45*time.Millisecond, dt0)
	admit(ds, key, dt0)
	if got := ds.queueLimit(ds.byKey[key], dt0); got != 33 {
		t.Fatalf("limit after a failing 45ms attempt = %d, want 33", got)
	}
	for i := range 200 {
		if a, _ := ds.acquire(key, claimFor("c"), dt0); a != queued {
			t.Fatalf("claim %d of the 200 the room promised: %v, want queued", i+1, a)
		}
	}
	if a, _ := ds.acquire(key, claimFor("beyond"), dt0); a != queued {
		t.Errorf("claim beyond the room = %v, want queued: it waits, within waitLimit", a)
	}
	if got := ds.room(dt0); got != 0 {
		t.Errorf("room with 201 queued at a limit of 33 = %d, want 0", got)
	}
}

// TestDeferralsComeDueTogether: the deferrals of a slow destination, spaced
// 25ms apart, come due on the 100ms grid, so that one claim takes back
// those due together; a fast destination's keep their spacing.
func TestDeferralsComeDueTogether(t *testing.T) {
	t.Parallel()
	const key = "https://a.test:443"
	for _, tt := range []struct {
		name    string
		latency time.Duration
		want    []time.Duration // due times after dt0
	}{
		{"slow: 100ms/4 apart", 100 * time.Millisecond, []time.Duration{100, 100, 100, 100, 200} /* ms */},
		{"fast: 2ms/4 apart", 2 * time.Millisecond, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ds := newDestinations(4, BreakerConfig{}.withDefaults(), time.Second, 0, 0)
			for range 4 {
				admit(ds, key, dt0)
			}
			done(ds, key, verdictHealthy, tt.latency, dt0)
			admit(ds, key, dt0)
			for i := range 5 {
				_, at := admit(ds, key, dt0)
				want := dt0.Add(time.Duration(i+1) * tt.latency / 4) // the spacing alone
				if tt.want != nil {
					want = dt0.Add(tt.want[i] * time.Millisecond)
				}
				if !at.Equal(want) {
					t.Errorf("deferral %d due at +%v, want +%v", i+1, at.Sub(dt0), want.Sub(dt0))
				}
			}
		})
	}
}

// TestAdmitsToTheAdaptiveLimit: a destination starts at the initial limit,
// is admitted more as quick healthy attempts raise it, never more than the
// configured maximum, and fewer once failures cut it.
func TestAdmitsToTheAdaptiveLimit(t *testing.T) {
	t.Parallel()
	const key = "https://a.test:443"
	ds := newDestinations(20, BreakerConfig{FailureThreshold: 100, OpenFor: time.Minute}, time.Second, 10, 1000)
	fill := func(now time.Time) int {
		n := 0
		for {
			if ok, _ := admit(ds, key, now); !ok {
				return n
			}
			n++
		}
	}
	now := dt0
	if got := fill(now); got != initialLimit {
		t.Fatalf("admitted %d at first, want %d", got, initialLimit)
	}
	// Busy and answering in a millisecond: each attempt ends and another
	// takes its slot, until the limit has reached the maximum.
	for range 1000 {
		now = now.Add(time.Millisecond)
		done(ds, key, verdictHealthy, time.Millisecond, now)
		fill(now)
	}
	if got := ds.concurrencyLimit(key); got != 20 {
		t.Fatalf("limit after 1000 quick attempts at the limit = %d, want the maximum, 20", got)
	}
	if ok, _ := admit(ds, key, now); ok {
		t.Fatal("admitted past the maximum")
	}
	// Every attempt in flight answers 503: the limit is halved once, not
	// once for each (they all began before the cut). Only 10 start again.
	now = now.Add(time.Second)
	for range 20 {
		done(ds, key, verdictFailing, 2*time.Millisecond, now)
	}
	if got := fill(now); got != 10 {
		t.Errorf("admitted %d after a failure, want 10", got)
	}
}
