package webhookd

import (
	"encoding/json"
	"time"
)

// Operational events: what happens to a project's webhooks and deliveries,
// published by the service itself, in the transaction of the change they
// tell of, and delivered through the same engine to the project's webhooks
// subscribed to them.
const (
	EventWebhookDisabled      = "webhook.disabled"
	EventWebhookEnabled       = "webhook.enabled"
	EventDeliveryExhausted    = "delivery.exhausted"
	EventWebhookSecretRotated = "webhook.secret_rotated"
)

// OperationalEventTypes lists the operational events, in documentation
// order.
var OperationalEventTypes = []string{EventWebhookDisabled, EventWebhookEnabled, EventDeliveryExhausted, EventWebhookSecretRotated}

// SourceService is the Source of the events the service publishes itself.
const SourceService = "webhookd"

// Why a webhook was disabled: webhook.disabled's data.reason.
const (
	DisabledByUser           = "user"              // PATCH state: disabled
	DisabledFailedDeliveries = "failed_deliveries" // failing continuously for the auto-disable period
	DisabledGone             = "gone"              // its receiver answered 410 Gone
)

// WebhookDisabledData is the data of webhook.disabled.
type WebhookDisabledData struct {
	WebhookID string       `json:"webhook_id"`
	URI       string       `json:"uri"`
	State     WebhookState `json:"state"`
	Reason    string       `json:"reason"`
	// Message says what happened, for people.
	Message string `json:"message"`
	// DeliveryID is the delivery whose attempt disabled the webhook (gone,
	// failed_deliveries).
	DeliveryID string `json:"delivery_id,omitempty"`
}

// WebhookEnabledData is the data of webhook.enabled.
type WebhookEnabledData struct {
	WebhookID string `json:"webhook_id"`
	URI       string `json:"uri"`
}

// DeliveryExhaustedData is the data of delivery.exhausted.
type DeliveryExhaustedData struct {
	DeliveryID     string `json:"delivery_id"`
	EventID        string `json:"event_id"`
	EventType      string `json:"event_type"`
	WebhookID      string `json:"webhook_id,omitempty"`
	URI            string `json:"uri"`
	AttemptCount   int    `json:"attempt_count"`
	LastStatusCode int    `json:"last_status_code,omitempty"`
	LastError      string `json:"last_error"`
}

// SecretRotatedData is the data of webhook.secret_rotated.
type SecretRotatedData struct {
	WebhookID string `json:"webhook_id"`
	URI       string `json:"uri"`
	// PreviousSecretsExpireTime is when the secrets before the rotation
	// stop signing (RFC 3339; the rotation's time when revoked at once).
	PreviousSecretsExpireTime string `json:"previous_secrets_expire_time"`
}

// operationalEvent is a NewEvent of the service's own about data.
func operationalEvent(projectID, typ string, data any) NewEvent {
	b, err := json.Marshal(data)
	if err != nil {
		panic(err) // the data types above always marshal
	}
	return NewEvent{ProjectID: projectID, Type: typ, Data: b, Source: SourceService, IfRouted: true}
}

// WebhookDisabledEvent is webhook.disabled about w, disabled for reason.
// The webhook itself does not receive it: it is disabled.
func WebhookDisabledEvent(w *Webhook, reason, message, deliveryID string) NewEvent {
	return operationalEvent(w.ProjectID, EventWebhookDisabled, WebhookDisabledData{
		WebhookID: w.ID, URI: w.URI, State: w.State, Reason: reason, Message: message, DeliveryID: deliveryID,
	})
}

// StateChangeEvent returns the operational event that a change of w's
// state from from to w.State by a user (the API) publishes, if any.
func StateChangeEvent(w *Webhook, from WebhookState) (NewEvent, bool) {
	switch {
	case w.State == from:
		return NewEvent{}, false
	case w.State == WebhookEnabled:
		return operationalEvent(w.ProjectID, EventWebhookEnabled, WebhookEnabledData{WebhookID: w.ID, URI: w.URI}), true
	case from == WebhookEnabled:
		return WebhookDisabledEvent(w, DisabledByUser, "disabled by a user", ""), true
	}
	return NewEvent{}, false // from one disabled state to another
}

// DeliveryExhaustedEvent is delivery.exhausted about a delivery whose last
// attempt failed and that will not be retried, of the project projectID.
// ok is false for a delivery of an operational event: telling of its
// failure could fail in turn, without end.
func DeliveryExhaustedEvent(projectID string, d DeliveryExhaustedData) (NewEvent, bool) {
	if IsOperational(d.EventType) {
		return NewEvent{}, false
	}
	return operationalEvent(projectID, EventDeliveryExhausted, d), true
}

// SecretRotatedEvent is webhook.secret_rotated about w, whose previous
// secrets expire at expireOthers.
func SecretRotatedEvent(w *Webhook, expireOthers time.Time) NewEvent {
	return operationalEvent(w.ProjectID, EventWebhookSecretRotated, SecretRotatedData{
		WebhookID: w.ID, URI: w.URI, PreviousSecretsExpireTime: expireOthers.UTC().Format(time.RFC3339Nano),
	})
}

// IsOperational reports whether typ is an operational event.
func IsOperational(typ string) bool {
	for _, t := range OperationalEventTypes {
		if t == typ {
			return true
		}
	}
	return false
}
