package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

func (s suite) eventBatches(t *testing.T) {
	// More deliveries than one statement of a store may take (SQLite
	// writes at most 64 rows per statement), with an event that routes
	// nowhere between two that fan out wide: each event gets its own, in
	// routing order.
	s.test(t, "WideFanOut", func(t *testing.T, b *bundle) {
		const fanout = 70
		var hooks []*webhookd.Webhook
		for range fanout {
			hooks = append(hooks, b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded))
			b.clock.Advance(time.Millisecond) // routing order is creation order
		}
		events := []webhookd.NewEvent{
			{ProjectID: b.project.ID, Type: webhookd.EventBatchSucceeded, Data: json.RawMessage(`{"n":0}`)},
			{ProjectID: b.project.ID, Type: webhookd.EventBatchExpired, Data: json.RawMessage(`{"n":1}`)},
			{ProjectID: b.project.ID, Type: webhookd.EventBatchSucceeded, Data: json.RawMessage(`{"n":2}`)},
		}
		got, err := b.store.PublishEvents(b.ctx, events)
		must(t, err)
		for i, want := range []int{fanout, 0, fanout} {
			ds := b.deliveries(t, b.project.ID, got[i].Event.ID)
			if got[i].Event.DeliveryCount != want || len(ds) != want {
				t.Fatalf("events[%d]: delivery_count %d, %d deliveries; want %d", i, got[i].Event.DeliveryCount, len(ds), want)
			}
			for j, d := range ds {
				if d.WebhookID != hooks[j].ID || d.EventID != got[i].Event.ID {
					t.Fatalf("events[%d]: delivery %d is to %s of %s, want %s of %s", i, j, d.WebhookID, d.EventID, hooks[j].ID, got[i].Event.ID)
				}
			}
		}
	})

	s.test(t, "PublishesInOrder", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		b.clock.Advance(time.Minute)
		events := []webhookd.NewEvent{
			{ProjectID: b.project.ID, Type: webhookd.EventBatchSucceeded, Data: json.RawMessage(`{"n":0}`), Source: "api"},
			{ProjectID: b.project.ID, Type: webhookd.EventVideoGenerated, Data: json.RawMessage(`{"n":1}`), Source: "api",
				WebhookConfig: &webhookd.WebhookConfig{URIs: []string{"https://a.example/hook", "https://b.example/hook"}}},
			{ProjectID: b.project.ID, Type: webhookd.EventBatchExpired, Data: json.RawMessage(`{"n":2}`), Source: "api", IdempotencyKey: "k"},
		}
		got, err := b.store.PublishEvents(b.ctx, events)
		must(t, err)
		if len(got) != len(events) {
			t.Fatalf("PublishEvents answered %d events, want %d", len(got), len(events))
		}
		now := b.clock.Now()
		wantCounts := []int{1, 2, 0}
		for i, p := range got {
			payload, err := webhookd.RenderEnvelope(events[i].Type, events[i].Data, now)
			must(t, err)
			want := &webhookd.Event{
				ID: p.Event.ID, ProjectID: b.project.ID, Type: events[i].Type, Payload: payload,
				WebhookConfig: events[i].WebhookConfig, IdempotencyKey: events[i].IdempotencyKey, Source: "api",
				CreateTime: now, DeliveryCount: wantCounts[i],
			}
			if !p.Created {
				t.Errorf("events[%d]: Created = false, want true", i)
			}
			if d := diff(want, p.Event); d != "" {
				t.Errorf("events[%d] (-want +got):\n%s", i, d)
			}
			stored, err := b.store.GetEvent(b.ctx, b.project.ID, p.Event.ID)
			must(t, err)
			if d := diff(want, stored); d != "" {
				t.Errorf("GetEvent of events[%d] (-want +got):\n%s", i, d)
			}
		}
		if ds := b.deliveries(t, b.project.ID, got[0].Event.ID); len(ds) != 1 || ds[0].WebhookID != w.ID {
			t.Errorf("deliveries of events[0] = %+v, want one to %s", ds, w.ID)
		}
		if ds := b.deliveries(t, b.project.ID, got[1].Event.ID); len(ds) != 2 || ds[0].Kind != webhookd.DeliveryDynamic {
			t.Errorf("deliveries of events[1] = %+v, want two dynamic ones", ds)
		}
		if n := len(b.claim(t, 100, time.Minute)); n != 3 {
			t.Errorf("deliveries queued = %d, want 3", n)
		}
	})

	s.test(t, "AllOrNothing", func(t *testing.T, b *bundle) {
		other := b.newProject(t, "other")
		foreign := b.newWebhook(t, other.ID, webhookd.EventWebhookPing)
		b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		before := b.publish(t, webhookd.NewEvent{})
		good := webhookd.NewEvent{ProjectID: b.project.ID, Type: webhookd.EventBatchSucceeded, Source: "api"}

		tests := []struct {
			name  string
			bad   webhookd.NewEvent
			code  string
			field string // the error's Field
		}{
			{"unknown webhook", webhookd.NewEvent{ProjectID: b.project.ID, Type: webhookd.EventWebhookPing, OnlyWebhookID: webhookd.NewID(webhookd.PrefixWebhook)},
				webhookd.ENOTFOUND, "events[2]"},
			{"another project's webhook", webhookd.NewEvent{ProjectID: b.project.ID, Type: webhookd.EventWebhookPing, OnlyWebhookID: foreign.ID},
				webhookd.ENOTFOUND, "events[2]"},
			{"unknown project", webhookd.NewEvent{ProjectID: webhookd.NewID(webhookd.PrefixProject), Type: webhookd.EventBatchFailed},
				webhookd.ENOTFOUND, "events[2]"},
			{"data not an object", webhookd.NewEvent{ProjectID: b.project.ID, Type: webhookd.EventBatchFailed, Data: json.RawMessage(`{not json`)},
				webhookd.EINVALID, "events[2].data"},
			{"no type", webhookd.NewEvent{ProjectID: b.project.ID}, webhookd.EINVALID, "events[2].type"},
		}
		for _, tt := range tests {
			// One after another: each must leave the store as it was.
			withKey := good
			withKey.IdempotencyKey = "all-or-nothing"
			_, err := b.store.PublishEvents(b.ctx, []webhookd.NewEvent{good, withKey, tt.bad, good})
			requireElementError(t, err, tt.code, tt.field)
		}
		_, err := b.store.PublishEvents(b.ctx, nil)
		requireCode(t, err, webhookd.EINVALID)

		evs, err := b.store.ListEvents(b.ctx, b.project.ID, webhookd.EventFilter{}, webhookd.Page{Size: 10})
		must(t, err)
		if len(evs) != 1 || evs[0].ID != before.ID {
			t.Errorf("ListEvents = %d events after failed batches, want only the one published before", len(evs))
		}
		if n := len(b.claim(t, 100, time.Minute)); n != 1 {
			t.Errorf("deliveries queued = %d, want only the earlier event's 1", n)
		}
		// The key of a failed batch was not used.
		if _, created, err := b.store.PublishEvent(b.ctx, webhookd.NewEvent{ProjectID: b.project.ID, Type: webhookd.EventBatchFailed, IdempotencyKey: "all-or-nothing"}); err != nil || !created {
			t.Errorf("publish with the failed batch's key: created = %v, err = %v; want a new event", created, err)
		}
	})

	s.test(t, "Idempotency", func(t *testing.T, b *bundle) {
		b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		earlier := b.publish(t, webhookd.NewEvent{IdempotencyKey: "k1", Data: json.RawMessage(`{"n":0}`)})
		b.clock.Advance(time.Hour)

		ne := func(key string, n int) webhookd.NewEvent {
			return webhookd.NewEvent{ProjectID: b.project.ID, Type: webhookd.EventBatchSucceeded, IdempotencyKey: key,
				Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)), Source: "api"}
		}
		// Each repeated key comes with its first request, as a retry does
		// (another request is a conflict: see Event/IdempotencyConflict).
		got, err := b.store.PublishEvents(b.ctx, []webhookd.NewEvent{ne("k1", 0), ne("k2", 2), ne("k2", 2), ne("", 4), ne("k1", 0)})
		must(t, err)
		tests := []struct {
			i       int
			created bool
			sameAs  string // the ID the event must have
		}{
			{0, false, earlier.ID},      // a key used by an earlier call
			{1, true, ""},               // a new key
			{2, false, got[1].Event.ID}, // the key of an earlier event of the batch
			{3, true, ""},               // no key
			{4, false, earlier.ID},
		}
		for _, tt := range tests {
			p := got[tt.i]
			if p.Created != tt.created || (tt.sameAs != "" && p.Event.ID != tt.sameAs) {
				t.Errorf("events[%d] = %s created=%v, want created=%v id %q", tt.i, p.Event.ID, p.Created, tt.created, tt.sameAs)
			}
		}
		if d := diff(got[1].Event, got[2].Event); d != "" {
			t.Errorf("the repeated key's answer differs from the first event (-first +repeat):\n%s", d)
		}
		evs, err := b.store.ListEvents(b.ctx, b.project.ID, webhookd.EventFilter{}, webhookd.Page{Size: 10})
		must(t, err)
		if len(evs) != 3 {
			t.Errorf("ListEvents = %d events, want 3 (the earlier one, k2's and the one without a key)", len(evs))
		}
		if n := len(b.claim(t, 100, time.Minute)); n != 3 {
			t.Errorf("deliveries queued = %d, want 3", n)
		}
		// A later single publish finds the batch's event.
		again, created, err := b.store.PublishEvent(b.ctx, ne("k2", 2))
		must(t, err)
		if created || again.ID != got[1].Event.ID {
			t.Errorf("single publish with the batch's key = %s created=%v, want %s", again.ID, created, got[1].Event.ID)
		}
	})

	s.test(t, "BesideSinglePublishes", func(t *testing.T, b *bundle) {
		// On SQLite these calls share transactions (group commit): a failing
		// batch must fail alone, and the singles and good batches beside it
		// must be stored.
		b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		const goroutines, rounds = 8, 10
		good := webhookd.NewEvent{ProjectID: b.project.ID, Type: webhookd.EventBatchSucceeded, Source: "api"}
		bad := webhookd.NewEvent{ProjectID: b.project.ID, Type: webhookd.EventWebhookPing, OnlyWebhookID: webhookd.NewID(webhookd.PrefixWebhook)}
		var wg sync.WaitGroup
		errs := make(chan error, goroutines*rounds)
		start := make(chan struct{})
		for g := range goroutines {
			wg.Go(func() {
				<-start
				for range rounds {
					switch g % 3 {
					case 0: // a single publish
						if _, _, err := b.store.PublishEvent(b.ctx, good); err != nil {
							errs <- fmt.Errorf("single publish: %w", err)
						}
					case 1: // a batch whose last event fails
						_, err := b.store.PublishEvents(b.ctx, []webhookd.NewEvent{good, good, bad})
						var e *webhookd.Error
						if !errors.As(err, &e) || e.Code != webhookd.ENOTFOUND || e.Field != "events[2]" {
							errs <- fmt.Errorf("failing batch: %w, want ENOTFOUND of events[2]", err)
						}
					case 2: // a good batch
						if got, err := b.store.PublishEvents(b.ctx, []webhookd.NewEvent{good, good}); err != nil || len(got) != 2 {
							errs <- fmt.Errorf("good batch: %d events, %w", len(got), err)
						}
					}
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		singles, goodBatches := 3*rounds, 2*rounds // goroutines 0,3,6 and 2,5
		want := singles + 2*goodBatches
		evs, err := b.store.ListEvents(b.ctx, b.project.ID, webhookd.EventFilter{}, webhookd.Page{Size: 1000})
		must(t, err)
		if len(evs) != want {
			t.Errorf("events stored = %d, want %d (singles and good batches only)", len(evs), want)
		}
		if n := len(b.claim(t, 1000, time.Minute)); n != want {
			t.Errorf("deliveries queued = %d, want %d", n, want)
		}
	})

	s.test(t, "CrossedKeys", func(t *testing.T, b *bundle) {
		// Two batches with the same keys in opposite orders, at once: each
		// key makes exactly one event, and neither call fails (PostgreSQL:
		// no deadlock between their key locks).
		const pairs = 4
		var wg sync.WaitGroup
		errs := make(chan error, 2*pairs)
		var mu sync.Mutex
		ids := map[string]map[string]bool{} // key → event ids
		for i := range 2 * pairs {
			wg.Go(func() {
				k1, k2 := fmt.Sprintf("a%d", i/2), fmt.Sprintf("b%d", i/2)
				if i%2 == 1 {
					k1, k2 = k2, k1
				}
				got, err := b.store.PublishEvents(b.ctx, []webhookd.NewEvent{
					{ProjectID: b.project.ID, Type: webhookd.EventBatchFailed, IdempotencyKey: k1},
					{ProjectID: b.project.ID, Type: webhookd.EventBatchFailed, IdempotencyKey: k2},
				})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, p := range got {
					if ids[p.Event.IdempotencyKey] == nil {
						ids[p.Event.IdempotencyKey] = map[string]bool{}
					}
					ids[p.Event.IdempotencyKey][p.Event.ID] = true
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for k, set := range ids {
			if len(set) != 1 {
				t.Errorf("key %s answered %d distinct events, want 1", k, len(set))
			}
		}
		evs, err := b.store.ListEvents(b.ctx, b.project.ID, webhookd.EventFilter{}, webhookd.Page{Size: 100})
		must(t, err)
		if len(evs) != 2*pairs {
			t.Errorf("events stored = %d, want one per key (%d)", len(evs), 2*pairs)
		}
	})
}

// requireElementError fails t unless err is an *Error with code whose Field
// is field and whose message names the element, the part of field before
// its first dot.
func requireElementError(t *testing.T, err error, code, field string) {
	t.Helper()
	var e *webhookd.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want a *webhookd.Error of %s", err, field)
	}
	elem, _, _ := strings.Cut(field, ".")
	if e.Code != code || e.Field != field || !strings.HasPrefix(e.Message, elem+": ") {
		t.Fatalf("error = {%s %s %q}, want {%s %s %q…}", e.Code, e.Field, e.Message, code, field, elem+": ")
	}
}
