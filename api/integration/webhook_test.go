package integration_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/api"
)

// TestDocumentRESTExamples runs the source document's curl examples as they
// are written, spellings included.
func TestDocumentRESTExamples(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// Create: the document subscribes to batch.completed, the alias of
	// batch.succeeded.
	w := b.createWebhook(t, `{
    "name": "MyBatchWebhook",
    "uri": "https://my-api.com/gemini-callback",
    "subscribed_events": ["batch.completed", "batch.failed"]
  }`)
	if w.Name != "MyBatchWebhook" || !slices.Equal(w.SubscribedEvents, []string{"batch.succeeded", "batch.failed"}) ||
		!strings.HasPrefix(w.NewSigningSecret, "whsec_") {
		t.Fatalf("created %s", dump(w))
	}

	// Get and list, without a Content-Type.
	var got webhook
	b.call(t, "GET", "/v1/webhooks/"+w.ID, "").ok(t, &got)
	if got.ID != w.ID || got.NewSigningSecret != "" {
		t.Fatalf("get %s", dump(got))
	}
	var list struct {
		Webhooks      []webhook `json:"webhooks"`
		NextPageToken *string   `json:"next_page_token"`
	}
	b.call(t, "GET", "/v1/webhooks", "").ok(t, &list)
	if len(list.Webhooks) != 1 || list.NextPageToken != nil {
		t.Fatalf("list %s", dump(list))
	}

	// Update without a mask: the fields present.
	var upd webhook
	b.call(t, "PATCH", "/v1/webhooks/"+w.ID, `{
    "subscribed_events": ["batch.completed", "batch.failed", "batch.cancelled"]
  }`).ok(t, &upd)
	if !slices.Equal(upd.SubscribedEvents, []string{"batch.succeeded", "batch.failed", "batch.cancelled"}) || upd.URI != w.URI {
		t.Fatalf("updated %s", dump(upd))
	}

	// Rotate through the document's path with its upper-case enum. The
	// rotation is a change of the webhook: update_time moves.
	var rot struct {
		Secret string `json:"secret"`
	}
	b.clock.Advance(time.Minute)
	b.call(t, "POST", "/v1/webhooks/"+w.ID+"/rotate_secret", `{
    "revocation_behavior": "REVOKE_PREVIOUS_SECRETS_AFTER_H24"
  }`).ok(t, &rot)
	if !strings.HasPrefix(rot.Secret, "whsec_") {
		t.Fatalf("rotate answered %q", rot.Secret)
	}
	b.call(t, "GET", "/v1/webhooks/"+w.ID, "").ok(t, &got)
	if len(got.SigningSecrets) != 2 || got.SigningSecrets[1].ExpireTime != epoch.Add(time.Minute+24*time.Hour).Format(time.RFC3339Nano) {
		t.Fatalf("secrets after rotation %s", dump(got.SigningSecrets))
	}
	if got.UpdateTime != epoch.Add(time.Minute).Format(time.RFC3339Nano) {
		t.Fatalf("update_time after rotation %s, want %s", got.UpdateTime, epoch.Add(time.Minute).Format(time.RFC3339Nano))
	}
	b.call(t, "POST", "/v1/webhooks/"+w.ID+"/rotate_secret", `{"revocationBehavior":"REVOKE_PREVIOUS_SECRETS_IMMEDIATELY"}`).ok(t, &rot)
	b.call(t, "GET", "/v1/webhooks/"+w.ID, "").ok(t, &got)
	if len(got.SigningSecrets) != 1 {
		t.Fatalf("secrets after immediate rotation %s", dump(got.SigningSecrets))
	}

	// Delete answers {}.
	res := b.call(t, "DELETE", "/v1/webhooks/"+w.ID, "")
	res.ok(t, nil)
	if strings.TrimSpace(string(res.body)) != "{}" {
		t.Fatalf("delete answered %s, want {}", res.body)
	}
	b.call(t, "GET", "/v1/webhooks/"+w.ID, "").fails(t, 404, "NOT_FOUND", "Webhook not found")
}

