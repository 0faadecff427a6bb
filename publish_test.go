package webhookd_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

func TestPlannerPlan(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ok := webhookd.EventBatchSucceeded
	earlier := &webhookd.Event{ID: "msg_earlier", ProjectID: "p", Type: ok, IdempotencyKey: "used",
		Payload: []byte(`{"type":"batch.succeeded","version":"v1","timestamp":"2026-03-01T11:00:00Z","data":{}}`)}
	newReader := func() *fakeReader {
		return &fakeReader{
			webhooks: map[string][]*webhookd.Webhook{"p": {hook("w1", webhookd.WebhookEnabled, ok)}, "q": {hook("x1", webhookd.WebhookEnabled, ok)}},
			keyed:    map[string]*webhookd.Event{"p/used": earlier},
		}
	}
	ev := func(project, key string) webhookd.NewEvent {
		return webhookd.NewEvent{ProjectID: project, Type: ok, IdempotencyKey: key, Source: "api"}
	}

	type want struct {
		created bool
		sameAs  int    // the index of the planned event it answers with; -1: none
		id      string // the ID it must have, if set
		dests   []string
	}
	tests := []struct {
		name       string
		events     []webhookd.NewEvent
		want       []want
		wantFailed int
		wantCode   string
		wantReads  []string
	}{
		{"new events, the project's webhooks read once",
			[]webhookd.NewEvent{ev("p", ""), ev("p", ""), ev("q", "")},
			[]want{{true, -1, "", []string{"w1"}}, {true, -1, "", []string{"w1"}}, {true, -1, "", []string{"x1"}}},
			-1, "", []string{"webhooks p", "webhooks q"}},
		{"a key used before answers its event, and routes nothing",
			[]webhookd.NewEvent{ev("p", "used")},
			[]want{{false, -1, "msg_earlier", nil}},
			-1, "", []string{"key used"}},
		{"a key used by an earlier event of the request answers it",
			[]webhookd.NewEvent{ev("p", "k"), ev("p", ""), ev("p", "k"), ev("q", "k")},
			[]want{{true, -1, "", []string{"w1"}}, {true, -1, "", []string{"w1"}}, {false, 0, "", nil}, {true, -1, "", []string{"x1"}}},
			-1, "", []string{"key k", "webhooks p", "key k", "webhooks q"}}, // keys are per project
		{"an invalid event fails the request and names its index",
			[]webhookd.NewEvent{ev("p", ""), {ProjectID: "p", Source: "api"}},
			nil, 1, webhookd.EINVALID, []string{"webhooks p"}},
		{"no project",
			[]webhookd.NewEvent{{Type: ok}},
			nil, 0, webhookd.EINVALID, nil},
		{"data that is not JSON",
			[]webhookd.NewEvent{{ProjectID: "p", Type: ok, Data: json.RawMessage(`{`)}},
			nil, 0, webhookd.EINVALID, nil},
		{"a ping of an unknown webhook",
			[]webhookd.NewEvent{{ProjectID: "p", Type: webhookd.EventWebhookPing, OnlyWebhookID: "nope"}},
			nil, 0, webhookd.ENOTFOUND, []string{"webhook nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReader()
			planned, failed, err := webhookd.NewPlanner(r, nil, now).Plan(t.Context(), tt.events)
			if code := webhookd.ErrorCode(err); code != tt.wantCode || failed != tt.wantFailed {
				t.Fatalf("Plan: failed %d, error %v; want %d and code %q", failed, err, tt.wantFailed, tt.wantCode)
			}
			if !slices.Equal(r.reads, tt.wantReads) {
				t.Errorf("read %v, want %v", r.reads, tt.wantReads)
			}
			if err != nil {
				return
			}
			if len(planned) != len(tt.want) {
				t.Fatalf("planned %d events, want %d", len(planned), len(tt.want))
			}
			for i, w := range tt.want {
				p := planned[i]
				if p.Created != w.created {
					t.Errorf("events[%d]: Created = %v, want %v", i, p.Created, w.created)
				}
				if w.sameAs >= 0 && p.Event != planned[w.sameAs].Event {
					t.Errorf("events[%d] = %s, want events[%d]'s %s", i, p.Event.ID, w.sameAs, planned[w.sameAs].Event.ID)
				}
				if w.id != "" && p.Event.ID != w.id {
					t.Errorf("events[%d] = %s, want %s", i, p.Event.ID, w.id)
				}
				if names := destinationNames(p.Destinations); !slices.Equal(names, w.dests) {
					t.Errorf("events[%d] goes to %v, want %v", i, names, w.dests)
				}
				if p.Created && (p.Event.DeliveryCount != len(w.dests) || !p.Event.CreateTime.Equal(now) || p.Event.ProjectID != tt.events[i].ProjectID) {
					t.Errorf("events[%d] = %+v, want %d deliveries, created at %v", i, p.Event, len(w.dests), now)
				}
			}
		})
	}
}

