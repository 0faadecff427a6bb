package webhookd_test

import (
	"encoding/json"
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
			planned, failed, err := webhookd.NewPlanner(r, now).Plan(t.Context(), tt.events)
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
	planned, _, err := webhookd.NewPlanner(r, time.Now()).Plan(t.Context(), []webhookd.NewEvent{
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
