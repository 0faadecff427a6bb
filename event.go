package webhookd

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// The event catalog: canonical names of the events that long-running
// operations emit.
const (
	EventBatchSucceeded            = "batch.succeeded"
	EventBatchCancelled            = "batch.cancelled"
	EventBatchExpired              = "batch.expired"
	EventBatchFailed               = "batch.failed"
	EventInteractionRequiresAction = "interaction.requires_action"
	EventInteractionCompleted      = "interaction.completed"
	EventInteractionFailed         = "interaction.failed"
	EventInteractionCancelled      = "interaction.cancelled"
	EventVideoGenerated            = "video.generated"
	EventWebhookPing               = "webhook.ping"
	EventBatchCompletedAlias       = "batch.completed" // the source document's spelling of batch.succeeded
	EnvelopeVersion                = "v1"
)

// CatalogEventTypes lists the canonical event types, in documentation order.
var CatalogEventTypes = []string{
	EventBatchSucceeded, EventBatchCancelled, EventBatchExpired, EventBatchFailed,
	EventInteractionRequiresAction, EventInteractionCompleted, EventInteractionFailed,
	EventInteractionCancelled, EventVideoGenerated,
	EventWebhookDisabled, EventWebhookEnabled, EventDeliveryExhausted, EventWebhookSecretRotated,
}

// catalogDescriptions say what each built-in type means; event type
// listings show them.
var catalogDescriptions = map[string]string{
	EventBatchSucceeded:            "A batch finished; its results are ready (batch.completed is accepted as this type).",
	EventBatchCancelled:            "A batch was cancelled.",
	EventBatchExpired:              "A batch expired before it finished.",
	EventBatchFailed:               "A batch failed.",
	EventInteractionRequiresAction: "An interaction waits for the caller (a function call to answer).",
	EventInteractionCompleted:      "An interaction completed.",
	EventInteractionFailed:         "An interaction failed.",
	EventInteractionCancelled:      "An interaction was cancelled.",
	EventVideoGenerated:            "A video generation finished.",
}

// CatalogDescription says what a type of the built-in catalog means; ""
// for others.
func CatalogDescription(typ string) string { return catalogDescriptions[typ] }

// Catalog is the set of event types a deployment accepts: the built-in
// catalog plus any an operator added by configuration.
type Catalog struct {
	extra []string
}

// NewCatalog returns the built-in catalog extended with extra types.
func NewCatalog(extra ...string) *Catalog {
	c := &Catalog{}
	for _, t := range extra {
		t = strings.TrimSpace(t)
		if t != "" && !slices.Contains(CatalogEventTypes, t) && !slices.Contains(c.extra, t) {
			c.extra = append(c.extra, t)
		}
	}
	return c
}

// Types returns every accepted canonical type.
func (c *Catalog) Types() []string {
	return append(slices.Clone(CatalogEventTypes), c.extra...)
}

// Canonical maps a type as a caller wrote it to its canonical name:
// batch.completed becomes batch.succeeded. ok is false for unknown types.
func (c *Catalog) Canonical(typ string) (canonical string, ok bool) {
	if typ == EventBatchCompletedAlias {
		return EventBatchSucceeded, true
	}
	if slices.Contains(CatalogEventTypes, typ) || slices.Contains(c.extra, typ) {
		return typ, true
	}
	return "", false
}

// Origins of an event type, as the API shows them: the built-in catalog,
// the operator's WEBHOOKD_EVENT_TYPES, or the project's own, defined over
// the API. Only the last can be changed.
const (
	OriginBuiltIn = "builtin"
	OriginConfig  = "config"
	OriginAPI     = "api"
)

// Origin returns where a canonical type of the catalog comes from,
// OriginBuiltIn or OriginConfig, or "" when the catalog does not have it.
func (c *Catalog) Origin(typ string) string {
	switch {
	case slices.Contains(CatalogEventTypes, typ), typ == EventBatchCompletedAlias:
		return OriginBuiltIn
	case slices.Contains(c.extra, typ):
		return OriginConfig
	}
	return ""
}

// DefinedFunc reports whether the project at hand defined an event type of
// that name over the API (an EventTypeStore lookup).
type DefinedFunc func(name string) (bool, error)

// Resolve is Canonical for input, with the types defined reports as known
// too (nil knows none): an unknown type is an EINVALID error naming field,
// which lists the catalog's types and says how to define one.
func (c *Catalog) Resolve(field, typ string, defined DefinedFunc) (string, error) {
	if ct, ok := c.Canonical(typ); ok {
		return ct, nil
	}
	if defined != nil && ValidateEventTypeName(field, typ) == nil {
		ok, err := defined(typ)
		if err != nil {
			return "", err
		}
		if ok {
			return typ, nil
		}
	}
	return "", FieldErrorf(field, "%s: unknown event type %q; built-in and configured types: %s (batch.completed is accepted as batch.succeeded). "+
		"Define the project's own types with POST /v1/eventTypes; an operator may also list types in WEBHOOKD_EVENT_TYPES.",
		field, typ, strings.Join(c.Types(), ", "))
}