// TestSDKWireShapes replays the JS SDK requests recorded in the wire
// contract, headers included, and checks the answers' exact shape.
func TestSDKWireShapes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	nextGen := func(method, path, body string) *response {
		req := b.request(t, method, path, body)
		req.Header.Set("Content-Type", "application/json") // on GET and DELETE too
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Cookie", "")
		req.Header.Set("x-goog-api-client", "google-genai-sdk/3.1.0 gl-node/v20.20.2")
		req.Header.Set("x-goog-api-key", b.key)
		return b.send(t, req)
	}
	var w map[string]any
	nextGen("POST", "/v1/webhooks", `{"name":"my-hook","uri":"https://example.test/hook","subscribed_events":["batch.succeeded","interaction.completed"]}`).ok(t, &w)
	keys := slices.Sorted(mapKeys(w))
	want := []string{"create_time", "id", "name", "new_signing_secret", "signing_secrets", "state", "subscribed_events", "update_time", "uri"}
	if !slices.Equal(keys, want) {
		t.Fatalf("create answered keys %v, want %v", keys, want)
	}
	id := w["id"].(string)
	secrets := w["signing_secrets"].([]any)
	if s := secrets[0].(map[string]any); len(s) != 1 || !strings.HasSuffix(s["truncated_secret"].(string), "...") {
		t.Fatalf("signing secret %v, want only a truncated_secret", s)
	}

	nextGen("GET", "/v1/webhooks?page_size=10", "").ok(t, nil)
	for _, body := range []string{"", "{}"} {
		res := nextGen("POST", "/v1/webhooks/"+id+":ping", body)
		res.ok(t, nil)
		if strings.TrimSpace(string(res.body)) != "{}" {
			t.Fatalf("ping answered %s, want {}", res.body)
		}
	}
	nextGen("PATCH", "/v1/webhooks/"+id+"?update_mask=uri%2Cstate%2Csubscribed_events",
		`{"uri":"https://example.test/hook2","state":"disabled","subscribed_events":["batch.failed"]}`).ok(t, nil)
	nextGen("POST", "/v1/webhooks/"+id+":ping", "").fails(t, 400, "FAILED_PRECONDITION", "is disabled, so nothing can be sent to it")
	nextGen("PATCH", "/v1/webhooks/"+id, `{"name":"renamed"}`).ok(t, nil)
	nextGen("POST", "/v1/webhooks/"+id+":rotateSigningSecret", `{"revocation_behavior":"revoke_previous_secrets_immediately"}`).ok(t, nil)
	nextGen("POST", "/v1/webhooks/"+id+":rotateSigningSecret", `{}`).ok(t, nil)
	var got webhook
	nextGen("GET", "/v1/webhooks/"+id, "").ok(t, &got)
	if got.Name != "renamed" || got.State != "disabled" || got.URI != "https://example.test/hook2" ||
		!slices.Equal(got.SubscribedEvents, []string{"batch.failed"}) || len(got.SigningSecrets) != 2 {
		t.Fatalf("after the SDK's calls: %s", dump(got))
	}
	nextGen("DELETE", "/v1/webhooks/"+id, "").ok(t, nil)
}

func mapKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestWebhookValidation checks every input error of the webhooks resource:
// 400 INVALID_ARGUMENT with the field named.
func TestWebhookValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *api.Config) { c.MaxBodyBytes = 4096 })
	id := b.createWebhook(t, `{"uri":"https://a.test/h","subscribed_events":["batch.failed"]}`).ID
	tests := []struct {
		name, method, path, body, want string
	}{
		{"missing uri", "POST", "/v1/webhooks", `{"subscribed_events":["batch.failed"]}`, "uri is required"},
		{"http uri", "POST", "/v1/webhooks", `{"uri":"http://a.test","subscribed_events":["batch.failed"]}`, "uri must use https"},
		{"relative uri", "POST", "/v1/webhooks", `{"uri":"/hook","subscribed_events":["batch.failed"]}`, "uri must be an absolute URL"},
		{"uri not a string", "POST", "/v1/webhooks", `{"uri":7,"subscribed_events":["batch.failed"]}`, "uri must be a string"},
		{"missing events", "POST", "/v1/webhooks", `{"uri":"https://a.test"}`, "subscribed_events must list at least one event type or prefix wildcard (order.*)"},
		{"empty events", "POST", "/v1/webhooks", `{"uri":"https://a.test","subscribed_events":[]}`, "subscribed_events must list at least one"},
		{"events not a list", "POST", "/v1/webhooks", `{"uri":"https://a.test","subscribed_events":"batch.failed"}`, "subscribed_events must be a list of strings"},
		{"unknown event", "POST", "/v1/webhooks", `{"uri":"https://a.test","subscribedEvents":["batch.done"]}`, `subscribed_events: unknown event type "batch.done"; built-in and configured types: batch.succeeded`},
		{"unknown event says how to add one", "POST", "/v1/webhooks", `{"uri":"https://a.test","subscribedEvents":["order.paid"]}`, `Define the project's own types with POST /v1/eventTypes`},
		{"malformed wildcard", "POST", "/v1/webhooks", `{"uri":"https://a.test","subscribedEvents":["batch*"]}`, `subscribed_events "batch*" is not a prefix wildcard such as order.*`},
		{"wildcard of a bad name", "POST", "/v1/webhooks", `{"uri":"https://a.test","subscribedEvents":["bat-ch.*"]}`, `must be an event type name followed by .*`},
		{"name with control", "POST", "/v1/webhooks", `{"name":"a\u0001","uri":"https://a.test","subscribed_events":["batch.failed"]}`, "name must not contain control characters"},
		{"unknown field", "POST", "/v1/webhooks", `{"uri":"https://a.test","subscribed_events":["batch.failed"],"secret":"x"}`, `Unknown field "secret"`},
		{"duplicate spelling", "POST", "/v1/webhooks", `{"uri":"https://a.test","subscribed_events":["batch.failed"],"subscribedEvents":[]}`, "subscribed_events is given more than once"},
		{"malformed", "POST", "/v1/webhooks", `{"uri":"https://a.test",}`, "not valid JSON"},
		{"array body", "POST", "/v1/webhooks", `[]`, "must be a JSON object"},
		{"too large", "POST", "/v1/webhooks", `{"name":"` + strings.Repeat("x", 5000) + `"}`, "at most 4096 bytes"},
		{"bad state", "PATCH", "/v1/webhooks/" + id, `{"state":"paused"}`, `state must be enabled or disabled, got "paused"`},
		{"state set by the service", "PATCH", "/v1/webhooks/" + id, `{"state":"disabled_due_to_failed_deliveries"}`, "state disabled_due_to_failed_deliveries is set only by the service"},
		{"state not a string", "PATCH", "/v1/webhooks/" + id, `{"state":true}`, "state must be a string"},
		{"unknown mask path", "PATCH", "/v1/webhooks/" + id + "?update_mask=uri,colour", `{"uri":"https://b.test"}`, `update_mask: unknown field path "colour"`},
		{"masked uri missing", "PATCH", "/v1/webhooks/" + id + "?updateMask=uri", `{"name":"x"}`, "uri is required"},
		{"masked events missing", "PATCH", "/v1/webhooks/" + id + "?update_mask=subscribedEvents", `{}`, "subscribed_events must list at least one"},
		{"update unknown field", "PATCH", "/v1/webhooks/" + id, `{"url":"https://b.test"}`, `Unknown field "url"`},
		{"update bad uri", "PATCH", "/v1/webhooks/" + id, `{"uri":"ftp://b.test"}`, `uri must use https, got scheme "ftp"`},
		{"reserved header", "POST", "/v1/webhooks", `{"uri":"https://a.test","subscribed_events":["batch.failed"],"headers":{"Webhook-Signature":"v1,x"}}`, `headers: "Webhook-Signature" is set by the service or consumed by proxies`},
		{"hop-by-hop header", "PATCH", "/v1/webhooks/" + id, `{"headers":{"Transfer-Encoding":"chunked"}}`, `headers: "Transfer-Encoding" is set by the service`},
		{"header value not a string", "POST", "/v1/webhooks", `{"uri":"https://a.test","subscribed_events":["batch.failed"],"headers":{"X-A":1}}`, "headers must be an object of header names to string values"},
		{"headers not an object", "PATCH", "/v1/webhooks/" + id, `{"headers":["X-A"]}`, "headers must be a JSON object"},
		{"header injection", "PATCH", "/v1/webhooks/" + id, `{"headers":{"X-A":"a\r\nHost: b"}}`, `the value of "X-A" must not contain control characters`},
		{"filter syntax", "POST", "/v1/webhooks", `{"uri":"https://a.test","subscribed_events":["batch.failed"],"filter":"data.amount >"}`, "filter:1:14: Syntax error"},
		{"filter unknown variable", "PATCH", "/v1/webhooks/" + id, `{"filter":"amount > 5"}`, "filter:1:1: undeclared reference to 'amount'"},
		{"filter not a condition", "PATCH", "/v1/webhooks/" + id, `{"filter":"data.amount + 1"}`, "filter must be a condition (true or false)"},
		{"filter not a string", "PATCH", "/v1/webhooks/" + id, `{"filter":true}`, "filter must be a string"},
		{"publish an operational event", "POST", "/v1/events", `{"type":"webhook.disabled","data":{}}`, "webhook.disabled is an operational event, published by webhookd itself"},
		{"bad revocation", "POST", "/v1/webhooks/" + id + ":rotateSigningSecret", `{"revocation_behavior":"later"}`, `revocation_behavior must be revoke_previous_secrets_after_h24 or revoke_previous_secrets_immediately, got "later"`},
		{"revocation not a string", "POST", "/v1/webhooks/" + id + "/rotate_secret", `{"revocation_behavior":1}`, "revocation_behavior must be a string"},
		{"ping with fields", "POST", "/v1/webhooks/" + id + ":ping", `{"event":"x"}`, `Unknown field "event"`},
		{"page size not a number", "GET", "/v1/webhooks?page_size=ten", "", `page_size must be an integer, got "ten"`},
		{"negative page size", "GET", "/v1/webhooks?pageSize=-1", "", "page_size must not be negative"},
		{"forged page token", "GET", "/v1/webhooks?page_token=tok2", "", "page_token is invalid"},
		{"page size twice", "GET", "/v1/webhooks?page_size=1&pageSize=2", "", "page_size is given twice"},
	}
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				b.call(t, tt.method, tt.path, tt.body).fails(t, 400, "INVALID_ARGUMENT", tt.want)
			})
		}
	})
	// None of the rejected requests changed anything.
	var got webhook
	b.call(t, "GET", "/v1/webhooks/"+id, "").ok(t, &got)
	if got.URI != "https://a.test/h" || got.State != "enabled" || !slices.Equal(got.SubscribedEvents, []string{"batch.failed"}) || len(got.SigningSecrets) != 1 {
		t.Errorf("webhook after rejected requests: %s", dump(got))
	}
	evs, err := b.store.ListEvents(b.ctx, b.project.ID, webhookd.EventFilter{}, webhookd.Page{Size: 10})
	if err != nil || len(evs) != 0 {
		t.Errorf("events after rejected requests: %d, %v", len(evs), err)
	}
}

