package storetest

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

const day = 24 * time.Hour

// Retention as serve configures it by default: succeeded 30 days, failed 90.
const (
	succeededRetention = 30 * day
	failedRetention    = 90 * day
)

// pruneParams returns the default cutoffs at the bundle clock's now.
func (b *bundle) pruneParams(limit int) webhookd.PruneParams {
	now := b.clock.Now()
	return webhookd.PruneParams{
		SucceededBefore: now.Add(-succeededRetention),
		FailedBefore:    now.Add(-failedRetention),
		Limit:           limit,
	}
}

func (b *bundle) prune(t *testing.T, p webhookd.PruneParams) int {
	t.Helper()
	n, err := b.store.PruneEvents(b.ctx, p)
	must(t, err)
	return n
}

// publishURIs publishes an event with one dynamic delivery per URI (none:
// an event routing gives no delivery) and returns it with its deliveries.
func (b *bundle) publishURIs(t *testing.T, uris ...string) (*webhookd.Event, []*webhookd.Delivery) {
	t.Helper()
	e := webhookd.NewEvent{Type: webhookd.EventBatchSucceeded}
	if len(uris) > 0 {
		e.WebhookConfig = &webhookd.WebhookConfig{URIs: uris}
	}
	ev := b.publish(t, e)
	ds := b.deliveries(t, b.project.ID, ev.ID)
	if len(ds) != len(uris) {
		t.Fatalf("published %d deliveries, want %d", len(ds), len(uris))
	}
	return ev, ds
}

// settle claims everything due now and records for each delivery the outcome
// in outcomes (OutcomeRetry is due again in 1000 days: a delivery that stays
// pending through the test). Every claimed delivery must have an outcome.
func (b *bundle) settle(t *testing.T, outcomes map[*webhookd.Delivery]webhookd.Outcome) {
	t.Helper()
	byID := map[string]webhookd.Outcome{}
	for d, o := range outcomes {
		byID[d.ID] = o
	}
	var rs []webhookd.Result
	for _, c := range b.claim(t, 1000, time.Minute) {
		o, ok := byID[c.Delivery.ID]
		if !ok {
			t.Fatalf("settle claimed %s, which has no outcome", c.Delivery.ID)
		}
		delete(byID, c.Delivery.ID)
		r := webhookd.Result{DeliveryID: c.Delivery.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: o}
		switch o {
		case webhookd.OutcomeSucceeded:
			r.Attempt = b.attempt(200, "")
		case webhookd.OutcomeFailed:
			r.Attempt = b.attempt(500, "HTTP 500")
		case webhookd.OutcomeRetry:
			r.Attempt = b.attempt(503, "HTTP 503")
			r.NextAttemptTime = b.clock.Now().Add(1000 * day)
		}
		rs = append(rs, r)
	}
	if len(byID) > 0 {
		t.Fatalf("settle did not claim %v", byID)
	}
	b.record(t, rs...)
}

// requirePruned checks that ev and its deliveries (and so their attempts)
// are gone.
func (b *bundle) requirePruned(t *testing.T, name string, ev *webhookd.Event, ds []*webhookd.Delivery) {
	t.Helper()
	if _, err := b.store.GetEvent(b.ctx, b.project.ID, ev.ID); webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
		t.Errorf("%s: GetEvent after prune: %v, want not found", name, err)
	}
	for _, d := range ds {
		if _, err := b.store.GetDelivery(b.ctx, d.ProjectID, d.ID); webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
			t.Errorf("%s: GetDelivery %s after prune: %v, want not found", name, d.ID, err)
		}
		if _, err := b.store.ListAttempts(b.ctx, d.ProjectID, d.ID); webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
			t.Errorf("%s: ListAttempts %s after prune: %v, want not found", name, d.ID, err)
		}
	}
}