// ValidateSubscriptions canonicalises a subscription list, removing
// duplicates, and names field in the error when the list is empty or has an
// unknown exact type (see Resolve) or a malformed wildcard. A prefix
// wildcard (order.*) is accepted whether or not a type under it exists yet:
// it subscribes to types defined later too. An exact name must exist, so
// that a typo is caught when it is made, not by deliveries that never come.
func (c *Catalog) ValidateSubscriptions(field string, types []string, defined DefinedFunc) ([]string, error) {
	if len(types) == 0 {
		return nil, FieldErrorf(field, "%s must list at least one event type or prefix wildcard (order.*); built-in types: %s.", field, strings.Join(c.Types(), ", "))
	}
	if len(types) > MaxSubscribedEvents {
		return nil, FieldErrorf(field, "%s must list at most %d event types.", field, MaxSubscribedEvents)
	}
	out := make([]string, 0, len(types))
	for _, t := range types {
		if strings.Contains(t, "*") {
			if err := ValidateWildcard(field, t); err != nil {
				return nil, err
			}
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
			continue
		}
		ct, err := c.Resolve(field, t, defined)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, ct) {
			out = append(out, ct)
		}
	}
	return out, nil
}

// WebhookConfig is the per-job override carried by job requests: when URIs is
// non-empty, the job's events go to those URIs only, signed with RS256 JWTs.
// UserMetadata is echoed as data.user_metadata on every event of the job.
type WebhookConfig struct {
	URIs         []string        `json:"uris,omitempty"`
	UserMetadata json.RawMessage `json:"user_metadata,omitempty"`
}

// Dynamic reports whether the config routes deliveries to its own URIs.
func (wc *WebhookConfig) Dynamic() bool { return wc != nil && len(wc.URIs) > 0 }

// Event is one thing that happened, delivered to every destination that
// routing picked when it was created. Its ID is the webhook-id header of every
// delivery and retry.
type Event struct {
	ID        string
	ProjectID string
	Type      string
	// Payload is the exact envelope body sent to every destination:
	// {"type","version","timestamp","data"}. It never changes, so signatures
	// over it are reproducible.
	Payload []byte
	// WebhookConfig is the dynamic routing the event was published with, if any.
	WebhookConfig *WebhookConfig
	// IdempotencyKey, if set, makes publishing the same key again within
	// IdempotencyWindow return this event instead of creating another.
	IdempotencyKey string
	// Source names what caused the event: "api" for the publish API,
	// "operation:<name>" for a job state change, "ping".
	Source string
	// TraceParent is the W3C traceparent of the request that published the
	// event, sent with every attempt so that the receiver's trace continues
	// the publisher's; "" when there was none.
	TraceParent string
	CreateTime  time.Time
	// DeliveryCount is how many deliveries routing created.
	DeliveryCount int
}

// IdempotencyWindow is how long an idempotency key is remembered.
const IdempotencyWindow = 24 * time.Hour

