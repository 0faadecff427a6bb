package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/fakeclock"
)

// The conformance suite of webhookd.EventTypeStore: the event types a
// project defines over the API.

// EventTypeHarness is one fresh event type store under test.
type EventTypeHarness struct {
	Store webhookd.EventTypeStore
	// Clock is the store's clock, at T0: stores stamp times left empty.
	Clock *fakeclock.Clock
	// NewProject creates a project and returns its id (stores with foreign
	// keys need the row; others may return any new id).
	NewProject func(t *testing.T) string
}

// RunEventTypes runs the conformance suite of webhookd.EventTypeStore;
// setup returns a fresh harness for each subtest. Run runs it on every
// Store (the group "EventType"); the in-memory lrotest.MemStore runs it
// alone.
func RunEventTypes(t *testing.T, setup func(t *testing.T) EventTypeHarness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h EventTypeHarness)
	}{
		{"CreateAndGet", testEventTypeCreateAndGet},
		{"CreateTwiceConflicts", testEventTypeConflict},
		{"ProjectScope", testEventTypeScope},
		{"ListByName", testEventTypeList},
		{"Update", testEventTypeUpdate},
		{"Delete", testEventTypeDelete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, setup(t))
		})
	}
}

// eventTypesGroup is RunEventTypes on the suite's stores, plus what needs
// a projects table: a type of no project is refused.
func (s suite) eventTypes(t *testing.T) {
	RunEventTypes(t, func(t *testing.T) EventTypeHarness {
		clock := fakeclock.New(T0)
		st := s.newStore(t, clock)
		return EventTypeHarness{Store: st, Clock: clock, NewProject: func(t *testing.T) string {
			b := &bundle{ctx: t.Context(), store: st, clock: clock}
			return b.newProject(t, "p-"+webhookd.NewID("x")).ID
		}}
	})
	s.test(t, "EventTypeOfNoProject", func(t *testing.T, b *bundle) {
		err := b.store.CreateEventType(b.ctx, &webhookd.EventType{ProjectID: webhookd.NewID(webhookd.PrefixProject), Name: "order.paid"})
		requireCode(t, err, webhookd.ENOTFOUND)
	})
}

const orderSchema = `{"type": "object",  "required": ["id"]}` // kept as written, spaces and all

func newEventType(projectID, name string) *webhookd.EventType {
	return &webhookd.EventType{ProjectID: projectID, Name: name, Description: "An order " + name, Schema: json.RawMessage(orderSchema)}
}

func testEventTypeCreateAndGet(t *testing.T, h EventTypeHarness) {
	ctx, p := t.Context(), h.NewProject(t)
	et := newEventType(p, "order.shipped")
	must(t, h.Store.CreateEventType(ctx, et))
	want := &webhookd.EventType{ProjectID: p, Name: "order.shipped", Description: "An order order.shipped",
		Schema: json.RawMessage(orderSchema), CreateTime: T0, UpdateTime: T0}
	if d := diff(want, et); d != "" {
		t.Errorf("created (-want +got):\n%s", d)
	}
	got, err := h.Store.GetEventType(ctx, p, "order.shipped")
	must(t, err)
	if d := diff(want, got); d != "" {
		t.Errorf("GetEventType (-want +got):\n%s", d)
	}
	if string(got.Schema) != orderSchema {
		t.Errorf("schema = %s, want exactly %s", got.Schema, orderSchema)
	}

	free := &webhookd.EventType{ProjectID: p, Name: "order.noted", Deprecated: true, CreateTime: T0.Add(-time.Hour)}
	must(t, h.Store.CreateEventType(ctx, free))
	got, err = h.Store.GetEventType(ctx, p, "order.noted")
	must(t, err)
	if got.Schema != nil || !got.Deprecated || !got.CreateTime.Equal(T0.Add(-time.Hour)) || !got.UpdateTime.Equal(got.CreateTime) {
		t.Errorf("GetEventType = %+v, want no schema, deprecated, the given create time as update time", got)
	}
	_, err = h.Store.GetEventType(ctx, p, "order.lost")
	requireCode(t, err, webhookd.ENOTFOUND)
}

func testEventTypeConflict(t *testing.T, h EventTypeHarness) {
	ctx, p := t.Context(), h.NewProject(t)
	must(t, h.Store.CreateEventType(ctx, newEventType(p, "order.paid")))
	again := newEventType(p, "order.paid")
	again.Description = "another"
	requireCode(t, h.Store.CreateEventType(ctx, again), webhookd.ECONFLICT)
	got, err := h.Store.GetEventType(ctx, p, "order.paid")
	must(t, err)
	if got.Description != "An order order.paid" {
		t.Errorf("description = %q after a refused create, want the first", got.Description)
	}
}