// requireKept checks that ev, its deliveries and their attempts are all
// still there.
func (b *bundle) requireKept(t *testing.T, name string, ev *webhookd.Event, ds []*webhookd.Delivery, attempts map[string]int) {
	t.Helper()
	if _, err := b.store.GetEvent(b.ctx, b.project.ID, ev.ID); err != nil {
		t.Errorf("%s: GetEvent: %v, want it kept", name, err)
		return
	}
	if got := b.deliveries(t, b.project.ID, ev.ID); len(got) != len(ds) {
		t.Errorf("%s: %d deliveries left, want %d", name, len(got), len(ds))
	}
	for _, d := range ds {
		if got := len(b.attempts(t, d)); got != attempts[d.ID] {
			t.Errorf("%s: delivery %s has %d attempts, want %d", name, d.ID, got, attempts[d.ID])
		}
	}
}

func (s suite) prunes(t *testing.T) {
	const (
		ok   = webhookd.OutcomeSucceeded
		fail = webhookd.OutcomeFailed
		wait = webhookd.OutcomeRetry
	)
	s.test(t, "ByStateAndAge", func(t *testing.T, b *bundle) {
		// The test ends at day 200: succeeded events finished before day 170
		// go, failed ones before day 110; pending ones never do.
		t0 := b.clock.Now()
		at := func(d int) { b.clock.Set(t0.Add(time.Duration(d) * day)) }
		type event struct {
			name   string
			ev     *webhookd.Event
			ds     []*webhookd.Delivery
			pruned bool
		}
		var events []*event
		add := func(name string, pruned bool, outcomes ...webhookd.Outcome) *event {
			uris := make([]string, len(outcomes))
			for i := range uris {
				uris[i] = "https://example.com/" + name + "/" + string(rune('a'+i))
			}
			e := &event{name: name, pruned: pruned}
			e.ev, e.ds = b.publishURIs(t, uris...)
			m := map[*webhookd.Delivery]webhookd.Outcome{}
			for i, d := range e.ds {
				m[d] = outcomes[i]
			}
			b.settle(t, m)
			events = append(events, e)
			return e
		}

		// finish retries the pending delivery i of e by hand and records
		// outcome for it now, so that it is the event's newest.
		finish := func(e *event, i int, outcome webhookd.Outcome) {
			if _, err := b.store.RetryDelivery(b.ctx, b.project.ID, e.ds[i].ID); err != nil {
				t.Fatal(err)
			}
			b.settle(t, map[*webhookd.Delivery]webhookd.Outcome{e.ds[i]: outcome})
		}

		at(0)
		add("pending since day 0", false, wait)
		add("half pending since day 0", false, ok, wait)
		add("failed and pending since day 0", false, fail, wait)
		at(10)
		add("failed day 10", true, fail)
		mixed10 := add("mixed day 10 and 11", true, fail, wait)
		at(11)
		finish(mixed10, 1, ok)
		add("undelivered day 10", true)
		retried := add("failed day 10, retried at the end", false, fail)
		later := add("succeeded day 10 and day 175", false, ok, wait)
		at(100)
		mixed100 := add("mixed day 100 and 120", false, fail, wait)
		at(120)
		finish(mixed100, 1, ok)
		at(150)
		add("failed day 150", false, fail)
		mixed150 := add("mixed day 150 and 151", false, fail, wait)
		at(151)
		finish(mixed150, 1, ok)
		add("succeeded day 150", true, ok)
		add("two succeeded day 150", true, ok, ok)
		at(175)
		finish(later, 1, ok)
		at(180)
		add("succeeded day 180", false, ok)
		add("undelivered day 180", false)
		at(200)
		if _, err := b.store.RetryDelivery(b.ctx, b.project.ID, retried.ds[0].ID); err != nil {
			t.Fatal(err)
		}

		attempts := map[string]int{}
		for _, e := range events {
			for _, d := range e.ds {
				attempts[d.ID] = len(b.attempts(t, d))
			}
		}
		want := 0
		for _, e := range events {
			if e.pruned {
				want++
			}
		}
		if got := b.prune(t, b.pruneParams(100)); got != want {
			t.Errorf("PruneEvents deleted %d events, want %d", got, want)
		}
		for _, e := range events {
			if e.pruned {
				b.requirePruned(t, e.name, e.ev, e.ds)
			} else {
				b.requireKept(t, e.name, e.ev, e.ds, attempts)
			}
		}
		if got := b.prune(t, b.pruneParams(100)); got != 0 {
			t.Errorf("second PruneEvents deleted %d, want 0", got)
		}
		// A thousand days on, only what is still pending stays.
		b.clock.Advance(1000 * day)
		b.prune(t, b.pruneParams(100))
		var left []string
		for _, e := range events {
			if _, err := b.store.GetEvent(b.ctx, b.project.ID, e.ev.ID); err == nil {
				left = append(left, e.name)
			}
		}
		if d := sameSet([]string{"pending since day 0", "half pending since day 0", "failed and pending since day 0", "failed day 10, retried at the end"}, left); d != "" {
			t.Errorf("events left after 1000 days (-want +got):\n%s", d)
		}
	})

	s.test(t, "BatchesRespectLimit", func(t *testing.T, b *bundle) {
		// Old events of every prunable kind, so that batches cross from one
		// kind to the next, and pending ones that must survive every batch.
		var pending []*webhookd.Event
		for range 3 {
			ev, ds := b.publishURIs(t, "https://example.com/p")
			b.settle(t, map[*webhookd.Delivery]webhookd.Outcome{ds[0]: wait})
			pending = append(pending, ev)
		}
		for range 3 {
			_, ds := b.publishURIs(t, "https://example.com/ok")
			b.settle(t, map[*webhookd.Delivery]webhookd.Outcome{ds[0]: ok})
			_, ds = b.publishURIs(t, "https://example.com/fail")
			b.settle(t, map[*webhookd.Delivery]webhookd.Outcome{ds[0]: fail})
			b.publishURIs(t)
		}
		b.clock.Advance(failedRetention + time.Second)

		var got []int
		for range 10 {
			n := b.prune(t, b.pruneParams(4))
			got = append(got, n)
			if n == 0 {
				break
			}
		}
		if d := diff([]int{4, 4, 1, 0}, got); d != "" {
			t.Errorf("deleted per batch of 4 (-want +got):\n%s", d)
		}
		for _, ev := range pending {
			if _, err := b.store.GetEvent(b.ctx, b.project.ID, ev.ID); err != nil {
				t.Errorf("pending event %s: %v, want it kept", ev.ID, err)
			}
		}
	})

	s.test(t, "KeepsLiveIdempotencyKey", func(t *testing.T, b *bundle) {
		keyed := b.publish(t, webhookd.NewEvent{IdempotencyKey: "order-1"})
		plain := b.publish(t, webhookd.NewEvent{})
		b.clock.Advance(time.Hour)
		// Cutoffs in the future: retention would take everything finished.
		everything := webhookd.PruneParams{SucceededBefore: b.clock.Now().Add(day), FailedBefore: b.clock.Now().Add(day), Limit: 100}

		if got := b.prune(t, everything); got != 1 {
			t.Fatalf("PruneEvents deleted %d, want 1 (the event without a key)", got)
		}
		b.requirePruned(t, "plain", plain, nil)
		again, created, err := b.store.PublishEvent(b.ctx, webhookd.NewEvent{ProjectID: b.project.ID, Type: webhookd.EventBatchSucceeded,
			Data: []byte(`{"id":"batches/b1"}`), Source: "api", IdempotencyKey: "order-1"})
		must(t, err)
		if created || again.ID != keyed.ID {
			t.Fatalf("publish with the key again: created %v, event %s; want the first event %s", created, again.ID, keyed.ID)
		}

		b.clock.Set(keyed.CreateTime.Add(webhookd.IdempotencyWindow))
		if got := b.prune(t, everything); got != 1 {
			t.Fatalf("PruneEvents once the key's window ended deleted %d, want 1", got)
		}
		b.requirePruned(t, "keyed", keyed, nil)
	})

	s.test(t, "RefusesBadParams", func(t *testing.T, b *bundle) {
		now := b.clock.Now()
		for _, p := range []webhookd.PruneParams{
			{SucceededBefore: now, FailedBefore: now, Limit: 0},
			{SucceededBefore: now, FailedBefore: now, Limit: -1},
			{FailedBefore: now, Limit: 10},
			{SucceededBefore: now, Limit: 10},
		} {
			_, err := b.store.PruneEvents(b.ctx, p)
			requireCode(t, err, webhookd.EINVALID)
		}
	})
}
