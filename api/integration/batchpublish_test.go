package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/api"
)

// batch is the wire shape of a batch publish answer.
type batch struct {
	Events []event `json:"events"`
}

func (b *bundle) batchPublish(t *testing.T, body string) []event {
	t.Helper()
	var out batch
	b.call(t, "POST", "/v1/events:batchPublish", body).ok(t, &out)
	return out.Events
}

// listedEvents returns the ids of the project's events, newest first.
func (b *bundle) listedEvents(t *testing.T) []string {
	t.Helper()
	var page struct {
		Events []event `json:"events"`
	}
	b.call(t, "GET", "/v1/events?page_size=1000", "").ok(t, &page)
	ids := make([]string, len(page.Events))
	for i, ev := range page.Events {
		ids[i] = ev.ID
	}
	return ids
}

func TestBatchPublish(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := b.createWebhook(t, `{"uri":"https://a.test/h","subscribed_events":["batch.succeeded"]}`)

	evs := b.batchPublish(t, `{"events":[
		{"type":"batch.succeeded","data":{"id":"batches/b1"}},
		{"type":"interaction.completed","data":{"id":"int_1"},"webhookConfig":{"uris":["https://x.test/1","https://x.test/2"],"userMetadata":{"ticket":"T-1"}}},
		{"type":"batch.completed","idempotencyKey":"k-1"},
		{"type":"interaction.failed"}
	]}`)
	if len(evs) != 4 {
		t.Fatalf("answered %d events, want 4: %s", len(evs), dump(evs))
	}
	tests := []struct {
		typ        string
		deliveries int
		dataID     any // data.id; nil when the event has no data
		key        string
	}{
		{"batch.succeeded", 1, "batches/b1", ""},
		{"interaction.completed", 2, "int_1", ""},
		{"batch.succeeded", 1, nil, "k-1"}, // the alias publishes the canonical type
		{"interaction.failed", 0, nil, ""},
	}
	for i, tt := range tests {
		ev := evs[i]
		if !strings.HasPrefix(ev.ID, webhookd.PrefixEvent) || ev.Type != tt.typ || ev.DeliveryCount != tt.deliveries ||
			ev.Data["id"] != tt.dataID ||
			ev.IdempotencyKey != tt.key || ev.CreateTime != epoch.Format(time.RFC3339Nano) {
			t.Errorf("events[%d] = %s, want type %s with %d deliveries", i, dump(ev), tt.typ, tt.deliveries)
		}
	}
	if wc := evs[1].WebhookConfig; wc == nil || len(wc.URIs) != 2 || wc.UserMetadata["ticket"] != "T-1" ||
		evs[1].Data["user_metadata"].(map[string]any)["ticket"] != "T-1" {
		t.Errorf("dynamic event %s: want its webhook_config and user_metadata echoed in data", dump(evs[1]))
	}
	if b.woken.Load() != 1 {
		t.Errorf("the store woke the engine %d times, want once for the whole batch", b.woken.Load())
	}

	var ds struct {
		Deliveries []delivery `json:"deliveries"`
	}
	b.call(t, "GET", "/v1/events/"+evs[0].ID+"/deliveries", "").ok(t, &ds)
	if len(ds.Deliveries) != 1 || ds.Deliveries[0].WebhookID != w.ID || ds.Deliveries[0].State != "pending" {
		t.Errorf("deliveries of events[0] %s", dump(ds))
	}
	b.call(t, "GET", "/v1/events/"+evs[1].ID+"/deliveries", "").ok(t, &ds)
	if len(ds.Deliveries) != 2 || ds.Deliveries[0].Kind != "dynamic" {
		t.Errorf("deliveries of events[1] %s", dump(ds))
	}
	if got := b.listedEvents(t); len(got) != 4 {
		t.Errorf("GET /events lists %d events, want 4", len(got))
	}

	// Each element answers exactly what POST /events answers.
	var raw struct {
		Events []map[string]json.RawMessage `json:"events"`
	}
	b.call(t, "POST", "/v1beta/events:batchPublish", `{"events":[{"type":"batch.failed","data":{"id":"b"},"idempotency_key":"k","webhook_config":{"uris":["https://x.test"]}}]}`).ok(t, &raw)
	var keys []string
	for k := range raw.Events[0] {
		keys = append(keys, k)
	}
	if got := fmt.Sprint(sorted(keys)); got != "[create_time data delivery_count id idempotency_key type webhook_config]" {
		t.Errorf("event keys %s", got)
	}

	// Same authentication as POST /events.
	b.callKey(t, "", "POST", "/v1/events:batchPublish", `{"events":[{"type":"batch.failed"}]}`).fails(t, 401, "UNAUTHENTICATED", "API key")
	b.callKey(t, b.key+"x", "POST", "/v1/events:batchPublish", `{"events":[{"type":"batch.failed"}]}`).fails(t, 401, "UNAUTHENTICATED", "API key")
	// The collection's custom method leaves the collection's own routes alone.
	b.call(t, "GET", "/v1/events:batchPublish", "").fails(t, 405, "UNIMPLEMENTED", "allowed: POST")
	b.call(t, "POST", "/v1/events:publish", `{}`).fails(t, 404, "NOT_FOUND", "No route")
	if ev := b.publish(t, `{"type":"batch.failed"}`); ev.Type != "batch.failed" {
		t.Errorf("POST /events after a batch answered %s", dump(ev))
	}
}

func TestBatchPublishValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *api.Config) { c.MaxBodyBytes = 2048 }) // each event ≤ 2 KiB; the batch body ≤ 4 MiB
	good := `{"type":"batch.failed","data":{"id":"b"}}`
	events := func(n int) string { return `{"events":[` + strings.TrimSuffix(strings.Repeat(good+",", n), ",") + `]}` }
	at2 := func(bad string) string { return `{"events":[` + good + `,` + good + `,` + bad + `,` + good + `]}` }

	tests := []struct {
		name, body, want string
	}{
		{"empty list", `{"events":[]}`, "events must list at least one event"},
		{"no events", `{}`, "events is required: a list of 1 to 100 events"},
		{"empty body", ``, "events is required"},
		{"null events", `{"events":null}`, "events is required"},
		{"101 events", events(101), "events must list at most 100 events, got 101"},
		{"events an object", `{"events":{"type":"batch.failed"}}`, "events must be a list"},
		{"events a string", `{"events":"batch.failed"}`, "events must be a list"},
		{"element a string", `{"events":["batch.failed"]}`, "events[0] must be a JSON object"},
		{"element null", `{"events":[` + good + `,null]}`, "events[1] must be a JSON object"},
		{"unknown top-level field", `{"events":[` + good + `],"dry_run":true}`, `Unknown field "dry_run" in the request body`},
		{"unknown field in an event", `{"events":[` + good + `,{"type":"batch.failed","payload":{}}]}`, `Unknown field "payload" in events[1]`},
		{"field twice in an event", `{"events":[{"type":"batch.failed","idempotency_key":"a","idempotencyKey":"b"}]}`, "events[0].idempotency_key is given more than once"},
		{"malformed", `{"events":[` + good, "not valid JSON"},
		{"trailing data", events(1) + `{}`, "found more data after it"},
		{"no type at 2", at2(`{"data":{}}`), "events[2].type is required; built-in types: batch.succeeded"},
		{"unknown type at 2", at2(`{"type":"batch.exploded"}`), `events[2].type: unknown event type "batch.exploded"`},
		{"type not a string at 2", at2(`{"type":1}`), "events[2].type must be a string"},
		{"data a list at 2", at2(`{"type":"batch.failed","data":[1]}`), "events[2].data must be a JSON object"},
		{"http uri at 2", at2(`{"type":"batch.failed","webhookConfig":{"uris":["https://x.test","http://x.test"]}}`), "events[2].webhook_config.uris[1] must use https"},
		{"too many uris at 2", at2(`{"type":"batch.failed","webhook_config":{"uris":[` + strings.Repeat(`"https://x.test",`, 20) + `"https://x.test"]}}`), "events[2].webhook_config.uris must list at most 20 URIs"},
		{"config unknown field at 2", at2(`{"type":"batch.failed","webhook_config":{"url":"https://x.test"}}`), `Unknown field "url" in events[2].webhook_config`},
		{"metadata not an object at 2", at2(`{"type":"batch.failed","webhook_config":{"user_metadata":[]}}`), "events[2].webhook_config.user_metadata must be a JSON object"},
		{"key not a string at 2", at2(`{"type":"batch.failed","idempotency_key":7}`), "events[2].idempotency_key must be a string"},
		{"key too long at 2", at2(`{"type":"batch.failed","idempotency_key":"` + strings.Repeat("k", 257) + `"}`), "events[2].idempotency_key must be at most 256 bytes"},
		{"event larger than a POST /events body", at2(`{"type":"batch.failed","data":{"x":"` + strings.Repeat("x", 2048) + `"}}`), "events[2] must be at most 2048 bytes"},
		{"body larger than the batch limit", `{"events":[` + good + `],"x":"` + strings.Repeat("x", api.MaxBatchPublishBodyBytes) + `"}`, "The request body must be at most 4194304 bytes"},
	}
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				b.call(t, "POST", "/v1/events:batchPublish", tt.body).fails(t, 400, "INVALID_ARGUMENT", tt.want)
			})
		}
	})
	if got := b.listedEvents(t); len(got) != 0 {
		t.Fatalf("GET /events lists %d events after rejected batches, want none", len(got))
	}
	if b.woken.Load() != 0 {
		t.Errorf("the store woke the engine %d times after rejected batches", b.woken.Load())
	}
	// The largest batch passes.
	if evs := b.batchPublish(t, events(api.MaxBatchPublishEvents)); len(evs) != api.MaxBatchPublishEvents {
		t.Fatalf("a batch of %d answered %d events", api.MaxBatchPublishEvents, len(evs))
	}
}

