package storetest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

// opEvents checks the operational events: each change publishes its event
// in its own transaction, delivered to the project's webhooks subscribed
// to it, never to the webhook it tells of when that one is disabled.
func (s suite) opEvents(t *testing.T) {
	// watched returns a webhook subscribed to every operational event,
	// and a function that returns the events delivered to it since the
	// last call, of type typ, with their data.
	watched := func(t *testing.T, b *bundle) (*webhookd.Webhook, func(typ string) []map[string]any) {
		w := b.newWebhook(t, b.project.ID, webhookd.OperationalEventTypes...)
		seen := map[string]bool{}
		return w, func(typ string) []map[string]any {
			t.Helper()
			evs, err := b.store.ListEvents(b.ctx, b.project.ID, webhookd.EventFilter{Type: typ}, webhookd.Page{Size: 100})
			must(t, err)
			var out []map[string]any
			for _, ev := range evs {
				if seen[ev.ID] {
					continue
				}
				seen[ev.ID] = true
				if ev.Source != webhookd.SourceService {
					t.Errorf("%s: source %q, want %q", typ, ev.Source, webhookd.SourceService)
				}
				var to []string
				for _, d := range b.deliveries(t, b.project.ID, ev.ID) {
					to = append(to, d.WebhookID)
				}
				switch {
				case typ == webhookd.EventWebhookEnabled: // the webhook it tells of may get it too
					if !slices.Contains(to, w.ID) {
						t.Errorf("%s %s was delivered to %v, not to the watcher %s", typ, ev.ID, to, w.ID)
					}
				case len(to) != 1 || to[0] != w.ID:
					t.Errorf("%s %s was delivered to %v, want the watcher %s only", typ, ev.ID, to, w.ID)
				}
				var env struct{ Data map[string]any }
				must(t, json.Unmarshal(ev.Payload, &env))
				out = append(out, env.Data)
			}
			return out
		}
	}
	one := func(t *testing.T, got []map[string]any, what string) map[string]any {
		t.Helper()
		if len(got) != 1 {
			t.Fatalf("%s: %d events, want 1: %v", what, len(got), got)
		}
		return got[0]
	}

	s.test(t, "StateChangesByUpdate", func(t *testing.T, b *bundle) {
		_, events := watched(t, b)
		w := b.newWebhook(t, b.project.ID, webhookd.OperationalEventTypes...) // would receive its own events if it could
		w.State = webhookd.WebhookDisabled
		must(t, b.store.UpdateWebhook(b.ctx, w))
		d := one(t, events(webhookd.EventWebhookDisabled), "after disabling")
		if d["webhook_id"] != w.ID || d["reason"] != webhookd.DisabledByUser || d["state"] != "disabled" || d["uri"] != w.URI {
			t.Errorf("webhook.disabled data = %v", d)
		}
		must(t, b.store.UpdateWebhook(b.ctx, w)) // no change of state: no event
		if got := events(webhookd.EventWebhookDisabled); len(got) != 0 {
			t.Errorf("an update that kept the state published %v", got)
		}
		w.State = webhookd.WebhookEnabled
		must(t, b.store.UpdateWebhook(b.ctx, w))
		d = one(t, events(webhookd.EventWebhookEnabled), "after enabling")
		if d["webhook_id"] != w.ID {
			t.Errorf("webhook.enabled data = %v", d)
		}
	})

	s.test(t, "NotStoredWithoutSubscriber", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		must(t, b.store.RotateSecret(b.ctx, b.project.ID, w.ID, b.newSecret(w.ID), b.clock.Now()))
		w.State = webhookd.WebhookDisabled
		must(t, b.store.UpdateWebhook(b.ctx, w))
		evs, err := b.store.ListEvents(b.ctx, b.project.ID, webhookd.EventFilter{}, webhookd.Page{Size: 10})
		must(t, err)
		if len(evs) != 0 {
			t.Errorf("stored %d operational events that no webhook subscribes to", len(evs))
		}
	})

	s.test(t, "SecretRotated", func(t *testing.T, b *bundle) {
		_, events := watched(t, b)
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		expire := b.clock.Now().Add(24 * time.Hour)
		must(t, b.store.RotateSecret(b.ctx, b.project.ID, w.ID, b.newSecret(w.ID), expire))
		d := one(t, events(webhookd.EventWebhookSecretRotated), "after a rotation")
		if d["webhook_id"] != w.ID || d["previous_secrets_expire_time"] != expire.UTC().Format(time.RFC3339Nano) {
			t.Errorf("webhook.secret_rotated data = %v", d)
		}
	})

	s.test(t, "GoneDisables", func(t *testing.T, b *bundle) {
		_, events := watched(t, b)
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded, webhookd.EventWebhookDisabled)
		d := b.publishTo(t, w)
		c := b.claimOne(t, d, time.Minute)
		b.record(t, webhookd.Result{DeliveryID: d.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeFailed,
			Attempt: b.attempt(410, "receiver answered 410 Gone"), Gone: true, DisableAfter: time.Hour})
		got := b.webhook(t, w)
		if got.State != webhookd.WebhookDisabled || !got.UpdateTime.Equal(b.clock.Now()) {
			t.Errorf("after 410: state %s, update time %v; want disabled now", got.State, got.UpdateTime)
		}
		data := one(t, events(webhookd.EventWebhookDisabled), "after 410")
		if data["webhook_id"] != w.ID || data["reason"] != webhookd.DisabledGone || data["delivery_id"] != d.ID {
			t.Errorf("webhook.disabled data = %v", data)
		}
		if got := events(webhookd.EventDeliveryExhausted); len(got) != 0 {
			t.Errorf("a 410 also published delivery.exhausted: %v", got)
		}
		if b.delivery(t, d).State != webhookd.DeliveryFailed {
			t.Errorf("the 410 delivery is %s, want failed", b.delivery(t, d).State)
		}
	})

	s.test(t, "Exhausted", func(t *testing.T, b *bundle) {
		watcher, events := watched(t, b)
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		d := b.publishTo(t, w)
		c := b.claimOne(t, d, time.Minute)
		b.record(t, webhookd.Result{DeliveryID: d.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeFailed,
			Attempt: b.attempt(503, "receiver answered 503 Service Unavailable")})
		data := one(t, events(webhookd.EventDeliveryExhausted), "after the last attempt")
		if data["delivery_id"] != d.ID || data["event_id"] != d.EventID || data["webhook_id"] != w.ID ||
			data["last_error"] != "receiver answered 503 Service Unavailable" || data["last_status_code"] != 503.0 ||
			data["event_type"] != webhookd.EventWebhookPing || data["attempt_count"] != 1.0 {
			t.Errorf("delivery.exhausted data = %v", data)
		}
		// A failure without an attempt (a deleted webhook's) exhausts no
		// retries; the delivery of an operational event that fails tells
		// of nothing, or one failing receiver would feed itself events.
		evs, err := b.store.ListEvents(b.ctx, b.project.ID, webhookd.EventFilter{Type: webhookd.EventDeliveryExhausted}, webhookd.Page{Size: 10})
		must(t, err)
		opDelivery := b.deliveries(t, b.project.ID, evs[0].ID)[0]
		other := b.publishTo(t, w)
		tokens := map[string]string{}
		for _, c := range b.claim(t, 10, time.Minute) {
			tokens[c.Delivery.ID] = c.Delivery.LeaseToken
		}
		b.record(t,
			webhookd.Result{DeliveryID: opDelivery.ID, LeaseToken: tokens[opDelivery.ID], Outcome: webhookd.OutcomeFailed, Attempt: b.attempt(500, "HTTP 500")},
			webhookd.Result{DeliveryID: other.ID, LeaseToken: tokens[other.ID], Outcome: webhookd.OutcomeFailed, Error: "webhook was deleted; not attempted"},
		)
		if got := events(webhookd.EventDeliveryExhausted); len(got) != 0 {
			t.Errorf("published %v, want nothing", got)
		}
		if opDelivery.WebhookID != watcher.ID {
			t.Fatalf("the operational event's delivery went to %s, want the watcher", opDelivery.WebhookID)
		}
	})

	s.test(t, "AutoDisable", func(t *testing.T, b *bundle) {
		_, events := watched(t, b)
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		d1, d2 := b.publishTo(t, w), b.publishTo(t, w)
		tokens := map[string]string{}
		for _, c := range b.claim(t, 10, 3*time.Hour) {
			tokens[c.Delivery.ID] = c.Delivery.LeaseToken
		}
		fail := func(d *webhookd.Delivery) {
			b.record(t, webhookd.Result{DeliveryID: d.ID, LeaseToken: tokens[d.ID], Outcome: webhookd.OutcomeRetry,
				NextAttemptTime: b.clock.Now().Add(time.Minute), Attempt: b.attempt(500, "HTTP 500"), DisableAfter: time.Hour})
		}
		fail(d1)
		if got := events(webhookd.EventWebhookDisabled); len(got) != 0 {
			t.Fatalf("disabled too early: %v", got)
		}
		b.clock.Advance(time.Hour)
		fail(d2)
		data := one(t, events(webhookd.EventWebhookDisabled), "after failing for DisableAfter")
		if data["webhook_id"] != w.ID || data["reason"] != webhookd.DisabledFailedDeliveries || data["state"] != string(webhookd.WebhookDisabledDueToFailedDeliveries) {
			t.Errorf("webhook.disabled data = %v", data)
		}
	})
}
