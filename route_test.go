package webhookd_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

// fakeReader is a PublishReader over maps: the webhooks of each project in
// creation order, and the events published before by idempotency key.
type fakeReader struct {
	webhooks map[string][]*webhookd.Webhook
	keyed    map[string]*webhookd.Event // by project + "/" + key
	reads    []string                   // what was read, in order
}

func (r *fakeReader) Webhook(_ context.Context, projectID, id string) (*webhookd.Webhook, error) {
	r.reads = append(r.reads, "webhook "+id)
	for _, w := range r.webhooks[projectID] {
		if w.ID == id {
			return w, nil
		}
	}
	return nil, webhookd.NotFound("Webhook")
}

func (r *fakeReader) Webhooks(_ context.Context, projectID string) ([]*webhookd.Webhook, error) {
	r.reads = append(r.reads, "webhooks "+projectID)
	return r.webhooks[projectID], nil
}

func (r *fakeReader) IdempotentEvent(_ context.Context, projectID, key string, _ time.Time) (*webhookd.Event, error) {
	r.reads = append(r.reads, "key "+key)
	return r.keyed[projectID+"/"+key], nil
}

func hook(id string, state webhookd.WebhookState, events ...string) *webhookd.Webhook {
	return &webhookd.Webhook{ID: id, ProjectID: "p", URI: "https://example.com/" + id, State: state, SubscribedEvents: events}
}

// destinationNames names each destination by its webhook id, or its URI
// when dynamic.
func destinationNames(ds []webhookd.Destination) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.URI
		if d.Kind() == webhookd.DeliveryStatic {
			out[i] = d.WebhookID()
		}
	}
	return out
}

func TestRoute(t *testing.T) {
	t.Parallel()
	const (
		on  = webhookd.WebhookEnabled
		off = webhookd.WebhookDisabled
	)
	ok, ko := webhookd.EventBatchSucceeded, webhookd.EventBatchFailed
	r := &fakeReader{webhooks: map[string][]*webhookd.Webhook{
		"p": {
			hook("w1", on, ok),
			hook("w2", off, ok),
			hook("w3", webhookd.WebhookDisabledDueToFailedDeliveries, ok),
			hook("w4", on, ko),
			hook("w5", on, ko, ok),
			hook("w6", on),
		},
		"q": {hook("x1", on, ok)},
	}}
	tests := []struct {
		name      string
		ne        webhookd.NewEvent
		want      []string
		wantCode  string
		wantReads []string
	}{
		{"subscribed and enabled, in creation order",
			webhookd.NewEvent{ProjectID: "p", Type: ok}, []string{"w1", "w5"}, "", []string{"webhooks p"}},
		{"another type",
			webhookd.NewEvent{ProjectID: "p", Type: ko}, []string{"w4", "w5"}, "", []string{"webhooks p"}},
		{"no subscriber",
			webhookd.NewEvent{ProjectID: "p", Type: webhookd.EventVideoGenerated}, nil, "", []string{"webhooks p"}},
		{"another project's webhooks never",
			webhookd.NewEvent{ProjectID: "q", Type: ok}, []string{"x1"}, "", []string{"webhooks q"}},
		{"a ping goes to its webhook whatever its state and subscriptions",
			webhookd.NewEvent{ProjectID: "p", Type: webhookd.EventWebhookPing, OnlyWebhookID: "w2"}, []string{"w2"}, "", []string{"webhook w2"}},
		{"a ping of an unknown webhook",
			webhookd.NewEvent{ProjectID: "p", Type: webhookd.EventWebhookPing, OnlyWebhookID: "x1"}, nil, webhookd.ENOTFOUND, []string{"webhook x1"}},
		{"dynamic: each URI once, in order, and no webhook",
			webhookd.NewEvent{ProjectID: "p", Type: ok, WebhookConfig: &webhookd.WebhookConfig{URIs: []string{"https://a", "https://b", "https://a"}}},
			[]string{"https://a", "https://b"}, "", nil},
		{"a config with metadata only routes to the webhooks",
			webhookd.NewEvent{ProjectID: "p", Type: ok, WebhookConfig: &webhookd.WebhookConfig{UserMetadata: []byte(`{"a":1}`)}},
			[]string{"w1", "w5"}, "", []string{"webhooks p"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &fakeReader{webhooks: r.webhooks}
			got, err := webhookd.Route(t.Context(), r, nil, tt.ne, time.Time{})
			if code := webhookd.ErrorCode(err); code != tt.wantCode {
				t.Fatalf("error = %v, want code %q", err, tt.wantCode)
			}
			if names := destinationNames(got); !slices.Equal(names, tt.want) {
				t.Errorf("Route = %v, want %v", names, tt.want)
			}
			for _, d := range got {
				if d.Webhook != nil && d.URI != d.Webhook.URI {
					t.Errorf("destination %s has URI %s, want its webhook's %s", d.WebhookID(), d.URI, d.Webhook.URI)
				}
			}
			if !slices.Equal(r.reads, tt.wantReads) {
				t.Errorf("read %v, want %v", r.reads, tt.wantReads)
			}
		})
	}
}

