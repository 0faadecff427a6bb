package webhookd

import (
	"context"
	"slices"
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

// Route returns the destinations of ne, in a stable order:
//   - ne.OnlyWebhookID set (a ping): that webhook, whatever its state and
//     subscriptions;
//   - a dynamic ne.WebhookConfig: each of its URIs, once;
//   - otherwise each webhook of the project that Receives ne.
func Route(ctx context.Context, r WebhookReader, ne NewEvent) ([]Destination, error) {
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
	return Subscribers(candidates, ne), nil
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
// webhooks) of a static event: those that Receive it, in candidates' order.
func Subscribers(candidates []*Webhook, ne NewEvent) []Destination {
	var out []Destination
	for _, w := range candidates {
		if w.Receives(ne) {
			out = append(out, Destination{Webhook: w, URI: w.URI})
		}
	}
	return out
}

// Receives reports whether w gets a delivery of ne when ne is routed to its
// project's subscribers: w is enabled and subscribed to ne's type. Every
// rule about which webhook receives which event belongs here.
func (w *Webhook) Receives(ne NewEvent) bool {
	return w.State == WebhookEnabled && w.Subscribes(ne.Type)
}
