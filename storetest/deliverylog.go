package storetest

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

// deliveryLog tests what the console reads: events filtered, a webhook's
// deliveries, the backlog by destination.
func (s suite) deliveryLog(t *testing.T) {
	s.test(t, "ListEventsFiltered", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded, webhookd.EventBatchFailed)
		start := b.clock.Now()
		ok := b.publish(t, webhookd.NewEvent{Type: webhookd.EventBatchSucceeded})
		b.clock.Advance(time.Minute)
		failed := b.publish(t, webhookd.NewEvent{Type: webhookd.EventBatchFailed})
		b.clock.Advance(time.Minute)
		pending := b.publish(t, webhookd.NewEvent{Type: webhookd.EventBatchSucceeded})
		b.clock.Advance(time.Minute)
		nowhere := b.publish(t, webhookd.NewEvent{Type: webhookd.EventVideoGenerated})
		other := b.newProject(t, "other")
		b.publish(t, webhookd.NewEvent{ProjectID: other.ID, Type: webhookd.EventBatchFailed})

		// Finish two of the three deliveries: one succeeds, one fails.
		for _, c := range b.claim(t, 10, time.Minute) {
			switch c.Delivery.EventID {
			case ok.ID:
				b.record(t, webhookd.Result{DeliveryID: c.Delivery.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeSucceeded, Attempt: b.attempt(200, "")})
			case failed.ID:
				b.record(t, webhookd.Result{DeliveryID: c.Delivery.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeFailed, Attempt: b.attempt(500, "HTTP 500")})
			default:
				b.record(t, webhookd.Result{DeliveryID: c.Delivery.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeRetry, NextAttemptTime: b.clock.Now().Add(time.Hour), Attempt: b.attempt(503, "HTTP 503")})
			}
		}
		_ = w

		ids := func(evs []*webhookd.Event) []string {
			out := make([]string, len(evs))
			for i, e := range evs {
				out[i] = e.ID
			}
			return out
		}
		tests := []struct {
			name   string
			filter webhookd.EventFilter
			want   []string
		}{
			{"all, newest first", webhookd.EventFilter{}, []string{nowhere.ID, pending.ID, failed.ID, ok.ID}},
			{"type", webhookd.EventFilter{Type: webhookd.EventBatchSucceeded}, []string{pending.ID, ok.ID}},
			{"unknown type", webhookd.EventFilter{Type: "nope"}, nil},
			{"from", webhookd.EventFilter{StartTime: start.Add(time.Minute)}, []string{nowhere.ID, pending.ID, failed.ID}},
			{"until, exclusive", webhookd.EventFilter{EndTime: start.Add(2 * time.Minute)}, []string{failed.ID, ok.ID}},
			{"window", webhookd.EventFilter{StartTime: start.Add(time.Minute), EndTime: start.Add(2 * time.Minute)}, []string{failed.ID}},
			{"failed delivery", webhookd.EventFilter{DeliveryState: webhookd.DeliveryFailed}, []string{failed.ID}},
			{"pending delivery", webhookd.EventFilter{DeliveryState: webhookd.DeliveryPending}, []string{pending.ID}},
			{"succeeded delivery", webhookd.EventFilter{DeliveryState: webhookd.DeliverySucceeded}, []string{ok.ID}},
			{"type and state", webhookd.EventFilter{Type: webhookd.EventBatchSucceeded, DeliveryState: webhookd.DeliveryFailed}, nil},
		}
		for _, tt := range tests {
			got, err := b.store.ListEvents(b.ctx, b.project.ID, tt.filter, webhookd.Page{Size: 10})
			must(t, err)
			if d := diff(tt.want, ids(got)); d != "" {
				t.Errorf("%s: ListEvents(%+v) (-want +got):\n%s", tt.name, tt.filter, d)
			}
		}
		// Paging goes on within the filter.
		page, err := b.store.ListEvents(b.ctx, b.project.ID, webhookd.EventFilter{Type: webhookd.EventBatchSucceeded}, webhookd.Page{Size: 1})
		must(t, err)
		rest, err := b.store.ListEvents(b.ctx, b.project.ID, webhookd.EventFilter{Type: webhookd.EventBatchSucceeded},
			webhookd.Page{Size: 10, After: webhookd.Cursor{Time: page[0].CreateTime, ID: page[0].ID}})
		must(t, err)
		if d := diff([]string{pending.ID, ok.ID}, append(ids(page), ids(rest)...)); d != "" {
			t.Errorf("paged by type (-want +got):\n%s", d)
		}
	})

	s.test(t, "ListWebhookDeliveries", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		other := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		var ds []*webhookd.Delivery
		for range 3 {
			ds = append(ds, b.publishTo(t, w))
			b.publishTo(t, other)
			b.clock.Advance(time.Second)
		}
		c := b.claim(t, 10, time.Minute)
		for _, cl := range c {
			if cl.Delivery.ID == ds[1].ID {
				b.record(t, webhookd.Result{DeliveryID: cl.Delivery.ID, LeaseToken: cl.Delivery.LeaseToken, Outcome: webhookd.OutcomeFailed, Attempt: b.attempt(410, "HTTP 410")})
			}
		}
		list := func(state webhookd.DeliveryState, page webhookd.Page) []string {
			got, err := b.store.ListWebhookDeliveries(b.ctx, b.project.ID, w.ID, state, page)
			must(t, err)
			return deliveryIDs(got)
		}
		if d := diff([]string{ds[2].ID, ds[1].ID, ds[0].ID}, list("", webhookd.Page{Size: 10})); d != "" {
			t.Errorf("all, newest first (-want +got):\n%s", d)
		}
		if d := diff([]string{ds[1].ID}, list(webhookd.DeliveryFailed, webhookd.Page{Size: 10})); d != "" {
			t.Errorf("failed (-want +got):\n%s", d)
		}
		after := webhookd.Cursor{Time: ds[2].CreateTime, ID: ds[2].ID}
		if d := diff([]string{ds[1].ID}, list("", webhookd.Page{Size: 1, After: after})); d != "" {
			t.Errorf("page after the newest (-want +got):\n%s", d)
		}
		// Another project sees none of them; a deleted webhook's stay.
		p2 := b.newProject(t, "other")
		if got, err := b.store.ListWebhookDeliveries(b.ctx, p2.ID, w.ID, "", webhookd.Page{Size: 10}); err != nil || len(got) != 0 {
			t.Errorf("another project lists %d deliveries (%v), want none", len(got), err)
		}
		must(t, b.store.DeleteWebhook(b.ctx, b.project.ID, w.ID))
		if n := len(list("", webhookd.Page{Size: 10})); n != 3 {
			t.Errorf("after deleting the webhook: %d deliveries, want its 3", n)
		}
	})

	s.test(t, "ListBacklog", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		first := b.clock.Now()
		d1 := b.publishTo(t, w)
		b.clock.Advance(time.Second)
		b.publishTo(t, w)
		b.publish(t, webhookd.NewEvent{WebhookConfig: &webhookd.WebhookConfig{URIs: []string{"https://dyn.example/a"}}})
		done := b.publishTo(t, w)
		for _, c := range b.claim(t, 10, time.Minute) {
			if c.Delivery.ID == done.ID {
				b.record(t, webhookd.Result{DeliveryID: c.Delivery.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeSucceeded, Attempt: b.attempt(200, "")})
			}
		}
		other := b.newProject(t, "other")
		b.publish(t, webhookd.NewEvent{ProjectID: other.ID, WebhookConfig: &webhookd.WebhookConfig{URIs: []string{"https://dyn.example/a"}}})

		got, err := b.store.ListBacklog(b.ctx, b.project.ID)
		must(t, err)
		want := []webhookd.Backlog{
			{URI: "https://dyn.example/a", Pending: 1, OldestCreateTime: b.clock.Now()},
			{URI: w.URI, WebhookID: w.ID, Pending: 2, OldestCreateTime: first},
		}
		if d := diff(want, got); d != "" {
			t.Errorf("ListBacklog (-want +got):\n%s", d)
		}
		_ = d1
	})
}
