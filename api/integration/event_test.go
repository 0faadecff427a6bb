package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

// event is the wire shape of an event.
type event struct {
	ID             string         `json:"id"`
	Type           string         `json:"type"`
	Data           map[string]any `json:"data"`
	CreateTime     string         `json:"create_time"`
	DeliveryCount  int            `json:"delivery_count"`
	IdempotencyKey string         `json:"idempotency_key"`
	WebhookConfig  *struct {
		URIs         []string       `json:"uris"`
		UserMetadata map[string]any `json:"user_metadata"`
	} `json:"webhook_config"`
}

// delivery is the wire shape of a delivery.
type delivery struct {
	ID              string `json:"id"`
	EventID         string `json:"event_id"`
	WebhookID       string `json:"webhook_id"`
	URI             string `json:"uri"`
	Kind            string `json:"kind"`
	State           string `json:"state"`
	AttemptCount    int    `json:"attempt_count"`
	NextAttemptTime string `json:"next_attempt_time"`
	LastStatusCode  int    `json:"last_status_code"`
	LastError       string `json:"last_error"`
	CreateTime      string `json:"create_time"`
	Attempts        []struct {
		Number       int    `json:"number"`
		Time         string `json:"time"`
		StatusCode   int    `json:"status_code"`
		LatencyMS    int64  `json:"latency_ms"`
		Error        string `json:"error"`
		ResponseBody string `json:"response_body"`
	} `json:"attempts"`
}

func (b *bundle) publish(t *testing.T, body string) event {
	t.Helper()
	var ev event
	b.call(t, "POST", "/v1/events", body).ok(t, &ev)
	return ev
}

// TestPublishToWildcard checks that a webhook subscribed to a prefix
// wildcard receives every type under it, and keeps the wildcard as written.
func TestPublishToWildcard(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := b.createWebhook(t, `{"uri":"https://a.test/h","subscribedEvents":["batch.*","batch.failed"]}`)
	if strings.Join(w.SubscribedEvents, ",") != "batch.*,batch.failed" {
		t.Fatalf("subscribed_events = %v", w.SubscribedEvents)
	}
	for _, typ := range []string{"batch.failed", "batch.completed", "batch.expired"} {
		if ev := b.publish(t, `{"type":"`+typ+`"}`); ev.DeliveryCount != 1 {
			t.Errorf("%s: delivery_count %d, want 1", typ, ev.DeliveryCount)
		}
	}
	if ev := b.publish(t, `{"type":"video.generated"}`); ev.DeliveryCount != 0 {
		t.Errorf("video.generated: delivery_count %d, want 0", ev.DeliveryCount)
	}
}

// TestPublishFiltered: an event that a webhook's filter drops creates no
// delivery for it, and the filter changes through update_mask.
func TestPublishFiltered(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := b.createWebhook(t, `{"uri":"https://a.test/h","subscribed_events":["batch.succeeded"],"filter":"data.amount > 1000 && data.currency == \"EUR\""}`)
	if w.Filter != `data.amount > 1000 && data.currency == "EUR"` {
		t.Fatalf("filter = %q", w.Filter)
	}
	if ev := b.publish(t, `{"type":"batch.succeeded","data":{"amount":1500,"currency":"EUR"}}`); ev.DeliveryCount != 1 {
		t.Errorf("matching event: delivery_count %d, want 1", ev.DeliveryCount)
	}
	ev := b.publish(t, `{"type":"batch.succeeded","data":{"amount":999,"currency":"EUR"}}`)
	if ev.DeliveryCount != 0 {
		t.Errorf("filtered-out event: delivery_count %d, want 0", ev.DeliveryCount)
	}
	var ds struct {
		Deliveries []json.RawMessage `json:"deliveries"`
	}
	b.call(t, "GET", "/v1/events/"+ev.ID+"/deliveries", "").ok(t, &ds)
	if len(ds.Deliveries) != 0 {
		t.Errorf("filtered-out event has deliveries: %s", ds.Deliveries)
	}
	var got webhook
	b.call(t, "PATCH", "/v1/webhooks/"+w.ID+"?update_mask=filter", `{"filter":"data.amount > 10"}`).ok(t, &got)
	if got.Filter != "data.amount > 10" {
		t.Fatalf("after update: filter = %q", got.Filter)
	}
	if ev := b.publish(t, `{"type":"batch.succeeded","data":{"amount":999,"currency":"EUR"}}`); ev.DeliveryCount != 1 {
		t.Errorf("after the update: delivery_count %d, want 1", ev.DeliveryCount)
	}
	b.call(t, "PATCH", "/v1/webhooks/"+w.ID+"?updateMask=filter", `{}`).ok(t, &got)
	if got.Filter != "" {
		t.Fatalf("after clearing: filter = %q", got.Filter)
	}
	if ev := b.publish(t, `{"type":"batch.succeeded","data":{}}`); ev.DeliveryCount != 1 {
		t.Errorf("without a filter: delivery_count %d, want 1", ev.DeliveryCount)
	}
}