func TestUpdateWebhook(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := b.createWebhook(t, `{"name":"n","uri":"https://a.test/h","subscribed_events":["batch.failed"]}`)
	patch := func(query, body string) webhook {
		t.Helper()
		var got webhook
		b.call(t, "PATCH", "/v1/webhooks/"+w.ID+query, body).ok(t, &got)
		return got
	}
	// A masked field absent from the body is cleared.
	if got := patch("?update_mask=name", `{}`); got.Name != "" || got.URI != w.URI {
		t.Fatalf("after clearing name: %s", dump(got))
	}
	// Fields outside the mask are ignored; camelCase paths work.
	if got := patch("?update_mask=subscribedEvents", `{"subscribedEvents":["video.generated"],"uri":"https://ignored.test"}`); got.URI != w.URI ||
		!slices.Equal(got.SubscribedEvents, []string{"video.generated"}) {
		t.Fatalf("after masked update: %s", dump(got))
	}
	// "*" replaces every updatable field.
	if got := patch("?update_mask=*", `{"name":"all","uri":"https://b.test","subscribed_events":["batch.expired"],"state":"DISABLED"}`); got.Name != "all" ||
		got.URI != "https://b.test" || got.State != "disabled" {
		t.Fatalf("after full replacement: %s", dump(got))
	}
	// Headers are shown in full, kept as spelled, and cleared by a mask
	// that names them without a value.
	if got := patch("?update_mask=headers", `{"headers":{"X-Api-Key":"secret-looking-but-not","x-tenant":"t1"},"name":"ignored"}`); got.Name != "all" ||
		got.Headers["X-Api-Key"] != "secret-looking-but-not" || got.Headers["x-tenant"] != "t1" || len(got.Headers) != 2 {
		t.Fatalf("after setting headers: %s", dump(got))
	}
	var read webhook
	b.call(t, "GET", "/v1/webhooks/"+w.ID, "").ok(t, &read)
	if read.Headers["X-Api-Key"] != "secret-looking-but-not" {
		t.Fatalf("GET after setting headers: %s", dump(read))
	}
	if got := patch("?update_mask=headers", `{}`); got.Headers != nil {
		t.Fatalf("after clearing headers: %s", dump(got))
	}

	// An empty body changes nothing, not even update_time.
	b.clock.Advance(time.Hour)
	if got := patch("", `{}`); got.UpdateTime != epoch.Format(time.RFC3339Nano) {
		t.Fatalf("after an empty update: %s", dump(got))
	}
	// Output-only fields echoed back are ignored.
	if got := patch("", `{"id":"wh_other","create_time":"2000-01-01T00:00:00Z","name":"echo"}`); got.ID != w.ID || got.Name != "echo" ||
		got.CreateTime != w.CreateTime || got.UpdateTime != epoch.Add(time.Hour).Format(time.RFC3339Nano) {
		t.Fatalf("after an update echoing output-only fields: %s", dump(got))
	}

	// enabled re-enables a webhook the service disabled and clears its failing run.
	wh, err := b.store.GetWebhook(b.ctx, b.project.ID, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	since := epoch
	wh.State, wh.FailingSince = webhookd.WebhookDisabledDueToFailedDeliveries, &since
	if err := b.store.UpdateWebhook(b.ctx, wh); err != nil {
		t.Fatal(err)
	}
	// The service's verdict may be sent back unchanged…
	if got := patch("", `{"state":"disabled_due_to_failed_deliveries"}`); got.State != "disabled_due_to_failed_deliveries" {
		t.Fatalf("after a no-op state: %s", dump(got))
	}
	b.call(t, "POST", "/v1/webhooks/"+w.ID+":ping", "").fails(t, 400, "FAILED_PRECONDITION", "is disabled_due_to_failed_deliveries")
	if got := patch("", `{"state":"enabled"}`); got.State != "enabled" {
		t.Fatalf("after re-enabling: %s", dump(got))
	}
	b.call(t, "POST", "/v1/webhooks/"+w.ID+":ping", "").ok(t, nil)
	if wh, err = b.store.GetWebhook(b.ctx, b.project.ID, w.ID); err != nil || wh.FailingSince != nil {
		t.Fatalf("after re-enabling: FailingSince = %v (%v), want nil", wh.FailingSince, err)
	}
}

func TestListWebhooksPaging(t *testing.T) {
	t.Parallel()
	b := setup(t)
	other, otherKey := b.newProject(t, "other")
	_ = other
	var want []string
	for i := range 5 {
		b.clock.Advance(time.Second)
		want = append(want, b.createWebhook(t, fmt.Sprintf(`{"uri":"https://a.test/%d","subscribed_events":["batch.failed"]}`, i)).ID)
	}
	type page struct {
		Webhooks      []webhook `json:"webhooks"`
		NextPageToken string    `json:"next_page_token"`
	}
	var got []string
	var tokens []string
	for token := ""; ; {
		var p page
		b.call(t, "GET", "/v1beta/webhooks?page_size=2&page_token="+url.QueryEscape(token), "").ok(t, &p)
		for _, w := range p.Webhooks {
			got = append(got, w.ID)
		}
		if p.NextPageToken == "" {
			break
		}
		token = p.NextPageToken
		tokens = append(tokens, token)
	}
	if !slices.Equal(got, want) || len(tokens) != 2 {
		t.Fatalf("pages gave %v with tokens %v, want %v", got, tokens, want)
	}
	// camelCase parameters, as the legacy stack spells them.
	var p page
	b.call(t, "GET", "/v1/webhooks?pageSize=4&pageToken="+url.QueryEscape(tokens[0]), "").ok(t, &p)
	if len(p.Webhooks) != 3 || p.Webhooks[0].ID != want[2] || p.NextPageToken != "" {
		t.Fatalf("camelCase page: %s", dump(p))
	}
	// A page size over the maximum is clamped, not refused.
	b.call(t, "GET", "/v1/webhooks?page_size=5000", "").ok(t, &p)
	if len(p.Webhooks) != 5 {
		t.Fatalf("clamped page: %d webhooks", len(p.Webhooks))
	}
	b.call(t, "GET", "/v1/webhooks?page_size=99999999999999999999999", "").ok(t, &p)
	// A token is bound to its project and its collection.
	b.callKey(t, otherKey, "GET", "/v1/webhooks?page_token="+url.QueryEscape(tokens[0]), "").fails(t, 400, "INVALID_ARGUMENT", "page_token is invalid")
	b.call(t, "GET", "/v1/events?page_token="+url.QueryEscape(tokens[0]), "").fails(t, 400, "INVALID_ARGUMENT", "page_token is invalid")
	edited := []byte(tokens[0])
	edited[3] ^= 'A' ^ 'B'
	if edited[3] == tokens[0][3] {
		edited[3]++
	}
	b.call(t, "GET", "/v1/webhooks?page_token="+url.QueryEscape(string(edited)), "").fails(t, 400, "INVALID_ARGUMENT", "page_token is invalid")
}

func TestAuth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		name   string
		header func(h http.Header)
		code   int
	}{
		{"x-goog-api-key", func(h http.Header) { h.Set("x-goog-api-key", b.key) }, 200},
		{"bearer", func(h http.Header) { h.Set("Authorization", "Bearer "+b.key) }, 200},
		{"bearer lower case", func(h http.Header) { h.Set("Authorization", "bearer "+b.key) }, 200},
		{"empty cookie and JSON content type on GET", func(h http.Header) {
			h.Set("x-goog-api-key", b.key)
			h.Set("Cookie", "")
			h.Set("Content-Type", "application/json")
		}, 200},
		{"no key", func(h http.Header) {}, 401},
		{"wrong key", func(h http.Header) { h.Set("x-goog-api-key", b.key+"x") }, 401},
		{"wrong bearer", func(h http.Header) { h.Set("Authorization", "Bearer nope-not-a-key-0123456789") }, 401},
		{"basic auth", func(h http.Header) { h.Set("Authorization", "Basic "+b.key) }, 401},
		{"key in query is not used", func(h http.Header) {}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := b.request(t, "GET", "/v1/webhooks?key="+b.key, "")
			tt.header(req.Header)
			res := b.send(t, req)
			if tt.code == 200 {
				res.ok(t, nil)
				return
			}
			res.fails(t, 401, "UNAUTHENTICATED", "API key")
		})
	}

	// A revoked key stops working.
	key, rec := webhookd.GenerateAPIKey(b.project.ID, "revoked", b.clock)
	if err := b.store.CreateAPIKey(b.ctx, rec); err != nil {
		t.Fatal(err)
	}
	b.callKey(t, key, "GET", "/v1/webhooks", "").ok(t, nil)
	if err := b.store.RevokeAPIKey(b.ctx, b.project.ID, rec.ID); err != nil {
		t.Fatal(err)
	}
	// The server remembers a key it has seen for api.KeyCacheTTL: the
	// revocation (made by another process, as `webhookd keys revoke` does)
	// takes effect when that ends.
	b.callKey(t, key, "GET", "/v1/webhooks", "").ok(t, nil)
	b.clock.Advance(api.KeyCacheTTL)
	b.callKey(t, key, "GET", "/v1/webhooks", "").fails(t, 401, "UNAUTHENTICATED", "API key not valid")

	// A key shorter than webhookd.MinAPIKeyLength, as earlier versions
	// registered from WEBHOOKD_API_KEY, no longer authenticates, and the
	// answer says why.
	short := webhookd.NewAPIKeyRecord(b.project.ID, "WEBHOOKD_API_KEY", "demo-key", b.clock)
	if err := b.store.CreateAPIKey(b.ctx, short); err != nil {
		t.Fatal(err)
	}
	b.callKey(t, "demo-key", "GET", "/v1/webhooks", "").fails(t, 401, "UNAUTHENTICATED", "shorter than 20 characters")
}

