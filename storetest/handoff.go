package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/handoff"
)

// handOff is a handoff.Target that admits by a table of URIs and records
// what it is asked and given.
type handOff struct {
	lease time.Duration
	// decide answers Admit for a URI; URIs it lacks are taken.
	decide map[string]admission

	mu     sync.Mutex
	asked  []string
	settle chan take // every Take
}

type admission struct {
	take   bool
	putOff time.Time
}

type take struct {
	claims []*webhookd.Claim
	taken  int
}

func newHandOff(lease time.Duration) *handOff {
	return &handOff{lease: lease, decide: map[string]admission{}, settle: make(chan take, 16)}
}

func (h *handOff) Admit(uri string) (bool, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked = append(h.asked, uri)
	a, ok := h.decide[uri]
	if !ok {
		return true, time.Time{}
	}
	return a.take, a.putOff
}

func (h *handOff) Lease() time.Duration { return h.lease }

func (h *handOff) Take(claims []*webhookd.Claim, taken int) { h.settle <- take{claims, taken} }

func (h *handOff) askedURIs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.asked...)
}

// next waits for the next Take; it is called after the publish returned,
// and the store may hand over on another goroutine.
func (h *handOff) next(t *testing.T) take {
	t.Helper()
	select {
	case tk := <-h.settle:
		return tk
	case <-time.After(10 * time.Second):
		t.Fatal("no Take within 10s of the publish")
		return take{}
	}
}

// none requires that Take was not called.
func (h *handOff) none(t *testing.T) {
	t.Helper()
	select {
	case tk := <-h.settle:
		t.Fatalf("Take(%v, %d), want no call", claimIDs(tk.claims), tk.taken)
	default:
	}
}

// handOffTo sets h as the Target of b's store, or skips t when the store
// does not hand off (see handoff.Store).
func (b *bundle) handOffTo(t *testing.T, h *handOff) {
	t.Helper()
	hs, ok := b.store.(handoff.Store)
	if !ok {
		t.Skip("the store does not hand deliveries off")
	}
	t.Cleanup(hs.HandOffTo(h))
}

