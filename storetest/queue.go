package storetest

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

func (s suite) claims(t *testing.T) {
	s.test(t, "OldestDueFirstWithLimit", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		d1 := b.publishTo(t, w)
		b.clock.Advance(time.Minute)
		d2 := b.publishTo(t, w)
		b.clock.Advance(time.Minute)
		d3 := b.publishTo(t, w)

		cs := b.claim(t, 2, time.Minute)
		if d := sameSet([]string{d1.ID, d2.ID}, claimIDs(cs)); d != "" {
			t.Errorf("first claim of 2 (-want +got):\n%s", d)
		}
		cs = b.claim(t, 10, time.Minute)
		if d := sameSet([]string{d3.ID}, claimIDs(cs)); d != "" {
			t.Errorf("second claim (-want +got):\n%s", d)
		}
		if cs := b.claim(t, 10, time.Minute); len(cs) != 0 {
			t.Errorf("third claim = %v, want none: everything is leased", claimIDs(cs))
		}
	})

	s.test(t, "CarryTheEventsTraceParent", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		traced := b.publish(t, webhookd.NewEvent{TraceParent: traceParent})
		plain := b.publish(t, webhookd.NewEvent{})
		got, err := b.store.GetEvent(b.ctx, b.project.ID, traced.ID)
		must(t, err)
		if got.TraceParent != traceParent || traced.TraceParent != traceParent {
			t.Errorf("event traceparent: published %q, read %q; want %q", traced.TraceParent, got.TraceParent, traceParent)
		}
		want := map[string]string{
			b.deliveries(t, w.ProjectID, traced.ID)[0].ID: traceParent,
			b.deliveries(t, w.ProjectID, plain.ID)[0].ID:  "",
		}
		for _, c := range b.claim(t, 10, time.Minute) {
			if c.TraceParent != want[c.Delivery.ID] {
				t.Errorf("claim %s: traceparent %q, want %q", c.Delivery.ID, c.TraceParent, want[c.Delivery.ID])
			}
		}
	})

	s.test(t, "NothingForZeroLimit", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		d := b.publishTo(t, w)
		if cs := b.claim(t, 0, time.Minute); len(cs) != 0 {
			t.Fatalf("claim with limit 0 = %v, want none", claimIDs(cs))
		}
		b.claimOne(t, d, time.Minute) // and it did not lease anything
	})

	s.test(t, "DueByStoreClock", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		d := b.publishTo(t, w)
		c := b.claimOne(t, d, time.Minute)
		next := b.clock.Now().Add(time.Hour)
		b.record(t, webhookd.Result{DeliveryID: d.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeRetry, NextAttemptTime: next, Attempt: b.attempt(500, "HTTP 500")})

		b.clock.Set(next.Add(-time.Microsecond))
		if cs := b.claim(t, 10, time.Minute); len(cs) != 0 {
			t.Fatalf("claimed %v before it was due", claimIDs(cs))
		}
		b.clock.Set(next)
		b.claimOne(t, d, time.Minute)
	})

	s.test(t, "Lease", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		d := b.publishTo(t, w)
		const lease = 30 * time.Second

		c1 := b.claimOne(t, d, lease)
		if c1.Delivery.LeaseToken == "" || !c1.Delivery.NextAttemptTime.Equal(b.clock.Now().Add(lease)) {
			t.Fatalf("claim: lease token %q, next attempt %v; want a token and %v", c1.Delivery.LeaseToken, c1.Delivery.NextAttemptTime, b.clock.Now().Add(lease))
		}
		if got := b.delivery(t, d); got.LeaseToken != c1.Delivery.LeaseToken || !got.NextAttemptTime.Equal(c1.Delivery.NextAttemptTime) {
			t.Errorf("stored delivery: lease token %q, next attempt %v; want the claim's", got.LeaseToken, got.NextAttemptTime)
		}

		b.clock.Advance(lease - time.Second)
		if cs := b.claim(t, 10, lease); len(cs) != 0 {
			t.Fatalf("claimed %v within its lease", claimIDs(cs))
		}

		// The holder is presumed dead when the lease ends: claimed again, under a new token.
		b.clock.Advance(time.Second)
		c2 := b.claimOne(t, d, lease)
		if c2.Delivery.LeaseToken == c1.Delivery.LeaseToken {
			t.Fatalf("re-claim kept lease token %q", c1.Delivery.LeaseToken)
		}

		// The first holder's late result is ignored; the second holder's counts.
		b.record(t, webhookd.Result{DeliveryID: d.ID, LeaseToken: c1.Delivery.LeaseToken, Outcome: webhookd.OutcomeFailed, Attempt: b.attempt(500, "late")})
		if got := b.delivery(t, d); got.State != webhookd.DeliveryPending || got.AttemptCount != 0 {
			t.Fatalf("after stale result: state %q, attempts %d; want pending, 0", got.State, got.AttemptCount)
		}
		if n := len(b.attempts(t, d)); n != 0 {
			t.Fatalf("stale result stored %d attempts", n)
		}
		b.record(t, webhookd.Result{DeliveryID: d.ID, LeaseToken: c2.Delivery.LeaseToken, Outcome: webhookd.OutcomeSucceeded, Attempt: b.attempt(204, "")})
		if got := b.delivery(t, d); got.State != webhookd.DeliverySucceeded {
			t.Fatalf("after current result: state %q, want succeeded", got.State)
		}
	})

	s.test(t, "CarriesWhatSendingNeeds", func(t *testing.T, b *bundle) {
		must(t, b.store.UpdateProject(b.ctx, &webhookd.Project{ID: b.project.ID, Name: b.project.Name, Audience: "client-42"}))
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchFailed)
		old := w.Secrets[0]
		b.clock.Advance(time.Hour)
		cur := b.newSecret(w.ID)
		must(t, b.store.RotateSecret(b.ctx, b.project.ID, w.ID, cur, b.clock.Now().Add(time.Hour)))
		old.ExpireTime = timePtr(b.clock.Now().Add(time.Hour))

		data := json.RawMessage(`{"id":"batches/b9","error_code":3,"error_message":"boom"}`)
		ev := b.publish(t, webhookd.NewEvent{Type: webhookd.EventBatchFailed, Data: data})
		dyn := b.publish(t, webhookd.NewEvent{Type: webhookd.EventBatchFailed, Data: data, WebhookConfig: &webhookd.WebhookConfig{URIs: []string{"https://dyn.example/h"}}})

		cs := b.claim(t, 10, time.Minute)
		if len(cs) != 2 {
			t.Fatalf("claimed %d, want 2", len(cs))
		}
		for _, c := range cs {
			switch c.Delivery.EventID {
			case ev.ID:
				if c.Delivery.Kind != webhookd.DeliveryStatic || c.Delivery.WebhookID != w.ID {
					t.Errorf("static claim delivery = %+v", c.Delivery)
				}
				if c.EventType != webhookd.EventBatchFailed || string(c.Payload) != string(ev.Payload) {
					t.Errorf("static claim: type %q payload %s; want %q %s", c.EventType, c.Payload, webhookd.EventBatchFailed, ev.Payload)
				}
				if c.WebhookState != webhookd.WebhookEnabled {
					t.Errorf("static claim: webhook state %q", c.WebhookState)
				}
				if d := diff([]webhookd.SigningSecret{cur, old}, c.Secrets); d != "" {
					t.Errorf("static claim secrets (-want +got):\n%s", d)
				}
				if c.Audience != "client-42" {
					t.Errorf("static claim audience %q", c.Audience)
				}
			case dyn.ID:
				if c.Delivery.Kind != webhookd.DeliveryDynamic || c.Delivery.URI != "https://dyn.example/h" {
					t.Errorf("dynamic claim delivery = %+v", c.Delivery)
				}
				if c.EventType != webhookd.EventBatchFailed || string(c.Payload) != string(dyn.Payload) {
					t.Errorf("dynamic claim: type %q payload %s", c.EventType, c.Payload)
				}
				if c.WebhookState != "" || len(c.Secrets) != 0 || c.Audience != "client-42" {
					t.Errorf("dynamic claim: state %q, %d secrets, audience %q; want none, 0, client-42", c.WebhookState, len(c.Secrets), c.Audience)
				}
			default:
				t.Errorf("claimed delivery of unknown event %s", c.Delivery.EventID)
			}
		}

		// Secrets expire by the store clock: after the grace only the current one is sent.
		b.clock.Advance(time.Hour)
		c := b.claim(t, 10, time.Minute)
		for _, c := range c {
			if c.Delivery.EventID == ev.ID {
				if d := diff([]webhookd.SigningSecret{cur}, c.Secrets); d != "" {
					t.Errorf("secrets after grace (-want +got):\n%s", d)
				}
			}
		}
	})

	s.test(t, "WebhookStateAtClaimTime", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		d := b.publishTo(t, w)
		u := *w
		u.State = webhookd.WebhookDisabled
		must(t, b.store.UpdateWebhook(b.ctx, &u))
		if c := b.claimOne(t, d, time.Minute); c.WebhookState != webhookd.WebhookDisabled {
			t.Errorf("claim webhook state = %q, want disabled", c.WebhookState)
		}
	})

	s.test(t, "ConcurrentClaimersNeverShare", func(t *testing.T, b *bundle) {
		const webhooks, events, claimers, limit = 10, 30, 6, 7
		var want []string
		for range webhooks {
			b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		}
		for range events {
			ev := b.publish(t, webhookd.NewEvent{})
			want = append(want, deliveryIDs(b.deliveries(t, b.project.ID, ev.ID))...)
		}

		var (
			mu  sync.Mutex
			got []string
			wg  sync.WaitGroup
		)
		errs := make(chan error, claimers)
		for range claimers {
			wg.Go(func() {
				for {
					cs, err := b.store.ClaimDeliveries(b.ctx, limit, time.Minute)
					if err != nil {
						errs <- err
						return
					}
					if len(cs) == 0 {
						return
					}
					mu.Lock()
					got = append(got, claimIDs(cs)...)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Errorf("claimed %d deliveries in total, want %d (each exactly once)", len(got), len(want))
		}
		if d := sameSet(want, got); d != "" {
			t.Errorf("claimed deliveries (-want +got):\n%s", d)
		}
	})
}

func (s suite) records(t *testing.T) {
	s.test(t, "Succeeded", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		d := b.publishTo(t, w)
		c := b.claimOne(t, d, time.Minute)
		b.clock.Advance(time.Second)
		a := b.attempt(200, "")
		b.record(t, webhookd.Result{DeliveryID: d.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeSucceeded, Attempt: a})

		got := b.delivery(t, d)
		want := *c.Delivery
		want.State = webhookd.DeliverySucceeded
		want.AttemptCount = 1
		want.FirstAttemptTime = timePtr(a.Time)
		want.LastAttemptTime = timePtr(a.Time)
		want.LastStatusCode = 200
		want.UpdateTime = b.clock.Now()
		want.LeaseToken = got.LeaseToken // a finished delivery's token is the store's business
		want.NextAttemptTime = got.NextAttemptTime
		if d := diff(&want, got); d != "" {
			t.Errorf("delivery after success (-want +got):\n%s", d)
		}
		wantAttempt := *a
		wantAttempt.DeliveryID = d.ID
		wantAttempt.Number = 1
		if d := diff([]*webhookd.Attempt{&wantAttempt}, b.attempts(t, d)); d != "" {
			t.Errorf("attempts (-want +got):\n%s", d)
		}

		// Done: never claimed again, and the same result twice changes nothing.
		b.record(t, webhookd.Result{DeliveryID: d.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeSucceeded, Attempt: b.attempt(200, "")})
		if n := len(b.attempts(t, d)); n != 1 {
			t.Errorf("attempts after a repeated result = %d, want 1", n)
		}
		b.clock.Advance(24 * time.Hour)
		if cs := b.claim(t, 10, time.Minute); len(cs) != 0 {
			t.Errorf("claimed %v after success", claimIDs(cs))
		}
	})

	s.test(t, "RetryThenFail", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		d := b.publishTo(t, w)
		first := b.clock.Now()

		c := b.claimOne(t, d, time.Minute)
		a1 := b.attempt(503, "HTTP 503")
		next := b.clock.Now().Add(10 * time.Second)
		b.record(t, webhookd.Result{DeliveryID: d.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeRetry, NextAttemptTime: next, Attempt: a1})
		got := b.delivery(t, d)
		if got.State != webhookd.DeliveryPending || got.AttemptCount != 1 || !got.NextAttemptTime.Equal(next) ||
			got.LastStatusCode != 503 || got.LastError != "HTTP 503" || !timeIs(got.FirstAttemptTime, first) {
			t.Fatalf("after retry: %+v", got)
		}

		b.clock.Set(next)
		c = b.claimOne(t, d, time.Minute)
		if c.Delivery.AttemptCount != 1 {
			t.Errorf("claim after one attempt: AttemptCount %d", c.Delivery.AttemptCount)
		}
		a2 := b.attempt(0, "connection refused")
		a2.ID = "" // the store assigns one
		b.record(t, webhookd.Result{DeliveryID: d.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeFailed, Attempt: a2})
		got = b.delivery(t, d)
		if got.State != webhookd.DeliveryFailed || got.AttemptCount != 2 || got.LastStatusCode != 0 ||
			got.LastError != "connection refused" || !timeIs(got.FirstAttemptTime, first) || !timeIs(got.LastAttemptTime, next) {
			t.Fatalf("after failure: %+v", got)
		}

		as := b.attempts(t, d)
		if len(as) != 2 {
			t.Fatalf("attempts = %d, want 2", len(as))
		}
		if as[1].ID == "" {
			t.Errorf("the store did not assign an attempt ID")
		}
		a1.DeliveryID, a1.Number = d.ID, 1
		a2.DeliveryID, a2.Number, a2.ID = d.ID, 2, as[1].ID
		if d := diff([]*webhookd.Attempt{a1, a2}, as); d != "" {
			t.Errorf("attempts, oldest first (-want +got):\n%s", d)
		}

		b.clock.Advance(48 * time.Hour)
		if cs := b.claim(t, 10, time.Minute); len(cs) != 0 {
			t.Errorf("claimed %v after failure", claimIDs(cs))
		}
	})

	s.test(t, "FailedWithoutAttempt", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		d := b.publishTo(t, w)
		c := b.claimOne(t, d, time.Minute)
		b.record(t, webhookd.Result{DeliveryID: d.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeFailed, Error: "destination not allowed"})
		got := b.delivery(t, d)
		if got.State != webhookd.DeliveryFailed || got.AttemptCount != 0 || got.LastError != "destination not allowed" || got.FirstAttemptTime != nil {
			t.Errorf("after failing without an attempt: %+v", got)
		}
		if n := len(b.attempts(t, d)); n != 0 {
			t.Errorf("attempts = %d, want 0", n)
		}
	})

	s.test(t, "Deferred", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		d := b.publishTo(t, w)
		c := b.claimOne(t, d, time.Minute)
		next := b.clock.Now().Add(5 * time.Second)
		b.record(t, webhookd.Result{DeliveryID: d.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeDeferred, NextAttemptTime: next})
		got := b.delivery(t, d)
		if got.State != webhookd.DeliveryPending || got.AttemptCount != 0 || !got.NextAttemptTime.Equal(next) || got.FirstAttemptTime != nil {
			t.Errorf("after deferral: %+v", got)
		}
		if n := len(b.attempts(t, d)); n != 0 {
			t.Errorf("attempts = %d, want 0", n)
		}
		if cs := b.claim(t, 10, time.Minute); len(cs) != 0 {
			t.Errorf("claimed %v before the deferral ended", claimIDs(cs))
		}
		b.clock.Set(next)
		b.claimOne(t, d, time.Minute)
	})

	s.test(t, "Batch", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		var ds []*webhookd.Delivery
		for range 4 {
			ds = append(ds, b.publishTo(t, w))
		}
		cs := b.claim(t, 10, time.Minute)
		if len(cs) != 4 {
			t.Fatalf("claimed %d, want 4", len(cs))
		}
		tokens := map[string]string{}
		for _, c := range cs {
			tokens[c.Delivery.ID] = c.Delivery.LeaseToken
		}
		next := b.clock.Now().Add(time.Minute)
		b.record(t,
			webhookd.Result{DeliveryID: ds[0].ID, LeaseToken: tokens[ds[0].ID], Outcome: webhookd.OutcomeSucceeded, Attempt: b.attempt(200, "")},
			webhookd.Result{DeliveryID: ds[1].ID, LeaseToken: tokens[ds[1].ID], Outcome: webhookd.OutcomeRetry, NextAttemptTime: next, Attempt: b.attempt(500, "HTTP 500")},
			webhookd.Result{DeliveryID: ds[2].ID, LeaseToken: tokens[ds[2].ID], Outcome: webhookd.OutcomeFailed, Attempt: b.attempt(410, "HTTP 410")},
			webhookd.Result{DeliveryID: ds[3].ID, LeaseToken: "stale", Outcome: webhookd.OutcomeSucceeded, Attempt: b.attempt(200, "")},
			// The same result again in the batch: its lease was used up by the first.
			webhookd.Result{DeliveryID: ds[0].ID, LeaseToken: tokens[ds[0].ID], Outcome: webhookd.OutcomeSucceeded, Attempt: b.attempt(200, "")},
		)
		wantStates := []webhookd.DeliveryState{webhookd.DeliverySucceeded, webhookd.DeliveryPending, webhookd.DeliveryFailed, webhookd.DeliveryPending}
		wantCounts := []int{1, 1, 1, 0}
		for i, d := range ds {
			got := b.delivery(t, d)
			if got.State != wantStates[i] || got.AttemptCount != wantCounts[i] {
				t.Errorf("delivery %d: state %q attempts %d; want %q %d", i, got.State, got.AttemptCount, wantStates[i], wantCounts[i])
			}
		}
		if n := len(b.attempts(t, ds[0])); n != 1 {
			t.Errorf("attempts of a result repeated in one batch = %d, want 1", n)
		}
		must(t, b.store.RecordResults(b.ctx, nil))
	})

	// More results than one statement of a store may take (SQLite writes
	// at most 64 rows per statement): every one applies, with its attempt,
	// and the stale ones among them do not.
	s.test(t, "LargeBatch", func(t *testing.T, b *bundle) {
		const n = 250
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		var ds []*webhookd.Delivery
		for range n {
			ds = append(ds, b.publishTo(t, w))
		}
		cs := b.claim(t, n, time.Minute)
		if len(cs) != n {
			t.Fatalf("claimed %d, want %d", len(cs), n)
		}
		results := make([]webhookd.Result, 0, n)
		for i, c := range cs {
			token := c.Delivery.LeaseToken
			if i%50 == 7 {
				token = "stale"
			}
			results = append(results, webhookd.Result{DeliveryID: c.Delivery.ID, LeaseToken: token,
				Outcome: webhookd.OutcomeSucceeded, Attempt: b.attempt(200, "")})
		}
		b.record(t, results...)
		stale := map[string]bool{}
		for i, c := range cs {
			stale[c.Delivery.ID] = i%50 == 7
		}
		for _, d := range ds {
			got := b.delivery(t, d)
			wantState, wantAttempts := webhookd.DeliverySucceeded, 1
			if stale[d.ID] {
				wantState, wantAttempts = webhookd.DeliveryPending, 0
			}
			if got.State != wantState || got.AttemptCount != wantAttempts || len(b.attempts(t, d)) != wantAttempts {
				t.Fatalf("delivery %s: state %q, attempt count %d, %d attempts; want %q, %d", d.ID, got.State, got.AttemptCount,
					len(b.attempts(t, d)), wantState, wantAttempts)
			}
		}
	})

	s.test(t, "AutoDisable", func(t *testing.T, b *bundle) {
		const disableAfter = time.Hour
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		manual := b.newWebhookState(t, b.project.ID, webhookd.WebhookDisabled, webhookd.EventBatchSucceeded)
		var ds []*webhookd.Delivery
		for range 3 {
			ds = append(ds, b.publishTo(t, w))
		}
		dm1, dm2 := b.publishTo(t, manual), b.publishTo(t, manual)
		tokens := map[string]string{}
		for _, c := range b.claim(t, 10, 3*time.Hour) {
			tokens[c.Delivery.ID] = c.Delivery.LeaseToken
		}
		fail := func(d *webhookd.Delivery) {
			t.Helper()
			b.record(t, webhookd.Result{
				DeliveryID: d.ID, LeaseToken: tokens[d.ID], Outcome: webhookd.OutcomeRetry,
				NextAttemptTime: b.clock.Now().Add(time.Minute), Attempt: b.attempt(500, "HTTP 500"), DisableAfter: disableAfter,
			})
		}

		start := b.clock.Now()
		fail(ds[0])
		got := b.webhook(t, w)
		if got.State != webhookd.WebhookEnabled || !timeIs(got.FailingSince, start) {
			t.Fatalf("after the first failure: state %q, failing since %v; want enabled, %v", got.State, got.FailingSince, start)
		}

		b.clock.Advance(disableAfter - time.Second)
		fail(ds[1])
		got = b.webhook(t, w)
		if got.State != webhookd.WebhookEnabled || !timeIs(got.FailingSince, start) {
			t.Fatalf("after failing for less than DisableAfter: state %q, failing since %v", got.State, got.FailingSince)
		}

		b.clock.Advance(time.Second)
		fail(ds[2])
		got = b.webhook(t, w)
		if got.State != webhookd.WebhookDisabledDueToFailedDeliveries || !got.UpdateTime.Equal(b.clock.Now()) {
			t.Fatalf("after failing for DisableAfter: state %q, update time %v; want %q, %v", got.State, got.UpdateTime, webhookd.WebhookDisabledDueToFailedDeliveries, b.clock.Now())
		}

		// A webhook its owner disabled keeps that state.
		b.clock.Set(start)
		fail(dm1)
		b.clock.Advance(2 * disableAfter)
		fail(dm2)
		if got := b.webhook(t, manual); got.State != webhookd.WebhookDisabled {
			t.Errorf("manually disabled webhook became %q", got.State)
		}
	})

	s.test(t, "FailingRunInOneBatch", func(t *testing.T, b *bundle) {
		// Results of one batch apply in order: a success between failures
		// restarts the run, whatever the batch size.
		const disableAfter = time.Hour
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		var ds []*webhookd.Delivery
		for range 6 {
			ds = append(ds, b.publishTo(t, w))
		}
		tokens := map[string]string{}
		for _, c := range b.claim(t, 10, 3*time.Hour) {
			tokens[c.Delivery.ID] = c.Delivery.LeaseToken
		}
		result := func(d *webhookd.Delivery, ok bool, at time.Duration) webhookd.Result {
			r := webhookd.Result{DeliveryID: d.ID, LeaseToken: tokens[d.ID], DisableAfter: disableAfter,
				Outcome: webhookd.OutcomeSucceeded, Attempt: b.attempt(200, "")}
			if !ok {
				r.Outcome, r.NextAttemptTime, r.Attempt = webhookd.OutcomeRetry, epoch.Add(2*time.Hour), b.attempt(500, "HTTP 500")
			}
			r.Attempt.Time = epoch.Add(at)
			return r
		}

		b.record(t, result(ds[0], false, 0), result(ds[1], true, time.Minute), result(ds[2], false, 2*time.Minute))
		if got := b.webhook(t, w); !timeIs(got.FailingSince, epoch.Add(2*time.Minute)) {
			t.Fatalf("fail, succeed, fail: failing since %v, want the last failure %v", got.FailingSince, epoch.Add(2*time.Minute))
		}
		b.record(t, result(ds[3], true, 3*time.Minute), result(ds[4], false, 4*time.Minute), result(ds[5], true, 5*time.Minute))
		if got := b.webhook(t, w); got.FailingSince != nil || got.State != webhookd.WebhookEnabled {
			t.Fatalf("succeed, fail, succeed: failing since %v, state %q; want nil, enabled", got.FailingSince, got.State)
		}
	})

	s.test(t, "SuccessEndsFailingRun", func(t *testing.T, b *bundle) {
		const disableAfter = time.Hour
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		d1, d2, d3 := b.publishTo(t, w), b.publishTo(t, w), b.publishTo(t, w)
		tokens := map[string]string{}
		for _, c := range b.claim(t, 10, 3*time.Hour) {
			tokens[c.Delivery.ID] = c.Delivery.LeaseToken
		}
		b.record(t, webhookd.Result{DeliveryID: d1.ID, LeaseToken: tokens[d1.ID], Outcome: webhookd.OutcomeRetry, NextAttemptTime: b.clock.Now().Add(time.Minute), Attempt: b.attempt(500, "HTTP 500"), DisableAfter: disableAfter})
		if got := b.webhook(t, w); got.FailingSince == nil {
			t.Fatalf("FailingSince not set after a failure")
		}
		b.clock.Advance(time.Minute)
		b.record(t, webhookd.Result{DeliveryID: d2.ID, LeaseToken: tokens[d2.ID], Outcome: webhookd.OutcomeSucceeded, Attempt: b.attempt(200, ""), DisableAfter: disableAfter})
		if got := b.webhook(t, w); got.FailingSince != nil || got.State != webhookd.WebhookEnabled {
			t.Fatalf("after a success: failing since %v, state %q; want nil, enabled", got.FailingSince, got.State)
		}

		// Without DisableAfter the failing run is not tracked at all.
		b.clock.Advance(2 * disableAfter)
		b.record(t, webhookd.Result{DeliveryID: d3.ID, LeaseToken: tokens[d3.ID], Outcome: webhookd.OutcomeFailed, Attempt: b.attempt(500, "HTTP 500")})
		if got := b.webhook(t, w); got.FailingSince != nil {
			t.Errorf("FailingSince set by a result without DisableAfter: %v", got.FailingSince)
		}
	})
}