func TestWebhookReceives(t *testing.T) {
	t.Parallel()
	ne := webhookd.NewEvent{ProjectID: "p", Type: webhookd.EventBatchSucceeded}
	tests := []struct {
		w    *webhookd.Webhook
		want bool
	}{
		{hook("w", webhookd.WebhookEnabled, webhookd.EventBatchSucceeded), true},
		{hook("w", webhookd.WebhookEnabled, webhookd.EventBatchFailed, webhookd.EventBatchSucceeded), true},
		{hook("w", webhookd.WebhookEnabled, webhookd.EventBatchFailed), false},
		{hook("w", webhookd.WebhookEnabled), false},
		{hook("w", webhookd.WebhookEnabled, "batch.*"), true},
		{hook("w", webhookd.WebhookEnabled, "interaction.*", "batch.*"), true},
		{hook("w", webhookd.WebhookEnabled, "batch.succeeded.*"), false},
		{hook("w", webhookd.WebhookEnabled, "batches.*"), false},
		{hook("w", webhookd.WebhookDisabled, "batch.*"), false},
		{hook("w", webhookd.WebhookDisabled, webhookd.EventBatchSucceeded), false},
		{hook("w", webhookd.WebhookDisabledDueToFailedDeliveries, webhookd.EventBatchSucceeded), false},
	}
	for _, tt := range tests {
		if got := tt.w.Receives(ne); got != tt.want {
			t.Errorf("%s webhook subscribed to %v: Receives = %v, want %v", tt.w.State, tt.w.SubscribedEvents, got, tt.want)
		}
	}
}

// prefixFilters compiles a filter "data:X" into one that passes events
// whose data is X exactly, counting compilations and decodings; any other
// filter does not compile.
type prefixFilters struct{ compiled, decoded int }

func (c *prefixFilters) Compile(expr string) (webhookd.Filter, error) {
	want, ok := strings.CutPrefix(expr, "data:")
	if !ok {
		return nil, webhookd.Errorf(webhookd.EINVALID, "bad filter")
	}
	c.compiled++
	return dataFilter{c, want}, nil
}

type dataFilter struct {
	c    *prefixFilters
	want string
}

func (f dataFilter) Match(in *webhookd.FilterInput) (bool, error) {
	if in.Cache == nil {
		f.c.decoded++
		in.Cache = string(in.Data)
	}
	if in.Cache.(string) == "error" {
		return true, errors.New("evaluation failed")
	}
	return in.Cache.(string) == f.want, nil
}