func TestPlannerConfig(t *testing.T) {
	t.Parallel()
	r := &fakeReader{}
	wc := &webhookd.WebhookConfig{URIs: []string{"https://a"}, UserMetadata: json.RawMessage(`{"job":"nightly"}`)}
	planned, _, err := webhookd.NewPlanner(r, nil, time.Now()).Plan(t.Context(), []webhookd.NewEvent{
		{ProjectID: "p", Type: webhookd.EventVideoGenerated, WebhookConfig: wc},
		{ProjectID: "p", Type: webhookd.EventVideoGenerated},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(planned[0].Config), `{"uris":["https://a"],"user_metadata":{"job":"nightly"}}`; got != want {
		t.Errorf("Config = %s, want %s", got, want)
	}
	if planned[1].Config != nil {
		t.Errorf("Config without a webhook_config = %s, want nil", planned[1].Config)
	}
}

func TestNewEventSameRequest(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	wc := func(meta string, uris ...string) *webhookd.WebhookConfig {
		return &webhookd.WebhookConfig{URIs: uris, UserMetadata: json.RawMessage(meta)}
	}
	base := webhookd.NewEvent{ProjectID: "p", Type: webhookd.EventBatchSucceeded, IdempotencyKey: "k", Source: "api",
		Data: json.RawMessage(`{"id":"b1","amount":12.50,"tags":["a","b"],"ok":true,"none":null}`), WebhookConfig: wc(`{"job":"n"}`, "https://a")}
	first, err := base.Event(now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*webhookd.NewEvent)
		want bool
	}{
		{"identical", func(*webhookd.NewEvent) {}, true},
		{"white space and member order", func(ne *webhookd.NewEvent) {
			ne.Data = json.RawMessage(` {"tags": ["a", "b"], "none": null, "ok": true, "amount": 12.50, "id": "b1"}`)
		}, true},
		{"numbers and strings spelled otherwise", func(ne *webhookd.NewEvent) {
			ne.Data = json.RawMessage(`{"id":"\u0062\u0031","amount":1.25E1,"tags":["a","b"],"ok":true,"none":null}`)
		}, true},
		{"another source and time", func(ne *webhookd.NewEvent) { ne.Source = "operation:batches/b1" }, true},
		{"another type", func(ne *webhookd.NewEvent) { ne.Type = webhookd.EventBatchFailed }, false},
		{"another value", func(ne *webhookd.NewEvent) {
			ne.Data = json.RawMessage(`{"id":"b1","amount":12.51,"tags":["a","b"],"ok":true,"none":null}`)
		}, false},
		{"an array reordered", func(ne *webhookd.NewEvent) {
			ne.Data = json.RawMessage(`{"id":"b1","amount":12.50,"tags":["b","a"],"ok":true,"none":null}`)
		}, false},
		{"a member more", func(ne *webhookd.NewEvent) {
			ne.Data = json.RawMessage(`{"id":"b1","amount":12.50,"tags":["a","b"],"ok":true,"none":null,"x":1}`)
		}, false},
		{"null for false", func(ne *webhookd.NewEvent) {
			ne.Data = json.RawMessage(`{"id":"b1","amount":12.50,"tags":["a","b"],"ok":null,"none":null}`)
		}, false},
		{"a string for a number", func(ne *webhookd.NewEvent) {
			ne.Data = json.RawMessage(`{"id":"b1","amount":"12.50","tags":["a","b"],"ok":true,"none":null}`)
		}, false},
		{"no data", func(ne *webhookd.NewEvent) { ne.Data = nil }, false},
		{"no webhook_config", func(ne *webhookd.NewEvent) { ne.WebhookConfig = nil }, false},
		{"other uris", func(ne *webhookd.NewEvent) { ne.WebhookConfig = wc(`{"job":"n"}`, "https://b") }, false},
		{"metadata spelled otherwise", func(ne *webhookd.NewEvent) { ne.WebhookConfig = wc(` { "job" : "n" } `, "https://a") }, true},
		{"other metadata", func(ne *webhookd.NewEvent) { ne.WebhookConfig = wc(`{"job":"m"}`, "https://a") }, false},
	}
	for _, tt := range tests {
		ne := base
		wcCopy := *base.WebhookConfig
		ne.WebhookConfig = &wcCopy
		tt.edit(&ne)
		if got := ne.SameRequest(first); got != tt.want {
			t.Errorf("%s: SameRequest = %v, want %v", tt.name, got, tt.want)
		}
	}

	// No data is the empty object, as it is stored.
	empty := webhookd.NewEvent{ProjectID: "p", Type: webhookd.EventBatchSucceeded}
	ev, err := empty.Event(now)
	if err != nil {
		t.Fatal(err)
	}
	empty.Data = json.RawMessage(`{ }`)
	if !empty.SameRequest(ev) {
		t.Error("data {} is not the same request as no data")
	}
}

func TestSameJSONNumbers(t *testing.T) {
	t.Parallel()
	same := [][2]string{
		{"1", "1.0"}, {"1", "10e-1"}, {"100", "1e2"}, {"100", "1E+2"}, {"0", "-0.0"}, {"0", "0e99"},
		{"-1.50", "-15e-1"}, {"0.001", "1e-3"}, {"12345678901234567890", "1234567890123456789e1"},
		{"1e99999999999999999999", "1e99999999999999999999"},
	}
	for _, p := range same {
		if !webhookd.SameJSON([]byte(p[0]), []byte(p[1])) {
			t.Errorf("%s and %s: not the same number", p[0], p[1])
		}
	}
	different := [][2]string{
		{"1", "2"}, {"1", "-1"}, {"0.1", "1"}, {"12345678901234567890", "12345678901234567891"},
		{"1e99999999999999999999", "1e99999999999999999998"}, {"1", `"1"`}, {"[1]", "1"}, {"{", "{"},
	}
	for _, p := range different {
		if webhookd.SameJSON([]byte(p[0]), []byte(p[1])) {
			t.Errorf("%s and %s: the same, want different", p[0], p[1])
		}
	}
}

// FuzzSameJSON: any JSON value is the same as itself, and as itself
// decoded and encoded again (escapes and white space spelled otherwise,
// members sorted); any other JSON value that decodes differently is not.
func FuzzSameJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.50,{"b":null}],"c":"\u00e9"}`, `1e5`, `-0`, `[]`, `"x"`, `true`} {
		f.Add([]byte(s), []byte(`{"a":1}`))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		d := json.NewDecoder(bytes.NewReader(a))
		d.UseNumber()
		var v any
		if d.Decode(&v) != nil || d.More() {
			return
		}
		if !webhookd.SameJSON(a, a) {
			t.Fatalf("%s is not the same as itself", a)
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !webhookd.SameJSON(again, a) {
			t.Fatalf("%s and its re-encoding %s differ", a, again)
		}
		var fa, fb any
		if json.Unmarshal(a, &fa) == nil && json.Unmarshal(b, &fb) == nil && !reflect.DeepEqual(fa, fb) && webhookd.SameJSON(a, b) {
			t.Fatalf("%s and %s decode differently, yet are the same", a, b)
		}
	})
}
