package storetest

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

func (s suite) events(t *testing.T) {
	s.test(t, "PublishRendersEnvelope", func(t *testing.T, b *bundle) {
		b.clock.Advance(1500 * time.Millisecond) // the envelope has second precision, the event does not
		data := json.RawMessage(`{"id":"batches/b1","output_file_uri":"files/f1","error_count":0}`)
		cfg := &webhookd.WebhookConfig{URIs: []string{"https://example.com/dyn"}, UserMetadata: json.RawMessage(`{"job":"nightly"}`)}
		ev := b.publish(t, webhookd.NewEvent{
			Type: webhookd.EventBatchSucceeded, Data: data, WebhookConfig: cfg,
			IdempotencyKey: "key-1", Source: "operation:batches/b1",
		})

		payload, err := webhookd.RenderEnvelope(webhookd.EventBatchSucceeded, data, b.clock.Now())
		must(t, err)
		want := &webhookd.Event{
			ID:             ev.ID,
			ProjectID:      b.project.ID,
			Type:           webhookd.EventBatchSucceeded,
			Payload:        payload,
			WebhookConfig:  cfg,
			IdempotencyKey: "key-1",
			Source:         "operation:batches/b1",
			CreateTime:     b.clock.Now(),
			DeliveryCount:  1,
		}
		if !strings.HasPrefix(ev.ID, webhookd.PrefixEvent) {
			t.Errorf("event ID %q lacks prefix %q", ev.ID, webhookd.PrefixEvent)
		}
		if d := diff(want, ev); d != "" {
			t.Errorf("PublishEvent (-want +got):\n%s", d)
		}
		got, err := b.store.GetEvent(b.ctx, b.project.ID, ev.ID)
		must(t, err)
		if d := diff(want, got); d != "" {
			t.Errorf("GetEvent (-want +got):\n%s", d)
		}
		if string(got.Payload) != string(payload) {
			t.Errorf("payload = %s, want exactly %s", got.Payload, payload)
		}
	})

	s.test(t, "PublishEmptyData", func(t *testing.T, b *bundle) {
		ev, _, err := b.store.PublishEvent(b.ctx, webhookd.NewEvent{ProjectID: b.project.ID, Type: webhookd.EventWebhookPing})
		must(t, err)
		want, err := webhookd.RenderEnvelope(webhookd.EventWebhookPing, nil, b.clock.Now())
		must(t, err)
		if string(ev.Payload) != string(want) {
			t.Errorf("payload = %s, want %s", ev.Payload, want)
		}
	})

	s.test(t, "PublishRejectsBadInput", func(t *testing.T, b *bundle) {
		_, _, err := b.store.PublishEvent(b.ctx, webhookd.NewEvent{ProjectID: b.project.ID, Type: webhookd.EventBatchFailed, Data: json.RawMessage(`{not json`)})
		requireCode(t, err, webhookd.EINVALID)
		_, _, err = b.store.PublishEvent(b.ctx, webhookd.NewEvent{ProjectID: webhookd.NewID(webhookd.PrefixProject), Type: webhookd.EventBatchFailed})
		requireCode(t, err, webhookd.ENOTFOUND)
		_, _, err = b.store.PublishEvent(b.ctx, webhookd.NewEvent{ProjectID: b.project.ID})
		requireCode(t, err, webhookd.EINVALID)
		evs, err := b.store.ListEvents(b.ctx, b.project.ID, webhookd.EventFilter{}, webhookd.Page{Size: 10})
		must(t, err)
		if len(evs) != 0 {
			t.Errorf("ListEvents = %d events after rejected publishes, want 0", len(evs))
		}
	})

	s.test(t, "RoutingStatic", func(t *testing.T, b *bundle) {
		other := b.newProject(t, "other")
		typ := webhookd.EventInteractionCompleted
		a := b.newWebhook(t, b.project.ID, typ)
		f := b.newWebhook(t, b.project.ID, webhookd.EventBatchFailed, typ)
		b.newWebhook(t, b.project.ID, webhookd.EventBatchFailed)
		b.newWebhookState(t, b.project.ID, webhookd.WebhookDisabled, typ)
		b.newWebhookState(t, b.project.ID, webhookd.WebhookDisabledDueToFailedDeliveries, typ)
		b.newWebhook(t, other.ID, typ)

		b.clock.Advance(time.Minute)
		ev := b.publish(t, webhookd.NewEvent{Type: typ})
		if ev.DeliveryCount != 2 {
			t.Errorf("DeliveryCount = %d, want 2", ev.DeliveryCount)
		}
		ds := b.deliveries(t, b.project.ID, ev.ID)
		now := b.clock.Now()
		var want []*webhookd.Delivery
		for _, w := range []*webhookd.Webhook{a, f} {
			want = append(want, &webhookd.Delivery{
				EventID: ev.ID, ProjectID: b.project.ID, Kind: webhookd.DeliveryStatic,
				WebhookID: w.ID, URI: w.URI, State: webhookd.DeliveryPending,
				NextAttemptTime: now, CreateTime: now, UpdateTime: now,
			})
		}
		sortByURI(want)
		if d := diff(want, withoutIDs(t, ds)); d != "" {
			t.Errorf("deliveries (-want +got):\n%s", d)
		}
	})

	s.test(t, "RoutingWildcard", func(t *testing.T, b *bundle) {
		orders := b.newWebhook(t, b.project.ID, "order.*")
		items := b.newWebhook(t, b.project.ID, "order.item.*", "invoice.paid")
		exact := b.newWebhook(t, b.project.ID, "order.shipped")
		b.newWebhook(t, b.project.ID, "orders.*")
		b.newWebhookState(t, b.project.ID, webhookd.WebhookDisabled, "order.*")
		for _, tt := range []struct {
			typ  string
			want []*webhookd.Webhook
		}{
			{"order.shipped", []*webhookd.Webhook{orders, exact}},
			{"order.item.added", []*webhookd.Webhook{orders, items}},
			{"order", nil},
			{"invoice.paid", []*webhookd.Webhook{items}},
		} {
			ev := b.publish(t, webhookd.NewEvent{Type: tt.typ})
			var got, want []string
			for _, d := range b.deliveries(t, b.project.ID, ev.ID) {
				got = append(got, d.WebhookID)
			}
			for _, w := range tt.want {
				want = append(want, w.ID)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) || ev.DeliveryCount != len(want) {
				t.Errorf("%s went to %v (count %d), want %v", tt.typ, got, ev.DeliveryCount, want)
			}
		}
		if got := b.webhook(t, orders).SubscribedEvents; !slices.Equal(got, []string{"order.*"}) {
			t.Errorf("subscribed_events read back as %v, want [order.*]", got)
		}
	})

	s.test(t, "RoutingFilter", func(t *testing.T, b *bundle) {
		typ := webhookd.EventBatchSucceeded
		filtered := func(expr string) *webhookd.Webhook {
			w := b.newWebhook(t, b.project.ID, typ)
			w.Filter = expr
			must(t, b.store.UpdateWebhook(b.ctx, w))
			return w
		}
		plain := b.newWebhook(t, b.project.ID, typ)
		big := filtered(`data.amount > 1000 && data.currency == "EUR"`)
		tenant := filtered(`has(user_metadata.tenant) && user_metadata.tenant == "acme"`)
		missing := filtered(`data.nothing == 1`) // fails at evaluation: drops everything
		for _, tt := range []struct {
			name string
			ne   webhookd.NewEvent
			want []*webhookd.Webhook
		}{
			{"passes", webhookd.NewEvent{Data: []byte(`{"amount":1500,"currency":"EUR"}`)}, []*webhookd.Webhook{plain, big}},
			{"filtered out", webhookd.NewEvent{Data: []byte(`{"amount":15,"currency":"EUR"}`)}, []*webhookd.Webhook{plain}},
			{"metadata", webhookd.NewEvent{Data: []byte(`{"amount":1,"user_metadata":{"tenant":"acme"}}`),
				WebhookConfig: &webhookd.WebhookConfig{UserMetadata: []byte(`{"tenant":"acme"}`)}}, []*webhookd.Webhook{plain, tenant}},
		} {
			ev := b.publish(t, tt.ne)
			var got, want []string
			for _, d := range b.deliveries(t, b.project.ID, ev.ID) {
				got = append(got, d.WebhookID)
			}
			for _, w := range tt.want {
				want = append(want, w.ID)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) || ev.DeliveryCount != len(want) {
				t.Errorf("%s: went to %v (count %d), want %v", tt.name, got, ev.DeliveryCount, want)
			}
		}
		// A batch routes each event by its own data; the ping ignores filters.
		pubs, err := b.store.PublishEvents(b.ctx, []webhookd.NewEvent{
			b.event(webhookd.NewEvent{Data: []byte(`{"amount":2000,"currency":"EUR"}`)}),
			b.event(webhookd.NewEvent{Data: []byte(`{"amount":2000,"currency":"USD"}`)}),
		})
		must(t, err)
		if pubs[0].Event.DeliveryCount != 2 || pubs[1].Event.DeliveryCount != 1 {
			t.Errorf("batch delivery counts = %d, %d; want 2, 1", pubs[0].Event.DeliveryCount, pubs[1].Event.DeliveryCount)
		}
		ping := b.publish(t, webhookd.NewEvent{Type: webhookd.EventWebhookPing, OnlyWebhookID: missing.ID, Source: "ping"})
		if ping.DeliveryCount != 1 {
			t.Errorf("ping of a filtered webhook: %d deliveries, want 1", ping.DeliveryCount)
		}
	})

	s.test(t, "RoutingDynamic", func(t *testing.T, b *bundle) {
		b.newWebhook(t, b.project.ID, webhookd.EventVideoGenerated)
		uris := []string{"https://a.example/hook", "https://b.example/hook", "https://a.example/hook"}
		ev := b.publish(t, webhookd.NewEvent{Type: webhookd.EventVideoGenerated, WebhookConfig: &webhookd.WebhookConfig{URIs: uris}})
		if ev.DeliveryCount != 2 {
			t.Errorf("DeliveryCount = %d, want 2 (one per distinct URI, no static ones)", ev.DeliveryCount)
		}
		now := b.clock.Now()
		var want []*webhookd.Delivery
		for _, u := range uris[:2] {
			want = append(want, &webhookd.Delivery{
				EventID: ev.ID, ProjectID: b.project.ID, Kind: webhookd.DeliveryDynamic, URI: u,
				State: webhookd.DeliveryPending, NextAttemptTime: now, CreateTime: now, UpdateTime: now,
			})
		}
		sortByURI(want)
		if d := diff(want, withoutIDs(t, b.deliveries(t, b.project.ID, ev.ID))); d != "" {
			t.Errorf("deliveries (-want +got):\n%s", d)
		}
	})

	s.test(t, "RoutingOnlyWebhook", func(t *testing.T, b *bundle) {
		other := b.newProject(t, "other")
		b.newWebhook(t, b.project.ID, webhookd.EventWebhookPing)
		target := b.newWebhookState(t, b.project.ID, webhookd.WebhookDisabled, webhookd.EventBatchFailed)
		foreign := b.newWebhook(t, other.ID, webhookd.EventWebhookPing)

		d := b.publishTo(t, target)
		if d.WebhookID != target.ID || d.URI != target.URI || d.Kind != webhookd.DeliveryStatic {
			t.Errorf("ping delivery = %+v, want static to %s", d, target.ID)
		}

		_, _, err := b.store.PublishEvent(b.ctx, webhookd.NewEvent{ProjectID: b.project.ID, Type: webhookd.EventWebhookPing, OnlyWebhookID: foreign.ID})
		requireCode(t, err, webhookd.ENOTFOUND)
		evs, err := b.store.ListEvents(b.ctx, b.project.ID, webhookd.EventFilter{}, webhookd.Page{Size: 10})
		must(t, err)
		if len(evs) != 1 {
			t.Errorf("ListEvents = %d events, want only the first ping", len(evs))
		}
	})

	s.test(t, "RoutingNoDestination", func(t *testing.T, b *bundle) {
		ev := b.publish(t, webhookd.NewEvent{Type: webhookd.EventBatchExpired})
		if ev.DeliveryCount != 0 {
			t.Errorf("DeliveryCount = %d, want 0", ev.DeliveryCount)
		}
		if _, err := b.store.GetEvent(b.ctx, b.project.ID, ev.ID); err != nil {
			t.Errorf("an event with no destination is still stored: %v", err)
		}
	})

	s.test(t, "Idempotency", func(t *testing.T, b *bundle) {
		other := b.newProject(t, "other")
		b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		first := b.publish(t, webhookd.NewEvent{IdempotencyKey: "k1", Data: json.RawMessage(`{"n":1}`)})

		b.clock.Advance(webhookd.IdempotencyWindow - time.Second)
		again, created, err := b.store.PublishEvent(b.ctx, webhookd.NewEvent{
			ProjectID: b.project.ID, Type: webhookd.EventBatchSucceeded, IdempotencyKey: "k1", Data: json.RawMessage(`{"n":1}`),
		})
		must(t, err)
		if created {
			t.Errorf("second publish within the window: created = true")
		}
		if d := diff(first, again); d != "" {
			t.Errorf("second publish within the window (-first +got):\n%s", d)
		}
		evs, err := b.store.ListEvents(b.ctx, b.project.ID, webhookd.EventFilter{}, webhookd.Page{Size: 10})
		must(t, err)
		if len(evs) != 1 {
			t.Errorf("ListEvents = %d events, want 1", len(evs))
		}
		if n := len(b.claim(t, 100, time.Minute)); n != 1 {
			t.Errorf("deliveries queued = %d, want only the first event's 1", n)
		}

		// Keys are per project.
		b.publish(t, webhookd.NewEvent{ProjectID: other.ID, IdempotencyKey: "k1"})

		// After the window the key makes a new event.
		b.clock.Advance(2 * time.Second)
		third := b.publish(t, webhookd.NewEvent{IdempotencyKey: "k1", Data: json.RawMessage(`{"n":3}`)})
		if third.ID == first.ID || third.DeliveryCount != 1 {
			t.Errorf("publish after the window = %+v, want a new event with 1 delivery", third)
		}
	})

	s.test(t, "IdempotencyConflict", func(t *testing.T, b *bundle) {
		// A key reused with another request is refused (as Stripe does):
		// answering the first event would tell the caller that what it
		// asked for now was published, and it was not.
		b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		request := func(edit func(*webhookd.NewEvent)) webhookd.NewEvent {
			ne := b.event(webhookd.NewEvent{IdempotencyKey: "k", Data: json.RawMessage(`{"id":"b1","n":[1,2]}`),
				WebhookConfig: &webhookd.WebhookConfig{URIs: []string{"https://a.example/h"}, UserMetadata: json.RawMessage(`{"job":"nightly","n":1}`)}})
			if edit != nil {
				edit(&ne)
			}
			return ne
		}
		first := b.publish(t, request(nil))

		// The same request in other words: white space, member order,
		// escapes and the spelling of numbers are not part of it, nor is
		// the source.
		again, created, err := b.store.PublishEvent(b.ctx, request(func(ne *webhookd.NewEvent) {
			ne.Data = json.RawMessage(` { "n" : [1.0, 20e-1], "id" : "\u0062\u0031" } `)
			ne.WebhookConfig.UserMetadata = json.RawMessage(`{"n":1,"job":"nightly"}`)
			ne.Source = "operation:batches/b1"
		}))
		must(t, err)
		if created || again.ID != first.ID {
			t.Fatalf("the same request again = %s created=%v, want the first event %s", again.ID, created, first.ID)
		}

		others := []struct {
			name string
			edit func(*webhookd.NewEvent)
		}{
			{"other data", func(ne *webhookd.NewEvent) { ne.Data = json.RawMessage(`{"id":"b2","n":[1,2]}`) }},
			{"an array in another order", func(ne *webhookd.NewEvent) { ne.Data = json.RawMessage(`{"id":"b1","n":[2,1]}`) }},
			{"another number", func(ne *webhookd.NewEvent) { ne.Data = json.RawMessage(`{"id":"b1","n":[1,2.5]}`) }},
			{"no data", func(ne *webhookd.NewEvent) { ne.Data = nil }},
			{"another type", func(ne *webhookd.NewEvent) { ne.Type = webhookd.EventBatchFailed }},
			{"no webhook_config", func(ne *webhookd.NewEvent) { ne.WebhookConfig = nil }},
			{"other uris", func(ne *webhookd.NewEvent) { ne.WebhookConfig.URIs = []string{"https://b.example/h"} }},
			{"other user_metadata", func(ne *webhookd.NewEvent) { ne.WebhookConfig.UserMetadata = json.RawMessage(`{"job":"daily","n":1}`) }},
		}
		for _, tt := range others {
			ne := request(tt.edit)
			_, _, err := b.store.PublishEvent(b.ctx, ne)
			requireCode(t, err, webhookd.ECONFLICT)
			if e, _ := errors.AsType[*webhookd.Error](err); e.Field != "idempotency_key" || !strings.Contains(e.Message, `idempotency_key "k" was already used with a different request`) {
				t.Errorf("%s: error %+v, want one naming idempotency_key that says the key was used with another request", tt.name, e)
			}
			// In a batch, the error names the event.
			_, err = b.store.PublishEvents(b.ctx, []webhookd.NewEvent{b.event(webhookd.NewEvent{}), ne})
			requireCode(t, err, webhookd.ECONFLICT)
			if e, _ := errors.AsType[*webhookd.Error](err); e.Field != "events[1].idempotency_key" || !strings.HasPrefix(e.Message, "events[1]: ") {
				t.Errorf("%s in a batch: error %+v, want one naming events[1].idempotency_key", tt.name, e)
			}
		}

		// A key used twice in one batch, with two requests.
		_, err = b.store.PublishEvents(b.ctx, []webhookd.NewEvent{
			b.event(webhookd.NewEvent{IdempotencyKey: "k2", Data: json.RawMessage(`{"n":1}`)}),
			b.event(webhookd.NewEvent{}),
			b.event(webhookd.NewEvent{IdempotencyKey: "k2", Data: json.RawMessage(`{"n":2}`)}),
		})
		requireCode(t, err, webhookd.ECONFLICT)
		if e, _ := errors.AsType[*webhookd.Error](err); e.Field != "events[2].idempotency_key" {
			t.Errorf("a key reused inside a batch: error %+v, want one naming events[2].idempotency_key", e)
		}

		// Nothing of the refused calls was stored or queued.
		evs, err := b.store.ListEvents(b.ctx, b.project.ID, webhookd.EventFilter{}, webhookd.Page{Size: 10})
		must(t, err)
		if len(evs) != 1 {
			t.Errorf("ListEvents = %d events, want only the first", len(evs))
		}
		if n := len(b.claim(t, 100, time.Minute)); n != 1 {
			t.Errorf("deliveries queued = %d, want only the first event's", n)
		}

		// After the window, the key publishes anything anew.
		b.clock.Advance(webhookd.IdempotencyWindow + time.Second)
		if ev := b.publish(t, request(others[0].edit)); ev.ID == first.ID {
			t.Errorf("publish after the window answered the first event")
		}
	})

	s.test(t, "IdempotencyUnderConcurrency", func(t *testing.T, b *bundle) {
		// API retries of one request can arrive at once, on any process:
		// exactly one of them creates the event.
		b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		const publishers = 8
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			ids     = map[string]bool{}
			created int
		)
		errs := make(chan error, publishers)
		for range publishers {
			wg.Go(func() {
				ev, c, err := b.store.PublishEvent(b.ctx, webhookd.NewEvent{ProjectID: b.project.ID, Type: webhookd.EventBatchSucceeded, IdempotencyKey: "same"})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				defer mu.Unlock()
				ids[ev.ID] = true
				if c {
					created++
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if created != 1 || len(ids) != 1 {
			t.Errorf("%d concurrent publishes with one key: %d created, %d distinct events; want 1 and 1", publishers, created, len(ids))
		}
		if n := len(b.claim(t, 100, time.Minute)); n != 1 {
			t.Errorf("deliveries queued = %d, want 1", n)
		}
	})

	s.test(t, "ListNewestFirstPaged", func(t *testing.T, b *bundle) {
		other := b.newProject(t, "other")
		var want []*webhookd.Event // newest first
		for i := range 5 {
			if i != 2 { // events 1 and 2 share a CreateTime: ID breaks the tie
				b.clock.Advance(time.Second)
			}
			want = append([]*webhookd.Event{b.publish(t, webhookd.NewEvent{})}, want...)
			b.publish(t, webhookd.NewEvent{ProjectID: other.ID})
		}
		if want[2].ID < want[3].ID { // descending by (time, id)
			want[2], want[3] = want[3], want[2]
		}

		all, err := b.store.ListEvents(b.ctx, b.project.ID, webhookd.EventFilter{}, webhookd.Page{Size: 100})
		must(t, err)
		if d := diff(want, all); d != "" {
			t.Fatalf("ListEvents (-want +got):\n%s", d)
		}
		tests := []struct {
			name  string
			after int
			size  int
			want  []*webhookd.Event
		}{
			{"first page", -1, 2, want[:2]},
			{"size+1 tells more exist", -1, 3, want[:3]},
			{"after tied time", 2, 2, want[3:5]},
			{"last partial page", 3, 2, want[4:]},
			{"after the last", 4, 2, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				page := webhookd.Page{Size: tt.size}
				if tt.after >= 0 {
					page.After = webhookd.Cursor{Time: want[tt.after].CreateTime, ID: want[tt.after].ID}
				}
				got, err := b.store.ListEvents(b.ctx, b.project.ID, webhookd.EventFilter{}, page)
				must(t, err)
				if d := diff(tt.want, got); d != "" {
					t.Errorf("ListEvents(%+v) (-want +got):\n%s", page, d)
				}
			})
		}
	})

	s.test(t, "ProjectScoped", func(t *testing.T, b *bundle) {
		other := b.newProject(t, "other")
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		d := b.publishTo(t, w)

		_, err := b.store.GetEvent(b.ctx, other.ID, d.EventID)
		requireCode(t, err, webhookd.ENOTFOUND)
		_, err = b.store.GetEvent(b.ctx, b.project.ID, webhookd.NewID(webhookd.PrefixEvent))
		requireCode(t, err, webhookd.ENOTFOUND)
		_, err = b.store.ListDeliveries(b.ctx, other.ID, d.EventID)
		requireCode(t, err, webhookd.ENOTFOUND)
		_, err = b.store.GetDelivery(b.ctx, other.ID, d.ID)
		requireCode(t, err, webhookd.ENOTFOUND)
		_, err = b.store.GetDelivery(b.ctx, b.project.ID, webhookd.NewID(webhookd.PrefixDelivery))
		requireCode(t, err, webhookd.ENOTFOUND)
		_, err = b.store.ListAttempts(b.ctx, other.ID, d.ID)
		requireCode(t, err, webhookd.ENOTFOUND)
		_, err = b.store.RetryDelivery(b.ctx, other.ID, d.ID)
		requireCode(t, err, webhookd.ENOTFOUND)
		_, err = b.store.RecoverDeliveries(b.ctx, other.ID, w.ID, epoch)
		requireCode(t, err, webhookd.ENOTFOUND)
		evs, err := b.store.ListEvents(b.ctx, other.ID, webhookd.EventFilter{}, webhookd.Page{Size: 10})
		must(t, err)
		if len(evs) != 0 {
			t.Errorf("ListEvents of another project = %d events, want 0", len(evs))
		}
	})
}

// withoutIDs returns ds with their IDs checked and cleared, ordered by URI,
// so that deliveries can be compared with expectations whatever order the
// store lists them in.
func withoutIDs(t *testing.T, ds []*webhookd.Delivery) []*webhookd.Delivery {
	t.Helper()
	out := make([]*webhookd.Delivery, len(ds))
	for i, d := range ds {
		if !strings.HasPrefix(d.ID, webhookd.PrefixDelivery) {
			t.Errorf("delivery ID %q lacks prefix %q", d.ID, webhookd.PrefixDelivery)
		}
		c := *d
		c.ID = ""
		out[i] = &c
	}
	sortByURI(out)
	return out
}

func sortByURI(ds []*webhookd.Delivery) {
	slices.SortFunc(ds, func(a, b *webhookd.Delivery) int { return strings.Compare(a.URI, b.URI) })
}