func TestBatchPublishIdempotency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createWebhook(t, `{"uri":"https://a.test/h","subscribed_events":["video.generated"]}`)
	first := b.publish(t, `{"type":"video.generated","data":{"id":"v1"},"idempotency_key":"k-1"}`)
	b.clock.Advance(time.Hour)
	woken := b.woken.Load()

	body := `{"events":[
		{"type":"video.generated","data":{"id":"v1"},"idempotency_key":"k-1"},
		{"type":"video.generated","data":{"id":"v3"},"idempotency_key":"k-2"},
		{"type":"video.generated","data":{"id":"v3"},"idempotencyKey":"k-2"},
		{"type":"video.generated","data":{"id":"v5"}}
	]}`
	evs := b.batchPublish(t, body)
	if len(evs) != 4 {
		t.Fatalf("answered %d events: %s", len(evs), dump(evs))
	}
	tests := []struct {
		i      int
		id     string // "" when a new event is wanted
		dataID string
	}{
		{0, first.ID, "v1"},  // a key of an earlier publish answers that event
		{1, "", "v3"},        // a new key
		{2, evs[1].ID, "v3"}, // a key repeated in the batch answers its first event
		{3, "", "v5"},
	}
	for _, tt := range tests {
		ev := evs[tt.i]
		if (tt.id != "" && ev.ID != tt.id) || (tt.id == "" && ev.ID == first.ID) || ev.Data["id"] != tt.dataID {
			t.Errorf("events[%d] = %s, want id %q with data.id %s", tt.i, dump(ev), tt.id, tt.dataID)
		}
	}
	if n := b.woken.Load() - woken; n != 1 {
		t.Errorf("the store woke the engine %d times, want 1", n)
	}
	if got := b.listedEvents(t); len(got) != 3 {
		t.Errorf("GET /events lists %d events, want 3", len(got))
	}

	// The same batch again, as after a lost response: every event answers,
	// nothing is created and nothing is woken.
	woken = b.woken.Load()
	again := b.batchPublish(t, body)
	if again[0].ID != first.ID || again[1].ID != evs[1].ID || again[2].ID != evs[1].ID || again[3].ID == evs[3].ID {
		t.Errorf("republished batch %s, first answer %s", dump(again), dump(evs))
	}
	if b.woken.Load() != woken+1 { // the event without a key is new, and has a delivery
		t.Errorf("the store woke the engine %d times, want 1", b.woken.Load()-woken)
	}
	keyed := `{"events":[{"type":"video.generated","data":{"id":"v1"},"idempotency_key":"k-1"},{"type":"video.generated","data":{"id":"v3"},"idempotency_key":"k-2"}]}`
	woken = b.woken.Load()
	if again := b.batchPublish(t, keyed); again[0].ID != first.ID || again[1].ID != evs[1].ID || b.woken.Load() != woken {
		t.Errorf("a batch of used keys answered %s and woke the engine %d times", dump(again), b.woken.Load()-woken)
	}

	// A key used with another request, before or earlier in the batch, is
	// refused, naming the event; nothing of the batch is stored.
	listed := len(b.listedEvents(t))
	b.call(t, "POST", "/v1/events:batchPublish", `{"events":[{"type":"video.generated"},{"type":"video.generated","data":{"id":"v9"},"idempotency_key":"k-1"}]}`).
		fails(t, http.StatusConflict, "ALREADY_EXISTS", `events[1]: idempotency_key "k-1" was already used with a different request`)
	b.call(t, "POST", "/v1/events:batchPublish", `{"events":[{"type":"video.generated","idempotency_key":"k-9"},{"type":"video.generated"},{"type":"batch.failed","idempotency_key":"k-9"}]}`).
		fails(t, http.StatusConflict, "ALREADY_EXISTS", `events[2]: idempotency_key "k-9" was already used with a different request`)
	if got := len(b.listedEvents(t)); got != listed {
		t.Errorf("GET /events lists %d events after refused batches, want %d", got, listed)
	}
}