// Envelope is the thin JSON payload of every delivery.
type Envelope struct {
	Type      string          `json:"type"`
	Version   string          `json:"version"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// NewEvent is what a caller asks the store to publish. The store assigns ID
// and CreateTime, renders the payload, and creates the deliveries routing picks,
// all in one transaction.
type NewEvent struct {
	ProjectID string
	Type      string
	// Data is a JSON object. If WebhookConfig carries user_metadata, the
	// store's caller has already merged it as data.user_metadata (see
	// MergeUserMetadata).
	Data           json.RawMessage
	WebhookConfig  *WebhookConfig
	IdempotencyKey string
	Source         string
	// TraceParent is the publish's W3C traceparent (see Event.TraceParent).
	TraceParent string
	// OnlyWebhookID, when set, routes the event to that one webhook whatever
	// its subscriptions and state (used by :ping).
	OnlyWebhookID string
	// IfRouted makes the event exist only if routing finds it a
	// destination: planned without one, it is not stored at all (the
	// operational events, which most projects do not subscribe to).
	IfRouted bool
}

// PublishedEvent is one answer of Store.PublishEvents: the event, and
// whether this call created it (false when an idempotency key answered an
// event published before).
type PublishedEvent struct {
	Event   *Event
	Created bool
}

// RenderEnvelope returns the payload bytes for an event of type typ with
// data at time t. Timestamps are RFC 3339 in UTC, second precision.
func RenderEnvelope(typ string, data json.RawMessage, t time.Time) ([]byte, error) {
	if len(data) == 0 {
		data = json.RawMessage(`{}`)
	}
	return json.Marshal(Envelope{
		Type:      typ,
		Version:   EnvelopeVersion,
		Timestamp: t.UTC().Format(time.RFC3339),
		Data:      data,
	})
}

// Event returns the event a store writes for e at now: a time-ordered id
// and the rendered payload. DeliveryCount is left for routing to set. It
// fails with an EINVALID error naming the field when e has no project or
// type, or when Data is not JSON.
func (e NewEvent) Event(now time.Time) (*Event, error) {
	if e.ProjectID == "" {
		return nil, FieldErrorf("project_id", "project_id is required.")
	}
	if e.Type == "" {
		return nil, FieldErrorf("type", "type is required.")
	}
	payload, err := RenderEnvelope(e.Type, e.Data, now)
	if err != nil {
		return nil, FieldErrorf("data", "data must be a JSON object.")
	}
	return &Event{
		ID:             NewSortableID(PrefixEvent, now),
		ProjectID:      e.ProjectID,
		Type:           e.Type,
		Payload:        payload,
		WebhookConfig:  e.WebhookConfig,
		IdempotencyKey: e.IdempotencyKey,
		Source:         e.Source,
		TraceParent:    e.TraceParent,
		CreateTime:     now,
	}, nil
}

// NewDelivery returns the delivery of e to dest as a publish writes it:
// pending, due at once.
func (e *Event) NewDelivery(dest Destination) Delivery {
	return Delivery{
		ID:              NewSortableID(PrefixDelivery, e.CreateTime),
		EventID:         e.ID,
		ProjectID:       e.ProjectID,
		Kind:            dest.Kind(),
		WebhookID:       dest.WebhookID(),
		URI:             dest.URI,
		State:           DeliveryPending,
		NextAttemptTime: e.CreateTime,
		CreateTime:      e.CreateTime,
		UpdateTime:      e.CreateTime,
	}
}

// MergeUserMetadata returns data with user_metadata set to meta, when meta is
// a non-empty JSON value. data must be a JSON object.
func MergeUserMetadata(data json.RawMessage, meta json.RawMessage) (json.RawMessage, error) {
	if len(meta) == 0 || string(meta) == "null" {
		return data, nil
	}
	m := map[string]json.RawMessage{}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, FieldErrorf("data", "data must be a JSON object.")
		}
	}
	m["user_metadata"] = meta
	return json.Marshal(m)
}

// DeliveryState is where a delivery is in its life.
type DeliveryState string

// ParseDeliveryState reads a delivery state as the API spells it.
func ParseDeliveryState(s string) (DeliveryState, bool) {
	switch st := DeliveryState(trimLower(s)); st {
	case DeliveryPending, DeliverySucceeded, DeliveryFailed:
		return st, true
	}
	return "", false
}

// Delivery states.
const (
	DeliveryPending   DeliveryState = "pending"   // due at NextAttemptTime
	DeliverySucceeded DeliveryState = "succeeded" // a 2xx was received
	DeliveryFailed    DeliveryState = "failed"    // retries exhausted (kept for recovery)
)

// DeliveryKind tells how a delivery is signed.
type DeliveryKind string

// Delivery kinds.
const (
	DeliveryStatic  DeliveryKind = "static"  // a registered webhook; HMAC (Standard Webhooks v1)
	DeliveryDynamic DeliveryKind = "dynamic" // a webhook_config URI; RS256 JWT
)

// Delivery is one event on its way to one destination. It is also the queue
// entry: the engine claims pending deliveries whose NextAttemptTime is due.
type Delivery struct {
	ID        string
	EventID   string
	ProjectID string
	Kind      DeliveryKind
	// WebhookID is set for static deliveries.
	WebhookID string
	URI       string
	State     DeliveryState
	// AttemptCount is the number of attempts made so far.
	AttemptCount int
	// NextAttemptTime is when the delivery is next due. While an engine holds
	// a claim on it, it is the end of the lease: a crashed engine's claim
	// simply becomes due again.
	NextAttemptTime time.Time
	// LeaseToken identifies the current claim; results recorded under an
	// older token are ignored.
	LeaseToken       string
	FirstAttemptTime *time.Time
	LastAttemptTime  *time.Time
	LastStatusCode   int
	LastError        string
	CreateTime       time.Time
	UpdateTime       time.Time
}

// Attempt is the record of one HTTP attempt of a delivery.
type Attempt struct {
	ID         string
	DeliveryID string
	// Number counts from 1.
	Number     int
	Time       time.Time
	StatusCode int // 0 when no response was received
	Latency    time.Duration
	// Error is a plain-words reason when the attempt failed.
	Error string
	// ErrorStage says where a failed attempt failed: dns, connect, tls,
	// timeout, connection, status, … (the delivery engine's stages).
	ErrorStage string
	// ResponseHeaders are the response's headers as "Name: value" lines,
	// and ResponseBody the start of its body, both bounded by the engine.
	ResponseHeaders string
	ResponseBody    string
}