func TestPublishEvent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := b.createWebhook(t, `{"uri":"https://a.test/h","subscribed_events":["batch.succeeded"]}`)
	b.createWebhook(t, `{"uri":"https://b.test/h","subscribed_events":["batch.failed"]}`)

	// Static routing: the subscribed webhook only.
	ev := b.publish(t, `{"type":"batch.succeeded","data":{"id":"batches/b1","output_file_uri":"files/f1","error_count":0}}`)
	if !strings.HasPrefix(ev.ID, webhookd.PrefixEvent) || ev.Type != "batch.succeeded" || ev.DeliveryCount != 1 ||
		ev.Data["id"] != "batches/b1" || ev.CreateTime != epoch.Format(time.RFC3339Nano) || ev.WebhookConfig != nil {
		t.Fatalf("published %s", dump(ev))
	}
	if b.woken.Load() != 1 {
		t.Errorf("the store woke the engine %d times, want 1", b.woken.Load())
	}
	var ds struct {
		Deliveries []delivery `json:"deliveries"`
	}
	b.call(t, "GET", "/v1/events/"+ev.ID+"/deliveries", "").ok(t, &ds)
	if len(ds.Deliveries) != 1 || ds.Deliveries[0].WebhookID != w.ID || ds.Deliveries[0].Kind != "static" ||
		ds.Deliveries[0].State != "pending" || ds.Deliveries[0].NextAttemptTime == "" || len(ds.Deliveries[0].Attempts) != 0 {
		t.Fatalf("deliveries %s", dump(ds))
	}

	// The alias of batch.succeeded publishes the canonical type.
	if ev := b.publish(t, `{"type":"batch.completed"}`); ev.Type != "batch.succeeded" || len(ev.Data) != 0 {
		t.Fatalf("published alias %s", dump(ev))
	}

	// Dynamic routing in the legacy spelling; user metadata is echoed in data.
	ev = b.publish(t, `{"type":"interaction.completed","data":{"id":"int_1"},"webhookConfig":{"uris":["https://x.test/1","https://x.test/2"],"userMetadata":{"ticket":"T-1"}}}`)
	if ev.DeliveryCount != 2 || ev.WebhookConfig == nil || len(ev.WebhookConfig.URIs) != 2 ||
		ev.WebhookConfig.UserMetadata["ticket"] != "T-1" || ev.Data["user_metadata"].(map[string]any)["ticket"] != "T-1" || ev.Data["id"] != "int_1" {
		t.Fatalf("published dynamic %s", dump(ev))
	}
	b.call(t, "GET", "/v1/events/"+ev.ID+"/deliveries", "").ok(t, &ds)
	if len(ds.Deliveries) != 2 || ds.Deliveries[0].Kind != "dynamic" || ds.Deliveries[0].WebhookID != "" {
		t.Fatalf("dynamic deliveries %s", dump(ds))
	}
	// Metadata alone routes statically and is still echoed.
	ev = b.publish(t, `{"type":"batch.failed","data":{"id":"b2"},"webhook_config":{"user_metadata":{"n":1}}}`)
	if ev.DeliveryCount != 1 || ev.Data["user_metadata"].(map[string]any)["n"] != 1.0 {
		t.Fatalf("published with metadata %s", dump(ev))
	}

	// The same idempotency key with the same request (spelled otherwise)
	// answers the first event and creates nothing.
	first := b.publish(t, `{"type":"video.generated","data":{"id":"v1","n":1},"idempotency_key":"k-1"}`)
	woken := b.woken.Load()
	b.clock.Advance(time.Hour)
	again := b.publish(t, `{"idempotencyKey":"k-1", "data": { "n": 1, "id": "v1" }, "type":"video.generated"}`)
	if again.ID != first.ID || again.Data["id"] != "v1" || again.IdempotencyKey != "k-1" || b.woken.Load() != woken {
		t.Fatalf("republished %s, first %s", dump(again), dump(first))
	}
	// With another request, the key is refused.
	b.call(t, "POST", "/v1/events", `{"type":"video.generated","data":{"id":"v2","n":1},"idempotency_key":"k-1"}`).
		fails(t, http.StatusConflict, "ALREADY_EXISTS", `idempotency_key "k-1" was already used with a different request`)
	if got := b.listedEvents(t); len(got) != 5 {
		t.Fatalf("GET /events lists %d events after a refused key, want 5", len(got))
	}

	// An event nobody subscribed to is kept, with no deliveries and no wake-up.
	woken = b.woken.Load()
	if ev := b.publish(t, `{"type":"interaction.failed"}`); ev.DeliveryCount != 0 || b.woken.Load() != woken {
		t.Fatalf("unrouted event %s", dump(ev))
	}
}

func TestPublishEventValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct{ name, body, want string }{
		{"no type", `{"data":{}}`, "type is required; built-in types: batch.succeeded, batch.cancelled"},
		{"unknown type", `{"type":"batch.exploded"}`, `type: unknown event type "batch.exploded"; built-in and configured types: batch.succeeded`},
		{"unknown type says how to add one", `{"type":"order.paid"}`, `Define the project's own types with POST /v1/eventTypes; an operator may also list types in WEBHOOKD_EVENT_TYPES.`},
		{"ping is not publishable", `{"type":"webhook.ping"}`, `unknown event type "webhook.ping"`},
		{"type not a string", `{"type":["batch.failed"]}`, "type must be a string"},
		{"data a list", `{"type":"batch.failed","data":[1]}`, "data must be a JSON object"},
		{"data a string", `{"type":"batch.failed","data":"x"}`, "data must be a JSON object"},
		{"config not an object", `{"type":"batch.failed","webhook_config":[]}`, "webhook_config must be a JSON object"},
		{"config unknown field", `{"type":"batch.failed","webhook_config":{"url":"https://x.test"}}`, `Unknown field "url" in webhook_config`},
		{"uris not a list", `{"type":"batch.failed","webhook_config":{"uris":"https://x.test"}}`, "webhook_config.uris must be a list of strings"},
		{"http uri", `{"type":"batch.failed","webhookConfig":{"uris":["https://x.test","http://x.test"]}}`, "webhook_config.uris[1] must use https"},
		{"too many uris", `{"type":"batch.failed","webhook_config":{"uris":[` + strings.Repeat(`"https://x.test",`, 20) + `"https://x.test"]}}`, "at most 20 URIs"},
		{"metadata not an object", `{"type":"batch.failed","webhook_config":{"userMetadata":"x"}}`, "webhook_config.user_metadata must be a JSON object"},
		{"key not a string", `{"type":"batch.failed","idempotency_key":7}`, "idempotency_key must be a string"},
		{"key too long", `{"type":"batch.failed","idempotency_key":"` + strings.Repeat("k", 257) + `"}`, "idempotency_key must be at most 256 bytes"},
		{"unknown field", `{"type":"batch.failed","payload":{}}`, `Unknown field "payload"`},
		{"malformed", `{"type":`, "not valid JSON"},
	}
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				b.call(t, "POST", "/v1/events", tt.body).fails(t, 400, "INVALID_ARGUMENT", tt.want)
			})
		}
	})
	if evs, err := b.store.ListEvents(b.ctx, b.project.ID, webhookd.EventFilter{}, webhookd.Page{Size: 10}); err != nil || len(evs) != 0 {
		t.Fatalf("events after rejected publishes: %d, %v", len(evs), err)
	}
}

func TestListEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var want []string
	for i := range 5 {
		b.clock.Advance(time.Second)
		want = append([]string{b.publish(t, fmt.Sprintf(`{"type":"batch.failed","data":{"n":%d}}`, i)).ID}, want...)
	}
	var got []string
	for token := ""; ; {
		var p struct {
			Events        []event `json:"events"`
			NextPageToken string  `json:"next_page_token"`
		}
		b.call(t, "GET", "/v1/events?pageSize=3&pageToken="+url.QueryEscape(token), "").ok(t, &p)
		for _, ev := range p.Events {
			got = append(got, ev.ID)
		}
		if token = p.NextPageToken; token == "" {
			break
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events %v, want newest first %v", got, want)
	}
	var ev event
	b.call(t, "GET", "/v1/events/"+want[0], "").ok(t, &ev)
	if ev.Data["n"] != 4.0 {
		t.Fatalf("get event %s", dump(ev))
	}
	b.call(t, "GET", "/v1/events/msg_nope", "").fails(t, 404, "NOT_FOUND", "Event not found")
}

// TestDeliveryLogRetryRecover follows a delivery through attempts recorded
// by the store (as the delivery engine records them), a retry, and a
// recovery after it failed for good.
func TestDeliveryLogRetryRecover(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := b.createWebhook(t, `{"uri":"https://a.test/h","subscribed_events":["batch.failed"]}`)
	ev := b.publish(t, `{"type":"batch.failed","data":{"id":"b1"}}`)

	// Two attempts: a 503, then a timeout that ends the retries.
	fail := func(status int, errText string, outcome webhookd.Outcome) {
		t.Helper()
		claims, err := b.store.ClaimDeliveries(b.ctx, 10, time.Minute)
		if err != nil || len(claims) != 1 {
			t.Fatalf("claim = %d, %v", len(claims), err)
		}
		d := claims[0].Delivery
		err = b.store.RecordResults(b.ctx, []webhookd.Result{{
			DeliveryID: d.ID, LeaseToken: d.LeaseToken, Outcome: outcome, NextAttemptTime: b.clock.Now().Add(time.Second),
			Attempt: &webhookd.Attempt{ID: webhookd.NewID(webhookd.PrefixAttempt), DeliveryID: d.ID, Time: b.clock.Now(),
				StatusCode: status, Latency: 1500 * time.Millisecond, Error: errText, ResponseBody: "busy"},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	fail(503, "HTTP 503", webhookd.OutcomeRetry)
	b.clock.Advance(time.Second)
	fail(0, "timeout after 10s", webhookd.OutcomeFailed)

	var ds struct {
		Deliveries []delivery `json:"deliveries"`
	}
	b.call(t, "GET", "/v1/events/"+ev.ID+"/deliveries", "").ok(t, &ds)
	if len(ds.Deliveries) != 1 {
		t.Fatalf("deliveries %s", dump(ds))
	}
	d := ds.Deliveries[0]
	if d.State != "failed" || d.AttemptCount != 2 || d.NextAttemptTime != "" || d.LastError != "timeout after 10s" ||
		d.EventID != ev.ID || d.URI != w.URI || len(d.Attempts) != 2 {
		t.Fatalf("failed delivery %s", dump(d))
	}
	if a := d.Attempts[0]; a.Number != 1 || a.StatusCode != 503 || a.LatencyMS != 1500 || a.Error != "HTTP 503" ||
		a.ResponseBody != "busy" || a.Time != epoch.Format(time.RFC3339Nano) {
		t.Fatalf("first attempt %s", dump(a))
	}
	if a := d.Attempts[1]; a.Number != 2 || a.StatusCode != 0 {
		t.Fatalf("second attempt %s", dump(a))
	}
	var one delivery
	b.call(t, "GET", "/v1/deliveries/"+d.ID, "").ok(t, &one)
	if dump(one) != dump(d) {
		t.Fatalf("GET /deliveries/{id} = %s, want %s", dump(one), dump(d))
	}

	// Recover: the failed delivery since a time before it becomes pending.
	b.call(t, "POST", "/v1/webhooks/"+w.ID+":recover", `{"since":"2026-03-01T13:00:00Z"}`).ok(t, nil)
	var rec map[string]int
	b.call(t, "POST", "/v1/webhooks/"+w.ID+":recover", `{"since":"2026-03-01T13:00:00Z"}`).ok(t, &rec)
	if rec["recovered"] != 0 {
		t.Fatalf("recover since after the delivery = %v", rec)
	}
	woken := b.woken.Load()
	b.call(t, "POST", "/v1/webhooks/"+w.ID+":recover", `{"since":"2026-03-01T11:00:00+01:00"}`).ok(t, &rec)
	if rec["recovered"] != 1 || b.woken.Load() != woken+1 {
		t.Fatalf("recover = %v, woke %d→%d", rec, woken, b.woken.Load())
	}
	b.call(t, "GET", "/v1/deliveries/"+d.ID, "").ok(t, &one)
	if one.State != "pending" || one.NextAttemptTime == "" {
		t.Fatalf("recovered delivery %s", dump(one))
	}

	// Retry: any state, due now.
	woken = b.woken.Load()
	b.call(t, "POST", "/v1/deliveries/"+d.ID+":retry", "").ok(t, &one)
	if one.ID != d.ID || one.State != "pending" || one.NextAttemptTime != b.clock.Now().Format(time.RFC3339Nano) ||
		len(one.Attempts) != 2 || b.woken.Load() != woken+1 {
		t.Fatalf("retried delivery %s", dump(one))
	}

	for _, c := range []struct{ path, body, want string }{
		{"/v1/webhooks/" + w.ID + ":recover", `{}`, "since is required"},
		{"/v1/webhooks/" + w.ID + ":recover", `{"since":"yesterday"}`, `since must be an RFC 3339 time such as 2026-01-22T12:00:00Z, got "yesterday"`},
		{"/v1/webhooks/" + w.ID + ":recover", `{"since":1}`, "since must be a string"},
		{"/v1/deliveries/" + d.ID + ":retry", `{"now":true}`, `Unknown field "now"`},
	} {
		b.call(t, "POST", c.path, c.body).fails(t, 400, "INVALID_ARGUMENT", c.want)
	}
	b.call(t, "GET", "/v1/deliveries/dlv_nope", "").fails(t, 404, "NOT_FOUND", "Delivery not found")
	b.call(t, "POST", "/v1/webhooks/wh_nope:recover", `{"since":"2026-03-01T11:00:00Z"}`).fails(t, 404, "NOT_FOUND", "Webhook not found")
}

// TestEventJSONShape pins the exact keys of an event, so that additions are
// deliberate.
func TestEventJSONShape(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var raw map[string]json.RawMessage
	b.call(t, "POST", "/v1/events", `{"type":"batch.failed","data":{"id":"b"},"idempotency_key":"k","webhook_config":{"uris":["https://x.test"]}}`).ok(t, &raw)
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	if got := fmt.Sprint(sorted(keys)); got != "[create_time data delivery_count id idempotency_key type webhook_config]" {
		t.Fatalf("event keys %s", got)
	}
}

func sorted(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// TestPublishAnswersWhatGetReads: a publish answers with the data it
// stored, as GET /events/{id} reads it back — for a new event (answered
// from the request, without reading the stored payload back) and for one an
// idempotency key answers (read from the payload), one by one and in a
// batch.
func TestPublishAnswersWhatGetReads(t *testing.T) {
	t.Parallel()
	b := setup(t)
	data := `{ "note": "a<b & c>d \u00e9", "n": [1, 2.50, {"x": null}], "nested": {"deep": true} }`
	var answered []event
	answered = append(answered, b.publish(t, `{"type":"batch.succeeded","data":`+data+`}`))
	answered = append(answered, b.publish(t, `{"type":"batch.succeeded","data":`+data+`,"idempotency_key":"k"}`))
	// The same request spelled otherwise answers the first event.
	same := `{"nested":{"deep":true},"n":[1,2.5,{"x":null}],"note":"a<b & c>d é"}`
	answered = append(answered, b.publish(t, `{"type":"batch.succeeded","data":`+same+`,"idempotency_key":"k"}`))
	answered = append(answered, b.batchPublish(t, `{"events":[{"type":"batch.succeeded","data":`+data+`,"webhook_config":{"uris":["https://x.test/1"],"user_metadata":{"t":"<&>"}}},{"type":"batch.succeeded","data":`+same+`,"idempotency_key":"k"}]}`)...)
	for i, ev := range answered {
		var got event
		b.call(t, "GET", "/v1/events/"+ev.ID, "").ok(t, &got)
		if a, g := dump(ev.Data), dump(got.Data); a != g {
			t.Errorf("answer %d: data %s, GET reads %s", i, a, g)
		}
		if ev.Data["note"] != "a<b & c>d é" {
			t.Errorf("answer %d: data %s, want the published note", i, dump(ev.Data))
		}
	}
}