func (s suite) recovery(t *testing.T) {
	// failed makes a delivery of w that failed at the clock's now.
	failed := func(t *testing.T, b *bundle, w *webhookd.Webhook) *webhookd.Delivery {
		t.Helper()
		d := b.publishTo(t, w)
		c := b.claimOne(t, d, time.Minute)
		b.record(t, webhookd.Result{DeliveryID: d.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeFailed, Attempt: b.attempt(500, "HTTP 500")})
		return d
	}

	s.test(t, "RetryDelivery", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		d := failed(t, b, w)
		b.clock.Advance(30 * time.Hour)

		got, err := b.store.RetryDelivery(b.ctx, b.project.ID, d.ID)
		must(t, err)
		now := b.clock.Now()
		// A new retry window: the attempt count and first attempt start over,
		// the attempt log and the last outcome stay.
		if got.State != webhookd.DeliveryPending || !got.NextAttemptTime.Equal(now) || got.AttemptCount != 0 ||
			got.FirstAttemptTime != nil || got.LastStatusCode != 500 || !got.UpdateTime.Equal(now) {
			t.Fatalf("RetryDelivery = %+v", got)
		}
		if d := diff(got, b.delivery(t, d)); d != "" {
			t.Errorf("GetDelivery after retry (-returned +stored):\n%s", d)
		}

		c := b.claimOne(t, d, time.Minute)
		b.record(t, webhookd.Result{DeliveryID: d.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeSucceeded, Attempt: b.attempt(200, "")})
		as := b.attempts(t, d)
		if len(as) != 2 || as[0].StatusCode != 500 || as[1].StatusCode != 200 || as[1].Number != 2 {
			t.Fatalf("attempts after retry = %+v, want the failed one then number 2 succeeded", as)
		}

		// A succeeded delivery can be sent again too.
		if _, err := b.store.RetryDelivery(b.ctx, b.project.ID, d.ID); err != nil {
			t.Fatal(err)
		}
		b.claimOne(t, d, time.Minute)
	})

	s.test(t, "RetryInvalidatesLease", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		d := b.publishTo(t, w)
		c := b.claimOne(t, d, time.Hour)
		if _, err := b.store.RetryDelivery(b.ctx, b.project.ID, d.ID); err != nil {
			t.Fatal(err)
		}
		b.record(t, webhookd.Result{DeliveryID: d.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeFailed, Attempt: b.attempt(500, "late")})
		if got := b.delivery(t, d); got.State != webhookd.DeliveryPending {
			t.Errorf("result of the lease before the retry applied: state %q", got.State)
		}
		b.claimOne(t, d, time.Hour)
	})

	// A retry while a claim is in flight, then a claim under the new lease:
	// both claims' results can reach the same batch, in either order. Only
	// the current lease's applies; the stale one must not hide it.
	for _, staleFirst := range []bool{true, false} {
		name := "ResultsOfTwoLeasesInOneBatch/CurrentFirst"
		if staleFirst {
			name = "ResultsOfTwoLeasesInOneBatch/StaleFirst"
		}
		s.test(t, name, func(t *testing.T, b *bundle) {
			w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
			d := b.publishTo(t, w)
			stale := b.claimOne(t, d, time.Hour)
			if _, err := b.store.RetryDelivery(b.ctx, b.project.ID, d.ID); err != nil {
				t.Fatal(err)
			}
			current := b.claimOne(t, d, time.Hour)
			b.clock.Advance(time.Second)
			rs := []webhookd.Result{
				{DeliveryID: d.ID, LeaseToken: stale.Delivery.LeaseToken, Outcome: webhookd.OutcomeRetry,
					NextAttemptTime: b.clock.Now().Add(time.Hour), Attempt: b.attempt(503, "stale")},
				{DeliveryID: d.ID, LeaseToken: current.Delivery.LeaseToken, Outcome: webhookd.OutcomeSucceeded,
					Attempt: b.attempt(200, ""), DisableAfter: time.Hour},
			}
			if !staleFirst {
				rs[0], rs[1] = rs[1], rs[0]
			}
			b.record(t, rs...)
			if got := b.delivery(t, d); got.State != webhookd.DeliverySucceeded || got.AttemptCount != 1 || got.LastStatusCode != 200 {
				t.Errorf("delivery = state %q, %d attempts, last status %d; want succeeded by the current lease's one attempt",
					got.State, got.AttemptCount, got.LastStatusCode)
			}
			if as := b.attempts(t, d); len(as) != 1 || as[0].StatusCode != 200 || as[0].Number != 1 {
				t.Errorf("attempts = %+v, want only the current lease's (200, number 1)", as)
			}
		})
	}

	s.test(t, "RecoverDeliveries", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		other := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		failed(t, b, w) // before since
		b.clock.Advance(time.Hour)
		since := b.clock.Now()
		f1 := failed(t, b, w)
		b.clock.Advance(time.Minute)
		f2 := failed(t, b, w)
		failed(t, b, other)
		ok := b.publishTo(t, w)
		c := b.claimOne(t, ok, time.Minute)
		b.record(t, webhookd.Result{DeliveryID: ok.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeSucceeded, Attempt: b.attempt(200, "")})
		pending := b.publishTo(t, w)

		b.clock.Advance(time.Hour)
		n, err := b.store.RecoverDeliveries(b.ctx, b.project.ID, w.ID, since)
		must(t, err)
		if n != 2 {
			t.Errorf("RecoverDeliveries = %d, want 2", n)
		}
		cs := b.claim(t, 100, time.Minute)
		if d := sameSet([]string{f1.ID, f2.ID, pending.ID}, claimIDs(cs)); d != "" {
			t.Errorf("due after recovery (-want +got):\n%s", d)
		}

		n, err = b.store.RecoverDeliveries(b.ctx, b.project.ID, w.ID, since)
		must(t, err)
		if n != 0 {
			t.Errorf("second RecoverDeliveries = %d, want 0", n)
		}
		_, err = b.store.RecoverDeliveries(b.ctx, b.project.ID, webhookd.NewID(webhookd.PrefixWebhook), since)
		requireCode(t, err, webhookd.ENOTFOUND)
	})
}

