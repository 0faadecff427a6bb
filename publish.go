package webhookd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Publishing is planned here and written by the stores: a Planner checks
// each NewEvent, answers an idempotency key used before with its first
// event, and routes the new ones; the store then writes the planned events
// and one delivery per destination in its transaction (the outbox).

// PublishReader is what planning a publish reads. A store implements it
// over its publishing transaction.
type PublishReader interface {
	WebhookReader
	// IdempotentEvent returns the project's event published with key after
	// since, or nil when there is none. A store shared by several
	// processes holds the key until its transaction ends, so that a
	// concurrent publish with the key waits and then finds this one's
	// event (PostgreSQL takes an advisory lock); SQLite has one writer.
	IdempotentEvent(ctx context.Context, projectID, key string, since time.Time) (*Event, error)
}

// PlannedEvent is one event of a publish as planned.
type PlannedEvent struct {
	// Event is the new event (ID, payload and DeliveryCount set), or, when
	// Created is false, the event published before with its idempotency
	// key, and nothing is to be written; nil for an event IfRouted that
	// routing found no destination for.
	Event   *Event
	Created bool
	// Config is Event.WebhookConfig as JSON, the way stores keep it; nil
	// without one.
	Config []byte
	// Destinations are where the new event goes, one delivery each, in
	// order.
	Destinations []Destination
}

// NewDeliveries returns how many deliveries the new events of planned
// create.
func NewDeliveries(planned []PlannedEvent) int {
	n := 0
	for _, p := range planned {
		if p.Created {
			n += len(p.Destinations)
		}
	}
	return n
}

// Planner plans the publishes of one store transaction at one time. It
// remembers the webhooks it read for routing, by project: a transaction
// that publishes writes no webhook, so a batch of events costs one read of
// them per project, not one per event. A Planner is not safe for concurrent
// use.
type Planner struct {
	r        PublishReader
	fc       FilterCompiler
	now      time.Time
	webhooks map[string][]*Webhook
}

// NewPlanner returns a Planner that reads through r, routes with the
// webhooks' filters as fc compiles them, and gives new events now as their
// CreateTime.
func NewPlanner(r PublishReader, fc FilterCompiler, now time.Time) *Planner {
	return &Planner{r: r, fc: fc, now: now}
}

// Plan plans the events of one request, PublishEvent's one or
// PublishEvents' list, and writes nothing. Idempotency keys work as if the
// events were published one after another: a key used within
// IdempotencyWindow, before or by an earlier event of the request, answers
// that first event with Created false, provided the event asks for the same
// thing (SameRequest); otherwise it is an ECONFLICT error. When an event
// fails, failed is its index and err its own error; failed is -1 otherwise.
func (p *Planner) Plan(ctx context.Context, events []NewEvent) (planned []PlannedEvent, failed int, err error) {
	planned = make([]PlannedEvent, len(events))
	var keys map[idempotencyKey]*Event // the request's new events with a key
	for i, ne := range events {
		if planned[i], err = p.plan(ctx, ne, keys); err != nil {
			return nil, i, err
		}
		if ev := planned[i].Event; planned[i].Created && ev.IdempotencyKey != "" && len(events) > 1 {
			if keys == nil {
				keys = map[idempotencyKey]*Event{}
			}
			keys[idempotencyKey{ev.ProjectID, ev.IdempotencyKey}] = ev
		}
	}
	return planned, -1, nil
}

// idempotencyKey is a key as it is scoped: per project.
type idempotencyKey struct{ projectID, key string }

func (p *Planner) plan(ctx context.Context, ne NewEvent, keys map[idempotencyKey]*Event) (PlannedEvent, error) {
	ev, err := ne.Event(p.now)
	if err != nil {
		return PlannedEvent{}, err
	}
	var config []byte
	if ne.WebhookConfig != nil {
		if config, err = json.Marshal(ne.WebhookConfig); err != nil {
			return PlannedEvent{}, FieldErrorf("webhook_config", "webhook_config: %v", err)
		}
	}
	if ne.IdempotencyKey != "" {
		first := keys[idempotencyKey{ne.ProjectID, ne.IdempotencyKey}]
		if first == nil {
			first, err = p.r.IdempotentEvent(ctx, ne.ProjectID, ne.IdempotencyKey, p.now.Add(-IdempotencyWindow))
			if err != nil {
				return PlannedEvent{}, err
			}
		}
		if first != nil {
			if !ne.SameRequest(first) {
				return PlannedEvent{}, &Error{Code: ECONFLICT, Field: "idempotency_key", Message: fmt.Sprintf(
					"idempotency_key %q was already used with a different request in the last %d hours; "+
						"send the same type, data and webhook_config to get its event again, or use a new key for a new event.",
					ne.IdempotencyKey, int(IdempotencyWindow.Hours()))}
			}
			return PlannedEvent{Event: first}, nil
		}
	}
	dests, err := p.route(ctx, ne)
	if err != nil {
		return PlannedEvent{}, err
	}
	if ne.IfRouted && len(dests) == 0 {
		return PlannedEvent{}, nil // nothing to write, nothing to answer
	}
	ev.DeliveryCount = len(dests)
	return PlannedEvent{Event: ev, Created: true, Config: config, Destinations: dests}, nil
}