// TestCrossProject checks that another project's ids answer 404, exactly
// like ids that do not exist, on every route that takes one.
func TestCrossProject(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := b.createWebhook(t, `{"uri":"https://a.test/h","subscribed_events":["batch.failed"]}`)
	var ev struct {
		ID string `json:"id"`
	}
	b.call(t, "POST", "/v1/events", `{"type":"batch.failed","data":{"id":"b1"}}`).ok(t, &ev)
	ds, err := b.store.ListDeliveries(b.ctx, b.project.ID, ev.ID)
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries = %v, %v", ds, err)
	}
	_, otherKey := b.newProject(t, "other")
	for _, c := range []struct{ method, path, body, what string }{
		{"GET", "/v1/webhooks/" + w.ID, "", "Webhook"},
		{"PATCH", "/v1/webhooks/" + w.ID, `{"name":"x"}`, "Webhook"},
		{"DELETE", "/v1/webhooks/" + w.ID, "", "Webhook"},
		{"POST", "/v1/webhooks/" + w.ID + ":rotateSigningSecret", `{}`, "Webhook"},
		{"POST", "/v1/webhooks/" + w.ID + "/rotate_secret", `{}`, "Webhook"},
		{"POST", "/v1/webhooks/" + w.ID + ":ping", "", "Webhook"},
		{"POST", "/v1/webhooks/" + w.ID + ":recover", `{"since":"2026-01-01T00:00:00Z"}`, "Webhook"},
		{"GET", "/v1/events/" + ev.ID, "", "Event"},
		{"GET", "/v1/events/" + ev.ID + "/deliveries", "", "Event"},
		{"GET", "/v1/deliveries/" + ds[0].ID, "", "Delivery"},
		{"POST", "/v1/deliveries/" + ds[0].ID + ":retry", "", "Delivery"},
	} {
		b.callKey(t, otherKey, c.method, c.path, c.body).fails(t, 404, "NOT_FOUND", c.what+" not found")
	}
	// The other project's listings are empty, and the webhook is unchanged.
	var list struct {
		Webhooks []webhook `json:"webhooks"`
	}
	b.callKey(t, otherKey, "GET", "/v1/webhooks", "").ok(t, &list)
	if len(list.Webhooks) != 0 {
		t.Fatalf("other project lists %s", dump(list))
	}
	var got webhook
	b.call(t, "GET", "/v1/webhooks/"+w.ID, "").ok(t, &got)
	if got.Name != "" || len(got.SigningSecrets) != 1 {
		t.Fatalf("webhook after the other project's calls: %s", dump(got))
	}
}
