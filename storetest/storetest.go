// Package storetest is the conformance suite of webhookd.Store. Every storage
// adapter (sqlite, postgres) runs the same tests, so that the service behaves
// the same whichever database it runs on, and so that the behaviour the rest
// of the service relies on (project scoping, leases, idempotency, routing,
// auto-disable) is written down once, as tests. Its operations part
// (RunOperations, the group "Operation") also runs alone on the in-memory
// operation store, lrotest.MemStore.
//
// An adapter's test passes a constructor of fresh, empty, migrated stores:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, clock webhookd.Clock) webhookd.Store {
//			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"), sqlite.Options{Clock: clock})
//			…
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Every subtest runs in parallel on its own store with its own fake clock, so
// the suite never sleeps: leases, retries, rotation grace and idempotency
// windows are exercised by advancing the clock.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/fakeclock"
)

// NewStoreFunc returns a fresh, empty, migrated store that takes every "now"
// it needs from clock, and registers the store's cleanup with t.Cleanup.
type NewStoreFunc func(t *testing.T, clock webhookd.Clock) webhookd.Store

// Run runs the whole suite against the stores newStore returns.
func Run(t *testing.T, newStore NewStoreFunc) {
	t.Helper()
	s := suite{newStore: newStore}
	groups := []struct {
		name string
		run  func(*testing.T)
	}{
		{"Project", s.projects},
		{"APIKey", s.apiKeys},
		{"Webhook", s.webhooks},
		{"Event", s.events},
		{"EventBatch", s.eventBatches},
		{"Claim", s.claims},
		{"Record", s.records},
		{"Recovery", s.recovery},
		{"QueueStats", s.queueStats},
		{"HandOff", s.handOffs},
		{"Wake", s.wakes},
		{"SigningKey", s.signingKeys},
		{"Prune", s.prunes},
		{"DeliveryLog", s.deliveryLog},
		{"Operation", s.operations},
		{"OperationalEvent", s.opEvents},
		{"EventType", s.eventTypes},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.run(t)
		})
	}
}

type suite struct {
	newStore NewStoreFunc
}

// epoch is where every test's clock starts. It has no sub-microsecond part:
// stores keep microseconds, so times round-trip exactly.
var epoch = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// bundle is what one test works with: its own store and clock, and a project
// created for it.
type bundle struct {
	ctx     context.Context
	store   webhookd.Store
	clock   *fakeclock.Clock
	project *webhookd.Project
}

// test runs f as a parallel subtest with a fresh bundle.
func (s suite) test(t *testing.T, name string, f func(t *testing.T, b *bundle)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		f(t, s.setup(t))
	})
}

func (s suite) setup(t *testing.T) *bundle {
	t.Helper()
	clock := fakeclock.New(epoch)
	b := &bundle{ctx: t.Context(), clock: clock, store: s.newStore(t, clock)}
	b.project = b.newProject(t, "main")
	return b
}

// cmpOpts compares domain values: times by Equal (via time.Time's Equal
// method), nil and empty slices alike.
var cmpOpts = []cmp.Option{cmpopts.EquateEmpty()}

func diff(want, got any) string { return cmp.Diff(want, got, cmpOpts...) }