// route is Route, with the project's webhooks read once.
func (p *Planner) route(ctx context.Context, ne NewEvent) ([]Destination, error) {
	return Route(ctx, (*plannerReader)(p), p.fc, ne, p.now)
}

// plannerReader is a Planner's PublishReader, remembering Webhooks.
type plannerReader Planner

func (r *plannerReader) Webhook(ctx context.Context, projectID, id string) (*Webhook, error) {
	return r.r.Webhook(ctx, projectID, id)
}

func (r *plannerReader) Webhooks(ctx context.Context, projectID string) ([]*Webhook, error) {
	if ws, ok := r.webhooks[projectID]; ok {
		return ws, nil
	}
	ws, err := r.r.Webhooks(ctx, projectID)
	if err != nil {
		return nil, err
	}
	if r.webhooks == nil {
		r.webhooks = map[string][]*Webhook{}
	}
	r.webhooks[projectID] = ws
	return ws, nil
}

// SameRequest reports whether ne asks for the event first, published
// before with ne's idempotency key: the same type, data and webhook_config.
// They are compared as JSON values, so white space, escapes, the order of
// an object's members and the way a number is written (1.0 is 1) do not
// matter, while the order of an array's elements does. The rest is not part
// of the request: the time, the source, the id.
func (e NewEvent) SameRequest(first *Event) bool {
	if e.Type != first.Type {
		return false
	}
	var env struct{ Data json.RawMessage }
	if err := json.Unmarshal(first.Payload, &env); err != nil {
		return false
	}
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage(`{}`) // as RenderEnvelope writes it
	}
	if !sameJSON(data, env.Data) {
		return false
	}
	a, errA := json.Marshal(e.WebhookConfig)
	b, errB := json.Marshal(first.WebhookConfig)
	return errA == nil && errB == nil && sameJSON(a, b)
}

// sameJSON reports whether a and b are the same JSON value (see
// NewEvent.SameRequest); invalid JSON is never the same.
func sameJSON(a, b []byte) bool {
	va, okA := decodeJSON(a)
	vb, okB := decodeJSON(b)
	return okA && okB && equalJSON(va, vb)
}

func decodeJSON(b []byte) (any, bool) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil || d.More() {
		return nil, false
	}
	return v, true
}

// equalJSON compares two values decoded with UseNumber.
func equalJSON(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			if vb, ok := b[k]; !ok || !equalJSON(va, vb) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equalJSON(a[i], b[i]) {
				return false
			}
		}
		return true
	case json.Number:
		b, ok := b.(json.Number)
		return ok && decimal(string(a)) == decimal(string(b))
	default: // string, bool, nil
		return a == b
	}
}

// decimal returns a JSON number's exact value in one spelling: its sign,
// its significant digits and a power of ten ("-15e-1" for -1.50), so that
// two numbers of one value compare equal however they are written, without
// the arithmetic a huge exponent would cost. A number whose exponent does
// not fit an int stays as written.
func decimal(n string) string {
	sign := ""
	if rest, ok := strings.CutPrefix(n, "-"); ok {
		sign, n = "-", rest
	}
	mantissa, exponent, _ := strings.Cut(strings.ToLower(n), "e")
	exp := 0
	if exponent != "" {
		v, err := strconv.Atoi(exponent)
		if err != nil {
			return sign + n
		}
		exp = v
	}
	whole, frac, _ := strings.Cut(mantissa, ".")
	digits := strings.TrimLeft(whole+frac, "0")
	if digits == "" {
		return "0" // and -0 is 0
	}
	trimmed := strings.TrimRight(digits, "0")
	return sign + trimmed + "e" + strconv.Itoa(exp-len(frac)+len(digits)-len(trimmed))
}
