package delivery

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/fakeclock"
)

// noQueue is a Queue these tests never reach: they drive the hand-off
// directly, without Run.
type noQueue struct{}

func (noQueue) ClaimDeliveries(context.Context, int, time.Duration) ([]*webhookd.Claim, error) {
	panic("not claimed in these tests")
}
func (noQueue) RecordResults(context.Context, []webhookd.Result) error { panic("not recorded") }
func (noQueue) QueueStats(context.Context) (webhookd.QueueStats, error) {
	return webhookd.QueueStats{}, nil
}

func handOffEngine(t *testing.T, clock webhookd.Clock) *Engine {
	t.Helper()
	// The queues hold 10×2 claims in all; an open circuit stays open for
	// the whole test.
	e, err := New(Config{Store: noQueue{}, Clock: clock, BatchSize: 2, Breaker: BreakerConfig{OpenFor: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func claimsFor(n int) []*webhookd.Claim {
	cs := make([]*webhookd.Claim, n)
	for i := range cs {
		cs[i] = claimFor(fmt.Sprint("d", i))
	}
	return cs
}

// TestHandOffRoom: the engine takes new deliveries only while it runs, and
// no more than the destinations' queues (and the destination's own slots
// and queue) have room for, counting what it took and has not dispatched
// and what the claim loop is claiming.
func TestHandOffRoom(t *testing.T) {
	e := handOffEngine(t, fakeclock.New(dt0))
	const uri = "https://a.example/hook"
	if take, at := e.Admit(uri); take || !at.IsZero() {
		t.Fatalf("before Run: Admit = %v, %v; want neither taken nor put off", take, at)
	}
	e.openHandOffs()
	// One destination whose pace is not known yet takes what its 16
	// slots and its queue of 2 (queueCap) can: 18 of the queues' 20.
	for i := range 18 {
		if take, _ := e.Admit(uri); !take {
			t.Fatalf("Admit %d of the destination's 18 places: not taken", i+1)
		}
	}
	if take, at := e.Admit(uri); take || !at.IsZero() {
		t.Fatalf("Admit 19 to one destination: %v, %v; want left for a claim: its slots and queue are full of takes", take, at)
	}
	// Once its pace is known, the queues' room is what counts.
	const fast = "https://fast.example/hook"
	e.dests.acquire(destinationKey(fast), nil, dt0)
	e.dests.acquire(destinationKey(fast), nil, dt0) // still running: its pace is kept
	e.dests.finish(destinationKey(fast), verdictHealthy, time.Millisecond, dt0, false)
	for i := range 2 {
		if take, _ := e.Admit(fast); !take {
			t.Fatalf("Admit %d to a destination of known pace: not taken", i+1)
		}
	}
	if take, at := e.Admit(fast); take || !at.IsZero() {
		t.Fatalf("Admit 21: %v, %v; want left for a claim: the queues are full of takes", take, at)
	}
	// A failed publish settles its takes with no claims: the room is back.
	e.Take(nil, 10)
	for range 10 {
		if take, _ := e.Admit(fast); !take {
			t.Fatal("the room of a failed publish's takes was not given back")
		}
	}
	// Taken claims hold their places until the claim loop takes them.
	e.Take(claimsFor(20), 20)
	if take, _ := e.Admit(uri); take {
		t.Fatal("Admit took a delivery while 20 handed claims wait")
	}
	if got := e.takeHanded(); len(got) != 20 {
		t.Fatalf("takeHanded = %d claims, want 20", len(got))
	}
	if take, _ := e.Admit(uri); !take {
		t.Fatal("Admit took nothing once the handed claims were dispatched")
	}

	// The claim loop and the hand-off share the room: what one counts on,
	// the other leaves. 1 taken above, so 19 places are left.
	if got := e.claimRoom(); got != 19 {
		t.Fatalf("claimRoom with 1 taken = %d, want 19", got)
	}
	e.reserve(19)
	if take, _ := e.Admit(uri); take {
		t.Fatal("Admit took a delivery from the room a claim in flight counts on")
	}
	e.reserve(0)
	if take, _ := e.Admit(uri); !take {
		t.Fatal("Admit took nothing once the claim was dispatched")
	}
	if got := e.claimRoom(); got != 18 {
		t.Errorf("claimRoom with 2 taken = %d, want 18", got)
	}
}

// TestHandOffPutsOff: a new delivery for a destination whose circuit is
// open, or which hangs, is put off as dispatch would defer its claim.
func TestHandOffPutsOff(t *testing.T) {
	clock := fakeclock.New(dt0)
	e := handOffEngine(t, clock)
	e.openHandOffs()
	const hangs, opens, fine = "https://hangs.example/", "https://opens.example/", "https://fine.example/"

	now := clock.Now()
	for range e.ConcurrencyLimit(destinationKey(hangs)) {
		if a, _ := e.dests.acquire(destinationKey(hangs), nil, now); a != admitted {
			t.Fatal("could not fill the destination's slots")
		}
	}
	for range e.cfg.Breaker.FailureThreshold {
		a, _ := e.dests.acquire(destinationKey(opens), nil, now)
		if a != admitted {
			t.Fatal("could not start an attempt")
		}
		e.dests.finish(destinationKey(opens), verdictFailing, time.Second, now, false)
	}
	if e.dests.openCircuits() != 1 {
		t.Fatal("the failing destination's circuit did not open")
	}

	// A short stall is not a hang to the hand-off: it would put off every
	// delivery published meanwhile.
	clock.Advance(100 * time.Millisecond)
	if take, at := e.Admit(hangs); !take || !at.IsZero() {
		t.Fatalf("Admit after a 100ms stall: %v, %v; want taken", take, at)
	}
	e.Take(nil, 1)

	clock.Advance(time.Minute) // no attempt of hangs has ended for a minute
	now = clock.Now()
	for _, tc := range []struct {
		uri       string
		take      bool
		putOffMin time.Time // the earliest put-off time accepted; zero for none
	}{
		{fine, true, time.Time{}},
		{hangs, false, now.Add(time.Nanosecond)},
		{opens, false, dt0.Add(time.Hour)}, // not before the circuit half-opens
	} {
		take, at := e.Admit(tc.uri)
		switch {
		case take != tc.take:
			t.Errorf("Admit(%s) took %v, want %v", tc.uri, take, tc.take)
		case tc.putOffMin.IsZero() && !at.IsZero():
			t.Errorf("Admit(%s) put it off to %v, want not put off", tc.uri, at)
		case !tc.putOffMin.IsZero() && at.Before(tc.putOffMin):
			t.Errorf("Admit(%s) put it off to %v, want after %v", tc.uri, at, now)
		}
	}
	// Put-off times are spread, like deferrals.
	_, a1 := e.Admit(hangs)
	_, a2 := e.Admit(hangs)
	if !a2.After(a1) {
		t.Errorf("two put-offs of a hanging destination: %v then %v, want spread", a1, a2)
	}
}

// TestHandOffClose: closing waits for the takes in flight to settle and
// returns what was taken and not dispatched; a Take after it is dropped
// (the lease brings those deliveries back).
func TestHandOffClose(t *testing.T) {
	e := handOffEngine(t, fakeclock.New(dt0))
	e.openHandOffs()
	e.Take(claimsFor(2), 2) // handed, not yet dispatched
	for range 3 {
		e.Admit("https://a.example/")
	}
	go e.Take(claimsFor(3), 3) // a publish settling while Run stops

	start := time.Now()
	left := e.closeHandOffs(waitLimitUnit)
	if waited := time.Since(start); waited >= waitLimitUnit {
		t.Fatalf("closeHandOffs waited %v, its whole grace: the settling Take did not end the wait", waited)
	}
	if len(left) != 5 {
		t.Fatalf("closeHandOffs returned %d claims, want the 2 handed and the 3 settled while closing", len(left))
	}
	if take, _ := e.Admit("https://a.example/"); take {
		t.Fatal("Admit took a delivery after close")
	}
	e.Take(claimsFor(1), 0)
	if got := e.takeHanded(); len(got) != 0 {
		t.Fatalf("a Take after close queued %d claims, want none", len(got))
	}
}

// waitLimitUnit bounds closeHandOffs' wait in these tests: a failure bound,
// never reached when the code is right.
const waitLimitUnit = 20 * time.Second