func (s suite) handOffs(t *testing.T) {
	const lease = time.Minute

	// A delivery handed over is exactly what a claim of it would return,
	// and stored exactly as that claim would leave it, whichever way it was
	// published: static, dynamic and to one webhook; one event per call,
	// with idempotency keys (a transaction of its own), or all in one call.
	ways := []struct {
		name    string
		publish func(t *testing.T, b *bundle, es []webhookd.NewEvent) []*webhookd.Event
	}{
		{"OneByOne", func(t *testing.T, b *bundle, es []webhookd.NewEvent) []*webhookd.Event {
			var out []*webhookd.Event
			for _, e := range es {
				out = append(out, b.publish(t, e))
			}
			return out
		}},
		{"WithIdempotencyKeys", func(t *testing.T, b *bundle, es []webhookd.NewEvent) []*webhookd.Event {
			var out []*webhookd.Event
			for i, e := range es {
				e.IdempotencyKey = fmt.Sprintf("key-%d", i)
				out = append(out, b.publish(t, e))
			}
			return out
		}},
		{"InOneCall", func(t *testing.T, b *bundle, es []webhookd.NewEvent) []*webhookd.Event {
			for i := range es {
				es[i] = b.event(es[i])
			}
			pubs, err := b.store.PublishEvents(b.ctx, es)
			must(t, err)
			var out []*webhookd.Event
			for _, p := range pubs {
				out = append(out, p.Event)
			}
			return out
		}},
	}
	for _, way := range ways {
		s.test(t, "TakenAreLeasedAsAClaimWouldLeaveThem/"+way.name, func(t *testing.T, b *bundle) {
			w1 := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
			w2 := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
			w1.Headers = map[string]string{"X-Api-Key": "k"} // handed over as claimed
			must(t, b.store.UpdateWebhook(b.ctx, w1))
			h := newHandOff(lease)
			b.handOffTo(t, h)

			events := way.publish(t, b, []webhookd.NewEvent{
				{TraceParent: traceParent},
				{Type: webhookd.EventBatchFailed, WebhookConfig: &webhookd.WebhookConfig{URIs: []string{"https://a.example/hook"}}},
				{OnlyWebhookID: w1.ID, Type: webhookd.EventWebhookPing, Source: "ping"},
			})
			var want []*webhookd.Delivery
			for _, ev := range events {
				want = append(want, b.deliveries(t, b.project.ID, ev.ID)...)
			}
			var handed []*webhookd.Claim
			for len(handed) < len(want) {
				tk := h.next(t)
				if tk.taken != len(tk.claims) {
					t.Fatalf("Take(%d claims, taken %d): a committed publish hands over all it took", len(tk.claims), tk.taken)
				}
				handed = append(handed, tk.claims...)
			}
			if d := sameSet([]string{w1.URI, w2.URI, "https://a.example/hook", w1.URI}, h.askedURIs()); d != "" {
				t.Errorf("Admit was asked about (-want +got):\n%s", d)
			}
			if d := sameSet(deliveryIDs(want), claimIDs(handed)); d != "" {
				t.Fatalf("handed over (-want +got):\n%s", d)
			}
			now := b.clock.Now()
			for _, c := range handed {
				if c.Delivery.LeaseToken == "" || !c.Delivery.NextAttemptTime.Equal(now.Add(lease)) {
					t.Errorf("handed %s: lease token %q, next attempt %v; want a token and %v", c.Delivery.ID, c.Delivery.LeaseToken, c.Delivery.NextAttemptTime, now.Add(lease))
				}
				if d := diff(b.delivery(t, c.Delivery), c.Delivery); d != "" {
					t.Errorf("handed %s is not the stored delivery (-stored +handed):\n%s", c.Delivery.ID, d)
				}
				if c.Delivery.WebhookID == w1.ID && c.Headers["X-Api-Key"] != "k" {
					t.Errorf("handed %s has headers %v, want w1's", c.Delivery.ID, c.Headers)
				}
			}
			for _, c := range handed {
				if want := map[bool]string{true: traceParent}[c.Delivery.EventID == events[0].ID]; c.TraceParent != want {
					t.Errorf("handed %s: traceparent %q, want %q (its event's)", c.Delivery.ID, c.TraceParent, want)
				}
			}
			if cs := b.claim(t, 10, lease); len(cs) != 0 {
				t.Fatalf("claimed %v while handed over under a lease", claimIDs(cs))
			}

			// The holder died before it sent them: claimed again when the
			// lease ends, and the claims carry what the hand-off carried.
			b.clock.Advance(lease)
			claimed := map[string]*webhookd.Claim{}
			for _, c := range b.claim(t, 10, lease) {
				claimed[c.Delivery.ID] = c
			}
			for _, c := range handed {
				got := claimed[c.Delivery.ID]
				if got == nil {
					t.Errorf("%s was not claimed after its lease ended", c.Delivery.ID)
					continue
				}
				got.Delivery, c.Delivery = nil, nil
				if d := diff(got, c); d != "" {
					t.Errorf("the hand-off's claim differs from the claim's, besides the lease (-claim +hand-off):\n%s", d)
				}
			}
		})
	}

	s.test(t, "ResultUnderTheHandedLease", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		h := newHandOff(lease)
		b.handOffTo(t, h)
		b.publish(t, webhookd.NewEvent{})
		tk := h.next(t)
		if len(tk.claims) != 1 || tk.claims[0].Delivery.WebhookID != w.ID {
			t.Fatalf("handed %v, want the one delivery to %s", claimIDs(tk.claims), w.ID)
		}
		c := tk.claims[0]
		a := b.attempt(204, "")
		a.DeliveryID = c.Delivery.ID
		a.Number = 1
		b.record(t, webhookd.Result{DeliveryID: c.Delivery.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeSucceeded, Attempt: a})
		if got := b.delivery(t, c.Delivery); got.State != webhookd.DeliverySucceeded || got.AttemptCount != 1 {
			t.Fatalf("after the result: state %s, %d attempts; want succeeded after 1", got.State, got.AttemptCount)
		}
	})

	s.test(t, "PutOffOrLeftToClaim", func(t *testing.T, b *bundle) {
		h := newHandOff(lease)
		later := b.clock.Now().Add(3 * time.Second)
		h.decide["https://off.example/"] = admission{putOff: later}
		h.decide["https://claim.example/"] = admission{}
		b.handOffTo(t, h)
		ev := b.publish(t, webhookd.NewEvent{WebhookConfig: &webhookd.WebhookConfig{
			URIs: []string{"https://take.example/", "https://off.example/", "https://claim.example/"}}})
		tk := h.next(t)
		byURI := map[string]*webhookd.Delivery{}
		for _, d := range b.deliveries(t, b.project.ID, ev.ID) {
			byURI[d.URI] = d
		}
		taken, off, left := byURI["https://take.example/"], byURI["https://off.example/"], byURI["https://claim.example/"]
		if tk.taken != 1 || len(tk.claims) != 1 || tk.claims[0].Delivery.ID != taken.ID {
			t.Fatalf("Take(%v, %d), want only %s", claimIDs(tk.claims), tk.taken, taken.ID)
		}
		if off.LeaseToken != "" || !off.NextAttemptTime.Equal(later) || off.State != webhookd.DeliveryPending || off.AttemptCount != 0 {
			t.Errorf("put off: %+v; want pending, no lease, due at %v", off, later)
		}
		if left.LeaseToken != "" || !left.NextAttemptTime.Equal(ev.CreateTime) {
			t.Errorf("left to claim: lease token %q, due %v; want none, due at once (%v)", left.LeaseToken, left.NextAttemptTime, ev.CreateTime)
		}
		b.claimOne(t, left, lease)
		b.clock.Set(later)
		b.claimOne(t, off, lease)
	})

	s.test(t, "NothingForARejectedOrRepeatedPublish", func(t *testing.T, b *bundle) {
		b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		h := newHandOff(lease)
		b.handOffTo(t, h)

		_, err := b.store.PublishEvents(b.ctx, []webhookd.NewEvent{
			{ProjectID: b.project.ID, Type: webhookd.EventBatchSucceeded, Data: []byte(`{}`), Source: "api"},
			{ProjectID: "projects/missing", Type: webhookd.EventBatchSucceeded, Data: []byte(`{}`), Source: "api"},
		})
		requireCode(t, err, webhookd.ENOTFOUND)
		// A store may ask before it finds the failure (and ask again if it
		// tries again); then it settles what was taken with no claims.
		asked := h.askedURIs()
		for settled := 0; settled < len(asked); {
			tk := h.next(t)
			if len(tk.claims) != 0 {
				t.Fatalf("after a failed publish that asked about %v: Take(%v, %d), want no claims", asked, claimIDs(tk.claims), tk.taken)
			}
			settled += tk.taken
		}
		h.none(t)

		b.publish(t, webhookd.NewEvent{IdempotencyKey: "k"})
		h.next(t)
		before := len(h.askedURIs())
		if _, created, err := b.store.PublishEvent(b.ctx, webhookd.NewEvent{ProjectID: b.project.ID, Type: webhookd.EventBatchSucceeded,
			Data: []byte(`{"id":"batches/b1"}`), Source: "api", IdempotencyKey: "k"}); err != nil || created {
			t.Fatalf("repeated publish: created %v, err %v; want the first event", created, err)
		}
		if got := len(h.askedURIs()); got != before {
			t.Fatalf("a repeated publish asked Admit %d more times, want none", got-before)
		}
		h.none(t)
	})

	s.test(t, "NoneAfterRemove", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		hs, ok := b.store.(handoff.Store)
		if !ok {
			t.Skip("the store does not hand deliveries off")
		}
		h := newHandOff(lease)
		hs.HandOffTo(h)()
		d := b.publishTo(t, w)
		b.claimOne(t, d, lease)
		if asked := h.askedURIs(); len(asked) != 0 {
			t.Fatalf("a removed hand-off was asked about %v", asked)
		}
	})
}