func testEventTypeScope(t *testing.T, h EventTypeHarness) {
	ctx, p, q := t.Context(), h.NewProject(t), h.NewProject(t)
	must(t, h.Store.CreateEventType(ctx, newEventType(p, "order.paid")))
	_, err := h.Store.GetEventType(ctx, q, "order.paid")
	requireCode(t, err, webhookd.ENOTFOUND)
	requireCode(t, h.Store.UpdateEventType(ctx, newEventType(q, "order.paid")), webhookd.ENOTFOUND)
	requireCode(t, h.Store.DeleteEventType(ctx, q, "order.paid"), webhookd.ENOTFOUND)
	list, err := h.Store.ListEventTypes(ctx, q, webhookd.Page{Size: 10})
	must(t, err)
	if len(list) != 0 {
		t.Errorf("another project lists %d types, want 0", len(list))
	}
	// The same name in another project is another type.
	must(t, h.Store.CreateEventType(ctx, &webhookd.EventType{ProjectID: q, Name: "order.paid"}))
	got, err := h.Store.GetEventType(ctx, p, "order.paid")
	must(t, err)
	if got.Description != "An order order.paid" {
		t.Errorf("p's type changed: %+v", got)
	}
}

func testEventTypeList(t *testing.T, h EventTypeHarness) {
	ctx, p := t.Context(), h.NewProject(t)
	// Bytewise: upper case and "_" sort before lower case, "b" before "b.x".
	for _, name := range []string{"c", "b.x", "a", "Zed", "b", "a_b"} {
		must(t, h.Store.CreateEventType(ctx, newEventType(p, name)))
	}
	var got []string
	page := webhookd.Page{Size: 4}
	for range 3 {
		items, err := h.Store.ListEventTypes(ctx, p, page)
		must(t, err)
		for _, et := range items {
			got = append(got, et.Name)
		}
		if len(items) < page.Size {
			break
		}
		page.After = webhookd.Cursor{ID: items[len(items)-1].Name}
	}
	want := []string{"Zed", "a", "a_b", "b", "b.x", "c"}
	if d := diff(want, got); d != "" {
		t.Errorf("names by page (-want +got):\n%s", d)
	}
	all, err := h.Store.ListEventTypes(ctx, p, webhookd.Page{})
	must(t, err)
	if len(all) != len(want) {
		t.Errorf("a page of no size lists %d types, want all %d", len(all), len(want))
	}
}

func testEventTypeUpdate(t *testing.T, h EventTypeHarness) {
	ctx, p := t.Context(), h.NewProject(t)
	et := newEventType(p, "order.paid")
	must(t, h.Store.CreateEventType(ctx, et))
	h.Clock.Advance(time.Minute)
	up := &webhookd.EventType{ProjectID: p, Name: "order.paid", Description: "paid", Deprecated: true,
		CreateTime: T0.Add(time.Hour), UpdateTime: T0.Add(time.Minute)}
	must(t, h.Store.UpdateEventType(ctx, up))
	got, err := h.Store.GetEventType(ctx, p, "order.paid")
	must(t, err)
	want := &webhookd.EventType{ProjectID: p, Name: "order.paid", Description: "paid", Deprecated: true,
		CreateTime: T0, UpdateTime: T0.Add(time.Minute)}
	if d := diff(want, got); d != "" {
		t.Errorf("after update (-want +got):\n%s", d)
	}
	up.Schema, up.Deprecated = json.RawMessage(`{"type":"object"}`), false
	up.UpdateTime = time.Time{} // the store's now
	h.Clock.Advance(time.Minute)
	must(t, h.Store.UpdateEventType(ctx, up))
	got, err = h.Store.GetEventType(ctx, p, "order.paid")
	must(t, err)
	if string(got.Schema) != `{"type":"object"}` || got.Deprecated || !got.UpdateTime.Equal(T0.Add(2*time.Minute)) {
		t.Errorf("after a second update: %+v, want the new schema, not deprecated, updated at the store's now", got)
	}
	requireCode(t, h.Store.UpdateEventType(ctx, newEventType(p, "order.lost")), webhookd.ENOTFOUND)
}

func testEventTypeDelete(t *testing.T, h EventTypeHarness) {
	ctx, p := t.Context(), h.NewProject(t)
	must(t, h.Store.CreateEventType(ctx, newEventType(p, "order.paid")))
	must(t, h.Store.CreateEventType(ctx, newEventType(p, "order.shipped")))
	must(t, h.Store.DeleteEventType(ctx, p, "order.paid"))
	_, err := h.Store.GetEventType(ctx, p, "order.paid")
	requireCode(t, err, webhookd.ENOTFOUND)
	requireCode(t, h.Store.DeleteEventType(ctx, p, "order.paid"), webhookd.ENOTFOUND)
	list, err := h.Store.ListEventTypes(ctx, p, webhookd.Page{Size: 10})
	must(t, err)
	if len(list) != 1 || list[0].Name != "order.shipped" {
		t.Errorf("after delete, list = %d types, want order.shipped only", len(list))
	}
	// A deleted name may be defined again.
	must(t, h.Store.CreateEventType(ctx, newEventType(p, "order.paid")))
}
