package integration_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/api"
)

// eventType is the wire shape of an event type.
type eventType struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Schema      map[string]any `json:"schema"`
	Deprecated  bool           `json:"deprecated"`
	Origin      string         `json:"origin"`
	CreateTime  string         `json:"create_time"`
	UpdateTime  string         `json:"update_time"`
}

type eventTypeList struct {
	EventTypes    []eventType `json:"event_types"`
	NextPageToken string      `json:"next_page_token"`
}

const shippedSchema = `{"type":"object","required":["order_id"],"properties":{"order_id":{"type":"string"},"weight_kg":{"type":"number","exclusiveMinimum":0}}}`

// listAllEventTypes pages through the listing at path with page_size 3.
func listAllEventTypes(t *testing.T, c *client, path string) []eventType {
	t.Helper()
	var all []eventType
	token := ""
	for range 20 {
		var page eventTypeList
		c.do(t, "GET", path+"?page_size=3&page_token="+token, "").ok(t, &page)
		all = append(all, page.EventTypes...)
		if token = page.NextPageToken; token == "" {
			return all
		}
	}
	t.Fatal("GET /eventTypes never ended")
	return nil
}

func (b *cbundle) createWebhookAs(t *testing.T, c *client, body string) webhook {
	t.Helper()
	var w webhook
	c.do(t, "POST", "/v1/webhooks", body).ok(t, &w)
	return w
}

func countEvents(t *testing.T, c *client) int {
	t.Helper()
	var evs struct {
		Events []event `json:"events"`
	}
	c.do(t, "GET", "/v1/events?page_size=1000", "").ok(t, &evs)
	return len(evs.Events)
}