// requireCode fails t unless err carries the domain error code want.
func requireCode(t *testing.T, err error, want string) {
	t.Helper()
	if got := webhookd.ErrorCode(err); got != want {
		t.Fatalf("error code = %q (err: %v), want %q", got, err, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func timePtr(t time.Time) *time.Time { return &t }

// timeIs reports whether p is set and equal to t.
func timeIs(p *time.Time, t time.Time) bool { return p != nil && p.Equal(t) }

func (b *bundle) newProject(t *testing.T, name string) *webhookd.Project {
	t.Helper()
	p := &webhookd.Project{
		ID:         webhookd.NewID(webhookd.PrefixProject),
		Name:       name,
		Audience:   "aud-" + name,
		CreateTime: b.clock.Now(),
	}
	must(t, b.store.CreateProject(b.ctx, p))
	return p
}

// newKey creates an API key of project and returns it with its secret.
func (b *bundle) newKey(t *testing.T, projectID string) (*webhookd.APIKey, string) {
	t.Helper()
	secret := fmt.Sprintf("wk_%x", randomBytes(16))
	hash := sha256.Sum256([]byte(secret))
	k := &webhookd.APIKey{
		ID:         webhookd.NewID(webhookd.PrefixAPIKey),
		ProjectID:  projectID,
		Name:       "key " + secret[:8],
		Hash:       hash[:],
		Prefix:     secret[:8],
		CreateTime: b.clock.Now(),
	}
	must(t, b.store.CreateAPIKey(b.ctx, k))
	return k, secret
}

func (b *bundle) newSecret(webhookID string) webhookd.SigningSecret {
	return webhookd.SigningSecret{
		ID:         webhookd.NewID(webhookd.PrefixSecret),
		WebhookID:  webhookID,
		Sealed:     randomBytes(60),
		Truncated:  "whsec_" + webhookd.NewID("")[:4] + "...",
		CreateTime: b.clock.Now(),
	}
}

// newWebhook creates an enabled webhook of projectID subscribed to events,
// with one secret.
func (b *bundle) newWebhook(t *testing.T, projectID string, events ...string) *webhookd.Webhook {
	t.Helper()
	return b.newWebhookState(t, projectID, webhookd.WebhookEnabled, events...)
}

func (b *bundle) newWebhookState(t *testing.T, projectID string, state webhookd.WebhookState, events ...string) *webhookd.Webhook {
	t.Helper()
	id := webhookd.NewID(webhookd.PrefixWebhook)
	now := b.clock.Now()
	w := &webhookd.Webhook{
		ID:               id,
		ProjectID:        projectID,
		Name:             "hook " + id[len(id)-6:],
		URI:              "https://example.com/hooks/" + id,
		SubscribedEvents: events,
		State:            state,
		Secrets:          []webhookd.SigningSecret{b.newSecret(id)},
		CreateTime:       now,
		UpdateTime:       now,
	}
	must(t, b.store.CreateWebhook(b.ctx, w))
	return w
}

// publish publishes e, which must create a new event.
// traceParent is a W3C traceparent that events are published with.
const traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func (b *bundle) publish(t *testing.T, e webhookd.NewEvent) *webhookd.Event {
	t.Helper()
	ev, created, err := b.store.PublishEvent(b.ctx, b.event(e))
	must(t, err)
	if !created {
		t.Fatalf("PublishEvent created = false, want a new event")
	}
	return ev
}

// event fills in what e leaves out: the bundle's project, a type, data and
// a source.
func (b *bundle) event(e webhookd.NewEvent) webhookd.NewEvent {
	if e.ProjectID == "" {
		e.ProjectID = b.project.ID
	}
	if e.Type == "" {
		e.Type = webhookd.EventBatchSucceeded
	}
	if e.Data == nil {
		e.Data = []byte(`{"id":"batches/b1"}`)
	}
	if e.Source == "" {
		e.Source = "api"
	}
	return e
}

// publishTo publishes one event to webhook w alone and returns its delivery.
func (b *bundle) publishTo(t *testing.T, w *webhookd.Webhook) *webhookd.Delivery {
	t.Helper()
	ev := b.publish(t, webhookd.NewEvent{ProjectID: w.ProjectID, OnlyWebhookID: w.ID, Type: webhookd.EventWebhookPing, Source: "ping"})
	ds := b.deliveries(t, w.ProjectID, ev.ID)
	if len(ds) != 1 {
		t.Fatalf("ping created %d deliveries, want 1", len(ds))
	}
	return ds[0]
}

func (b *bundle) deliveries(t *testing.T, projectID, eventID string) []*webhookd.Delivery {
	t.Helper()
	ds, err := b.store.ListDeliveries(b.ctx, projectID, eventID)
	must(t, err)
	return ds
}

func (b *bundle) delivery(t *testing.T, d *webhookd.Delivery) *webhookd.Delivery {
	t.Helper()
	got, err := b.store.GetDelivery(b.ctx, d.ProjectID, d.ID)
	must(t, err)
	return got
}

func (b *bundle) webhook(t *testing.T, w *webhookd.Webhook) *webhookd.Webhook {
	t.Helper()
	got, err := b.store.GetWebhook(b.ctx, w.ProjectID, w.ID)
	must(t, err)
	return got
}

func (b *bundle) claim(t *testing.T, limit int, lease time.Duration) []*webhookd.Claim {
	t.Helper()
	cs, err := b.store.ClaimDeliveries(b.ctx, limit, lease)
	must(t, err)
	return cs
}

// claimOne claims everything due and requires it to be exactly d.
func (b *bundle) claimOne(t *testing.T, d *webhookd.Delivery, lease time.Duration) *webhookd.Claim {
	t.Helper()
	cs := b.claim(t, 100, lease)
	if len(cs) != 1 || cs[0].Delivery.ID != d.ID {
		t.Fatalf("claimed %v, want only %s", claimIDs(cs), d.ID)
	}
	return cs[0]
}

func (b *bundle) record(t *testing.T, rs ...webhookd.Result) {
	t.Helper()
	must(t, b.store.RecordResults(b.ctx, rs))
}

func (b *bundle) attempts(t *testing.T, d *webhookd.Delivery) []*webhookd.Attempt {
	t.Helper()
	as, err := b.store.ListAttempts(b.ctx, d.ProjectID, d.ID)
	must(t, err)
	return as
}

// attempt returns an attempt record made now, with the receiver's answer
// and, when it failed, a stage.
func (b *bundle) attempt(status int, errText string) *webhookd.Attempt {
	a := &webhookd.Attempt{
		ID:              webhookd.NewID(webhookd.PrefixAttempt),
		Time:            b.clock.Now(),
		StatusCode:      status,
		Latency:         120 * time.Millisecond,
		Error:           errText,
		ResponseBody:    fmt.Sprintf("status %d", status),
		ResponseHeaders: fmt.Sprintf("Content-Type: text/plain\nX-Status: %d", status),
	}
	switch {
	case errText != "" && status > 0:
		a.ErrorStage = "status"
	case errText != "":
		a.ErrorStage, a.ResponseHeaders, a.ResponseBody = "connect", "", ""
	}
	return a
}

func claimIDs(cs []*webhookd.Claim) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.Delivery.ID
	}
	return ids
}

func deliveryIDs(ds []*webhookd.Delivery) []string {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}

// sameSet reports the difference between two id lists as sets.
func sameSet(want, got []string) string {
	return cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b }), cmpopts.EquateEmpty())
}
