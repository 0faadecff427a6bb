package webhookd

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// Routing decides where an event goes: to which of its project's webhooks,
// or to the URIs of its webhook_config. It is the one home of these rules;
// a store only reads the candidates (WebhookReader) and writes one delivery
// per Destination.

// Destination is one delivery that routing picked for an event: a static
// webhook, or one URI of the event's webhook_config.
type Destination struct {
	// Webhook is the static destination, as the store read it for routing
	// (with its secrets if the store read them); nil for a dynamic one.
	Webhook *Webhook
	URI     string
}

// Kind tells how the delivery to d is signed.
func (d Destination) Kind() DeliveryKind {
	if d.Webhook == nil {
		return DeliveryDynamic
	}
	return DeliveryStatic
}

// WebhookID is the static webhook's id, or "" for a dynamic destination.
func (d Destination) WebhookID() string {
	if d.Webhook == nil {
		return ""
	}
	return d.Webhook.ID
}

// WebhookReader reads the webhooks routing chooses among. A store implements
// it over its publishing transaction.
type WebhookReader interface {
	// Webhook returns the project's webhook with that id, or an ENOTFOUND
	// error naming "Webhook".
	Webhook(ctx context.Context, projectID, id string) (*Webhook, error)
	// Webhooks returns every webhook of the project, whatever its state
	// and subscriptions, ordered by (CreateTime, ID).
	Webhooks(ctx context.Context, projectID string) ([]*Webhook, error)
}

// FilterInput is an event as a webhook's filter reads it: the variables
// type, data, timestamp and user_metadata.
type FilterInput struct {
	Type string
	// Data is the event's data, a JSON object.
	Data json.RawMessage
	// Timestamp is the event's time (its envelope's, to the second).
	Timestamp time.Time
	// UserMetadata is the user_metadata of the event's webhook_config (a
	// JSON object), or empty.
	UserMetadata json.RawMessage
	// Cache belongs to the Filter implementation: what it derives from the
	// input (the decoded JSON) is kept here, so that an event that many
	// webhooks' filters read is decoded once.
	Cache any
}

// Filter is a webhook's compiled filter.
type Filter interface {
	// Match reports whether the event passes. An error (a field the event
	// lacks, the cost limit) means it does not.
	Match(in *FilterInput) (bool, error)
}

// FilterCompiler compiles webhooks' filters (Webhook.Filter), keeping what
// it compiled: routing asks it for a webhook's filter at every event. The
// CEL implementation is package filter.
type FilterCompiler interface {
	Compile(expr string) (Filter, error)
}

// Route returns the destinations of ne, an event of time now, in a stable
// order:
//   - ne.OnlyWebhookID set (a ping): that webhook, whatever its state,
//     subscriptions and filter;
//   - a dynamic ne.WebhookConfig: each of its URIs, once;
//   - otherwise each webhook of the project that Receives ne and whose
//     filter, compiled by fc, passes it.
func Route(ctx context.Context, r WebhookReader, fc FilterCompiler, ne NewEvent, now time.Time) ([]Destination, error) {
	switch {
	case ne.OnlyWebhookID != "":
		w, err := r.Webhook(ctx, ne.ProjectID, ne.OnlyWebhookID)
		if err != nil {
			return nil, err
		}
		return []Destination{{Webhook: w, URI: w.URI}}, nil
	case ne.WebhookConfig.Dynamic():
		return DynamicDestinations(ne.WebhookConfig), nil
	}
	candidates, err := r.Webhooks(ctx, ne.ProjectID)
	if err != nil {
		return nil, err
	}
	return Subscribers(candidates, fc, ne, now), nil
}

// DynamicDestinations returns one destination per distinct URI of wc, in
// order: a receiver listed twice gets the event once.
func DynamicDestinations(wc *WebhookConfig) []Destination {
	out := make([]Destination, 0, len(wc.URIs))
	for i, u := range wc.URIs {
		if !slices.Contains(wc.URIs[:i], u) {
			out = append(out, Destination{URI: u})
		}
	}
	return out
}

// Subscribers returns the destinations among candidates (a project's
// webhooks) of a static event of time now: those that Receive it and whose
// filter passes it, in candidates' order.
func Subscribers(candidates []*Webhook, fc FilterCompiler, ne NewEvent, now time.Time) []Destination {
	var out []Destination
	var in *FilterInput // built for the first filter, shared by the others
	for _, w := range candidates {
		if !w.Receives(ne) {
			continue
		}
		if w.Filter != "" {
			if in == nil {
				in = &FilterInput{Type: ne.Type, Data: ne.Data, Timestamp: now}
				if ne.WebhookConfig != nil {
					in.UserMetadata = ne.WebhookConfig.UserMetadata
				}
			}
			if !w.Passes(fc, in) {
				continue
			}
		}
		out = append(out, Destination{Webhook: w, URI: w.URI})
	}
	return out
}

// Passes reports whether w's filter, compiled by fc, passes the event in. A
// webhook without a filter passes everything; a filter that cannot be
// compiled or evaluated (nil fc included) passes nothing: a filter exists
// to keep events away, so when in doubt it keeps them away.
func (w *Webhook) Passes(fc FilterCompiler, in *FilterInput) bool {
	if w.Filter == "" {
		return true
	}
	if fc == nil {
		return false
	}
	f, err := fc.Compile(w.Filter)
	if err != nil {
		return false
	}
	ok, err := f.Match(in)
	return err == nil && ok
}

// Receives reports whether w gets a delivery of ne when ne is routed to its
// project's subscribers: w is enabled and subscribed to ne's type. Every
// rule about which webhook receives which event belongs here.
func (w *Webhook) Receives(ne NewEvent) bool {
	return w.State == WebhookEnabled && w.Subscribes(ne.Type)
}