func TestSubscribersFilter(t *testing.T) {
	t.Parallel()
	typ := webhookd.EventBatchSucceeded
	filtered := func(id, filter string) *webhookd.Webhook {
		w := hook(id, webhookd.WebhookEnabled, typ)
		w.Filter = filter
		return w
	}
	candidates := []*webhookd.Webhook{
		hook("plain", webhookd.WebhookEnabled, typ),
		filtered("eur", `data:{"c":"EUR"}`),
		filtered("usd", `data:{"c":"USD"}`),
		filtered("eur2", `data:{"c":"EUR"}`),
		filtered("broken", `not a filter`),
	}
	disabled := filtered("disabled", `data:{"c":"EUR"}`)
	disabled.State = webhookd.WebhookDisabled
	candidates = append(candidates, disabled)
	for _, tt := range []struct {
		data string
		fc   bool
		want []string
	}{
		{`{"c":"EUR"}`, true, []string{"plain", "eur", "eur2"}},
		{`{"c":"USD"}`, true, []string{"plain", "usd"}},
		{`{"c":"GBP"}`, true, []string{"plain"}},
		{`error`, true, []string{"plain"}},        // an evaluation error passes nothing
		{`{"c":"EUR"}`, false, []string{"plain"}}, // nor does a filter nothing can compile
	} {
		fc := &prefixFilters{}
		var c webhookd.FilterCompiler
		if tt.fc {
			c = fc
		}
		got := destinationNames(webhookd.Subscribers(candidates, c, webhookd.NewEvent{ProjectID: "p", Type: typ, Data: []byte(tt.data)}, time.Now()))
		if !slices.Equal(got, tt.want) {
			t.Errorf("data %s: Subscribers = %v, want %v", tt.data, got, tt.want)
		}
		if tt.fc && fc.decoded != 1 {
			t.Errorf("data %s: decoded %d times, want once for all the filters", tt.data, fc.decoded)
		}
	}
	// The ping ignores the filter, as it ignores subscriptions.
	r := &fakeReader{webhooks: map[string][]*webhookd.Webhook{"p": candidates}}
	got, err := webhookd.Route(t.Context(), r, &prefixFilters{}, webhookd.NewEvent{ProjectID: "p", Type: webhookd.EventWebhookPing, OnlyWebhookID: "usd"}, time.Now())
	if err != nil || !slices.Equal(destinationNames(got), []string{"usd"}) {
		t.Errorf("ping of a filtered webhook = %v, %v; want it delivered", destinationNames(got), err)
	}
}

func TestEventNewDelivery(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ev := &webhookd.Event{ID: "msg_1", ProjectID: "p", CreateTime: now}
	w := hook("w1", webhookd.WebhookEnabled)
	for _, dest := range []webhookd.Destination{{Webhook: w, URI: w.URI}, {URI: "https://dyn"}} {
		d := ev.NewDelivery(dest)
		want := webhookd.Delivery{ID: d.ID, EventID: "msg_1", ProjectID: "p", Kind: dest.Kind(), WebhookID: dest.WebhookID(), URI: dest.URI,
			State: webhookd.DeliveryPending, NextAttemptTime: now, CreateTime: now, UpdateTime: now}
		if d != want {
			t.Errorf("NewDelivery(%v) = %+v, want %+v", dest, d, want)
		}
		if len(d.ID) < 10 || d.ID[:4] != webhookd.PrefixDelivery {
			t.Errorf("delivery id %q lacks the prefix %q", d.ID, webhookd.PrefixDelivery)
		}
	}
}

func TestWebhookSetDefaults(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	w := &webhookd.Webhook{ProjectID: "p", URI: "https://a", Secrets: []webhookd.SigningSecret{{Sealed: []byte("s")}, {ID: "sec_kept", CreateTime: now.Add(-time.Hour)}}}
	w.SetDefaults(now)
	if w.ID == "" || w.State != webhookd.WebhookEnabled || w.SubscribedEvents == nil || !w.CreateTime.Equal(now) || !w.UpdateTime.Equal(now) {
		t.Errorf("SetDefaults = %+v, want an id, enabled, an empty subscription list, created and updated now", w)
	}
	for _, s := range w.Secrets {
		if s.WebhookID != w.ID || s.ID == "" {
			t.Errorf("secret %+v does not belong to %s", s, w.ID)
		}
	}
	if !w.Secrets[0].CreateTime.Equal(now) || w.Secrets[1].ID != "sec_kept" || !w.Secrets[1].CreateTime.Equal(now.Add(-time.Hour)) {
		t.Errorf("secrets = %+v, want the first created with the webhook and the second kept", w.Secrets)
	}
	set := &webhookd.Webhook{ID: "wh_1", State: webhookd.WebhookDisabled, CreateTime: now.Add(-time.Hour), SubscribedEvents: []string{"a"}}
	set.SetDefaults(now)
	if set.ID != "wh_1" || set.State != webhookd.WebhookDisabled || !set.CreateTime.Equal(now.Add(-time.Hour)) || !set.UpdateTime.Equal(set.CreateTime) {
		t.Errorf("SetDefaults changed what was set: %+v", set)
	}
}