func (s suite) queueStats(t *testing.T) {
	s.test(t, "Backlog", func(t *testing.T, b *bundle) {
		stats, err := b.store.QueueStats(b.ctx)
		must(t, err)
		if d := diff(webhookd.QueueStats{}, stats); d != "" {
			t.Fatalf("empty QueueStats (-want +got):\n%s", d)
		}

		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		d1 := b.publishTo(t, w)
		b.clock.Advance(time.Minute)
		d2 := b.publishTo(t, w)
		b.clock.Advance(time.Minute)
		b.publishTo(t, w)

		check := func(want webhookd.QueueStats) {
			t.Helper()
			got, err := b.store.QueueStats(b.ctx)
			must(t, err)
			if d := diff(want, got); d != "" {
				t.Errorf("QueueStats (-want +got):\n%s", d)
			}
		}
		check(webhookd.QueueStats{Pending: 3, Due: 3, OldestDue: d1.NextAttemptTime})

		b.claim(t, 1, time.Hour) // d1: leased, pending but not due
		check(webhookd.QueueStats{Pending: 3, Due: 2, OldestDue: d2.NextAttemptTime})

		c := b.claim(t, 1, time.Hour) // d2: done
		b.record(t, webhookd.Result{DeliveryID: d2.ID, LeaseToken: c[0].Delivery.LeaseToken, Outcome: webhookd.OutcomeSucceeded, Attempt: b.attempt(200, "")})
		check(webhookd.QueueStats{Pending: 2, Due: 1, OldestDue: epoch.Add(2 * time.Minute)})
	})
}