// TestEventTypes walks the event types resource on both stores: the
// catalog read-only, a project's own types with schemas checked at publish,
// wildcards, deprecation, deletion and project scope.
func TestEventTypes(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open openStoreFunc) {
		b := csetup(t, open, func(c *api.Config) { c.Catalog = webhookd.NewCatalog("legacy.thing") })
		main, other, admin := b.as(b.mainKey), b.as(b.otherKey), b.as(adminKey)

		// The catalog is listed, read-only, with the configured type.
		before := listAllEventTypes(t, main, "/v1/eventTypes")
		if len(before) != len(webhookd.CatalogEventTypes)+1 {
			t.Fatalf("listed %d types, want the catalog and legacy.thing: %s", len(before), dump(before))
		}
		var got eventType
		main.do(t, "GET", "/v1/eventTypes/batch.succeeded", "").ok(t, &got)
		if got.Origin != "builtin" || got.Description == "" || got.CreateTime != "" {
			t.Errorf("batch.succeeded = %s", dump(got))
		}
		main.do(t, "GET", "/v1/eventTypes/legacy.thing", "").ok(t, &got)
		if got.Origin != "config" {
			t.Errorf("legacy.thing = %s", dump(got))
		}
		main.do(t, "PATCH", "/v1/eventTypes/batch.failed", `{"description":"x"}`).fails(t, 400, "FAILED_PRECONDITION", `Event type "batch.failed" is built in and read-only`)
		main.do(t, "DELETE", "/v1/eventTypes/batch.failed", "").fails(t, 400, "FAILED_PRECONDITION", "read-only")
		main.do(t, "DELETE", "/v1/eventTypes/legacy.thing", "").fails(t, 400, "FAILED_PRECONDITION", "configured by the operator (WEBHOOKD_EVENT_TYPES)")
		main.do(t, "POST", "/v1/eventTypes/video.generated:deprecate", "").fails(t, 400, "FAILED_PRECONDITION", "read-only")
		main.do(t, "POST", "/v1/eventTypes", `{"name":"batch.failed"}`).fails(t, 409, "ALREADY_EXISTS", "it is built in")

		// A type of the project's own.
		var shipped eventType
		main.do(t, "POST", "/v1/eventTypes", `{"name":"order.shipped","description":"An order left.","schema":`+shippedSchema+`}`).ok(t, &shipped)
		if shipped.Name != "order.shipped" || shipped.Origin != "api" || shipped.Deprecated || shipped.Schema["type"] != "object" ||
			shipped.CreateTime != epoch.Format(time.RFC3339Nano) || shipped.UpdateTime != shipped.CreateTime {
			t.Fatalf("created %s", dump(shipped))
		}
		main.do(t, "POST", "/v1/eventTypes", `{"name":"order.paid"}`).ok(t, nil)
		main.do(t, "POST", "/v1/eventTypes", `{"name":"order.shipped"}`).fails(t, 409, "ALREADY_EXISTS", `Event type "order.shipped" already exists.`)
		main.do(t, "GET", "/v1/eventTypes/order.shipped", "").ok(t, &got)
		if dump(got) != dump(shipped) {
			t.Errorf("GET = %s, want %s", dump(got), dump(shipped))
		}
		main.do(t, "GET", "/v1/eventTypes/order.lost", "").fails(t, 404, "NOT_FOUND", `Event type "order.lost" not found.`)

		// Publishing checks data against the schema and stores nothing
		// when it does not match.
		n := countEvents(t, main)
		var ev event
		main.do(t, "POST", "/v1/events", `{"type":"order.shipped","data":{"order_id":"o-1","weight_kg":2.5}}`).ok(t, &ev)
		main.do(t, "POST", "/v1/events", `{"type":"order.shipped","data":{"order_id":"o-2","weight_kg":0}}`).
			fails(t, 400, "INVALID_ARGUMENT", `data does not match the schema of event type "order.shipped": at /weight_kg: exclusiveMinimum: got 0, want 0 (schema rule /properties/weight_kg/exclusiveMinimum)`)
		main.do(t, "POST", "/v1/events:batchPublish", `{"events":[{"type":"order.paid"},{"type":"order.shipped","data":{"id":"o-3"}}]}`).
			fails(t, 400, "INVALID_ARGUMENT", `events[1].data does not match the schema of event type "order.shipped": at /: missing property 'order_id'`)
		if got := countEvents(t, main); got != n+1 {
			t.Fatalf("%d events stored, want %d: refused publishes store nothing", got, n+1)
		}

		// Webhooks subscribe to exact names and prefix wildcards; an
		// unknown exact name is refused, a wildcard of types to come is not.
		wild := b.createWebhookAs(t, main, `{"uri":"https://a.test/h","subscribed_events":["order.*"]}`)
		b.createWebhookAs(t, main, `{"uri":"https://b.test/h","subscribed_events":["order.shipped"]}`)
		b.createWebhookAs(t, main, `{"uri":"https://c.test/h","subscribed_events":["refund.*"]}`)
		main.do(t, "POST", "/v1/webhooks", `{"uri":"https://d.test/h","subscribed_events":["order.lost"]}`).
			fails(t, 400, "INVALID_ARGUMENT", `unknown event type "order.lost"`)
		main.do(t, "POST", "/v1/events", `{"type":"order.shipped","data":{"order_id":"o-4"}}`).ok(t, &ev)
		if ev.DeliveryCount != 2 {
			t.Errorf("order.shipped went to %d webhooks, want 2 (order.* and order.shipped)", ev.DeliveryCount)
		}
		main.do(t, "POST", "/v1/events", `{"type":"order.paid"}`).ok(t, &ev)
		if ev.DeliveryCount != 1 {
			t.Errorf("order.paid went to %d webhooks, want 1 (order.*)", ev.DeliveryCount)
		}

		// A new schema applies at once to the next publish.
		main.do(t, "PATCH", "/v1/eventTypes/order.shipped?update_mask=schema", `{"schema":{"type":"object","required":["carrier"]},"description":"kept"}`).ok(t, &got)
		if got.Description != "An order left." || got.Schema["required"] == nil {
			t.Errorf("after PATCH schema: %s", dump(got))
		}
		main.do(t, "POST", "/v1/events", `{"type":"order.shipped","data":{"order_id":"o-5"}}`).
			fails(t, 400, "INVALID_ARGUMENT", "missing property 'carrier'")
		main.do(t, "PATCH", "/v1/eventTypes/order.shipped", `{"schema":{"type":"objekt"}}`).
			fails(t, 400, "INVALID_ARGUMENT", "schema is not a valid JSON Schema")
		main.do(t, "PATCH", "/v1/eventTypes/order.shipped?updateMask=schema", `{}`).ok(t, &got)
		if got.Schema != nil {
			t.Errorf("schema after clearing it: %s", dump(got))
		}
		main.do(t, "POST", "/v1/events", `{"type":"order.shipped","data":{"anything":true}}`).ok(t, nil)

		// Deprecated types still publish and deliver, and are marked.
		main.do(t, "POST", "/v1/eventTypes/order.paid:deprecate", "").ok(t, &got)
		if !got.Deprecated {
			t.Errorf("after :deprecate: %s", dump(got))
		}
		main.do(t, "POST", "/v1/events", `{"type":"order.paid"}`).ok(t, &ev)
		if ev.DeliveryCount != 1 {
			t.Errorf("a deprecated type went to %d webhooks, want 1", ev.DeliveryCount)
		}
		all := listAllEventTypes(t, main, "/v1/eventTypes")
		names := make([]string, len(all))
		for i, et := range all {
			names[i] = et.Name
			if et.Deprecated != (et.Name == "order.paid") {
				t.Errorf("listed %s with deprecated %v", et.Name, et.Deprecated)
			}
		}
		if !slices.IsSorted(names) || len(names) != len(before)+2 || !slices.Contains(names, "order.shipped") {
			t.Errorf("listed %v, want the catalog and the two types, by name", names)
		}

		// Types are per project; the admin reaches them by the project's path.
		other.do(t, "GET", "/v1/eventTypes/order.shipped", "").fails(t, 404, "NOT_FOUND", "order.shipped")
		other.do(t, "POST", "/v1/events", `{"type":"order.shipped"}`).fails(t, 400, "INVALID_ARGUMENT", `unknown event type "order.shipped"`)
		if got := listAllEventTypes(t, other, "/v1/eventTypes"); len(got) != len(before) {
			t.Errorf("the other project lists %d types, want %d", len(got), len(before))
		}
		admin.do(t, "GET", "/v1/projects/main/eventTypes/order.paid", "").ok(t, &got)
		if !got.Deprecated {
			t.Errorf("admin GET = %s", dump(got))
		}
		if got := listAllEventTypes(t, admin, "/v1/projects/main/eventTypes"); len(got) != len(all) {
			t.Errorf("admin lists %d of main's types, want %d", len(got), len(all))
		}

		// Deleting a type keeps its events and its subscribers, and refuses
		// new events of it.
		main.do(t, "DELETE", "/v1/eventTypes/order.paid", "").ok(t, nil)
		main.do(t, "DELETE", "/v1/eventTypes/order.paid", "").fails(t, 404, "NOT_FOUND", "order.paid")
		main.do(t, "POST", "/v1/events", `{"type":"order.paid"}`).
			fails(t, 400, "INVALID_ARGUMENT", `Define the project's own types with POST /v1/eventTypes`)
		var wh webhook
		main.do(t, "GET", "/v1/webhooks/"+wild.ID, "").ok(t, &wh)
		if fmt.Sprint(wh.SubscribedEvents) != "[order.*]" {
			t.Errorf("the wildcard webhook now subscribes to %v", wh.SubscribedEvents)
		}
	})
}

// TestEventTypeValidation checks the input errors of the event types
// resource: 400 naming the field, and nothing created.
func TestEventTypeValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.call(t, "POST", "/v1/eventTypes", `{"name":"order.paid"}`).ok(t, nil)
	for _, tt := range []struct{ name, method, path, body, want string }{
		{"no name", "POST", "/v1/eventTypes", `{"description":"x"}`, "name is required."},
		{"bad name", "POST", "/v1/eventTypes", `{"name":"order-paid"}`, `may contain only letters, digits and underscores`},
		{"empty part", "POST", "/v1/eventTypes", `{"name":"order..paid"}`, `without empty ones`},
		{"reserved name", "POST", "/v1/eventTypes", `{"name":"webhook.ping"}`, `name "webhook.ping" is reserved: types under webhook., delivery. are the service's own events.`},
		{"wildcard name", "POST", "/v1/eventTypes", `{"name":"order.*"}`, `'*' is not allowed`},
		{"schema not a schema", "POST", "/v1/eventTypes", `{"name":"a.b","schema":"object"}`, "schema must be a JSON Schema: an object"},
		{"invalid schema", "POST", "/v1/eventTypes", `{"name":"a.b","schema":{"type":"objekt"}}`, "schema is not a valid JSON Schema (draft 2020-12 unless $schema names another): it breaks the draft's meta-schema at /type"},
		{"outside $ref", "POST", "/v1/eventTypes", `{"name":"a.b","schema":{"$ref":"file:///etc/passwd"}}`, "schemas may refer only to their own parts"},
		{"deprecated not a bool", "POST", "/v1/eventTypes", `{"name":"a.b","deprecated":"yes"}`, "deprecated must be true or false."},
		{"long description", "POST", "/v1/eventTypes", `{"name":"a.b","description":"` + strings.Repeat("x", 1025) + `"}`, "description must be at most 1024 bytes."},
		{"unknown field", "POST", "/v1/eventTypes", `{"name":"a.b","version":2}`, `Unknown field "version"`},
		{"unknown mask path", "PATCH", "/v1/eventTypes/order.paid?update_mask=name", `{"name":"x"}`, `update_mask: unknown field path "name"; updatable fields: description, schema, deprecated.`},
		{"bad page size", "GET", "/v1/eventTypes?page_size=x", "", "page_size must be an integer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b.call(t, tt.method, tt.path, tt.body).fails(t, 400, "INVALID_ARGUMENT", tt.want)
		})
	}
	var list eventTypeList
	b.call(t, "GET", "/v1/eventTypes?page_size=1000", "").ok(t, &list)
	if len(list.EventTypes) != len(webhookd.CatalogEventTypes)+1 {
		t.Errorf("listed %d types after refused creates, want the catalog and order.paid", len(list.EventTypes))
	}
	if r := b.call(t, "POST", "/v1/eventTypes", `{"name":"a.b","schema":true}`); r.code != http.StatusOK {
		t.Errorf("schema true: %d %s", r.code, r.body)
	}
}
