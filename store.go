package webhookd

import (
	"context"
	"time"
)

// Store is the storage seam. Two adapters implement it, sqlite (the embedded
// default) and postgres (scale-out), and both pass the conformance suite in
// package storetest. Every method is atomic. Methods scoped by project answer
// ErrNotFound (or an ENOTFOUND *Error) for another project's ids.
//
// Listings return at most Page.Size items after Page.After; a caller that
// wants to know whether another page exists asks for Size+1.
type Store interface {
	KeyStore
	// OperationStore holds long-running operations and files; its changes
	// publish events through the same outbox as PublishEvent.
	OperationStore
	// EventTypeStore holds the event types projects define over the API.
	EventTypeStore

	// Projects and API keys.
	CreateProject(ctx context.Context, p *Project) error
	GetProject(ctx context.Context, id string) (*Project, error)
	FindProjectByName(ctx context.Context, name string) (*Project, error)
	ListProjects(ctx context.Context) ([]*Project, error)
	// UpdateProject writes Name and Audience.
	UpdateProject(ctx context.Context, p *Project) error
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// FindAPIKey returns the unrevoked key with this SHA-256 hash.
	FindAPIKey(ctx context.Context, hash []byte) (*APIKey, error)
	ListAPIKeys(ctx context.Context, projectID string) ([]*APIKey, error)
	RevokeAPIKey(ctx context.Context, projectID, keyID string) error

	// Webhooks. CreateWebhook stores w and its Secrets (one, on create).
	CreateWebhook(ctx context.Context, w *Webhook) error
	// GetWebhook returns the webhook with its unexpired secrets, newest first.
	GetWebhook(ctx context.Context, projectID, id string) (*Webhook, error)
	// ListWebhooks orders by (CreateTime, ID) ascending.
	ListWebhooks(ctx context.Context, projectID string, page Page) ([]*Webhook, error)
	// UpdateWebhook writes Name, URI, SubscribedEvents, Headers, Filter,
	// State, UpdateTime and FailingSince; secrets are changed only by
	// RotateSecret. A change of State publishes, in the same transaction,
	// the event StateChangeEvent returns.
	UpdateWebhook(ctx context.Context, w *Webhook) error
	// DeleteWebhook removes the webhook and its secrets, and fails its
	// pending deliveries ("webhook deleted"); delivery history is kept.
	DeleteWebhook(ctx context.Context, projectID, id string) error
	// RotateSecret adds next as the current secret and sets the ExpireTime of
	// every other live secret to expireOthers (if that is earlier than the
	// one it has); the webhook's UpdateTime becomes next's CreateTime. It
	// publishes webhook.secret_rotated in the same transaction.
	// Secrets expired at the store clock's now may be pruned.
	RotateSecret(ctx context.Context, projectID, webhookID string, next SigningSecret, expireOthers time.Time) error

	// Events: the transactional outbox. PublishEvent assigns the event's ID
	// and CreateTime, renders its payload, and creates in the same
	// transaction one delivery per destination Route picks. With an
	// IdempotencyKey already used by the project within IdempotencyWindow,
	// it returns the first event and created=false, and creates nothing.
	// Stores plan with a Planner and only write what it planned.
	PublishEvent(ctx context.Context, e NewEvent) (ev *Event, created bool, err error)
	// PublishEvents publishes every event by PublishEvent's rules in one
	// transaction, all or nothing, and answers them in input order. When
	// one fails (invalid, unknown project or webhook, a database error),
	// nothing of the call is stored and the error names it: an *Error
	// keeps its code, its field and message prefixed with "events[i]" (see
	// ElementError). Idempotency keys work as if the events were published
	// one after another: a key used within IdempotencyWindow, by an earlier
	// call or by an earlier event of this one, answers that first event
	// with Created=false. An empty list is EINVALID.
	PublishEvents(ctx context.Context, events []NewEvent) ([]PublishedEvent, error)
	GetEvent(ctx context.Context, projectID, id string) (*Event, error)
	// ListEvents orders by (CreateTime, ID) descending, newest first, and
	// lists the events that filter keeps.
	ListEvents(ctx context.Context, projectID string, filter EventFilter, page Page) ([]*Event, error)
	// ListDeliveries returns an event's deliveries.
	ListDeliveries(ctx context.Context, projectID, eventID string) ([]*Delivery, error)
	GetDelivery(ctx context.Context, projectID, id string) (*Delivery, error)
	// ListWebhookDeliveries returns the deliveries of one webhook (and of
	// the webhook that had this id, if it was deleted), in state when it is
	// set, newest first: ordered by (CreateTime, ID) descending.
	ListWebhookDeliveries(ctx context.Context, projectID, webhookID string, state DeliveryState, page Page) ([]*Delivery, error)
	// ListBacklog returns the project's pending deliveries, counted by
	// destination URI and webhook (deliveries of the same URI for two
	// webhooks, or a webhook and a job, are two entries).
	ListBacklog(ctx context.Context, projectID string) ([]Backlog, error)
	// ListAttempts returns a delivery's attempts, oldest first.
	ListAttempts(ctx context.Context, projectID, deliveryID string) ([]*Attempt, error)
	// RetryDelivery makes one delivery pending and due now, whatever its
	// state, and starts a new retry window for it.
	RetryDelivery(ctx context.Context, projectID, deliveryID string) (*Delivery, error)
	// RecoverDeliveries does RetryDelivery for every failed delivery of a
	// webhook created at or after since, and returns how many.
	RecoverDeliveries(ctx context.Context, projectID, webhookID string, since time.Time) (int, error)

	// The delivery queue.
	// ClaimDeliveries leases up to limit pending deliveries that are due at
	// the store clock's now, oldest due first: each gets a new LeaseToken and
	// NextAttemptTime = now + lease, so a claim whose holder crashed becomes
	// due again when the lease ends. Deliveries claimed by another caller
	// and not yet due again are never returned.
	ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]*Claim, error)
	// RecordResults applies the outcome of claimed deliveries in one
	// transaction. A result whose LeaseToken no longer matches the delivery
	// (the lease expired and someone else claimed it) is ignored. In the
	// same transaction it publishes the operational events the results
	// cause: webhook.disabled for a webhook that auto-disable or a Gone
	// result disabled, and delivery.exhausted for a delivery failed after an
	// attempt (see DeliveryExhaustedEvent), but not for a Gone one.
	RecordResults(ctx context.Context, results []Result) error
	// QueueStats describes the pending deliveries at the store clock's now.
	QueueStats(ctx context.Context) (QueueStats, error)

	// PruneEvents is retention: it deletes, in one short transaction, at
	// most p.Limit events that are finished and old enough, together with
	// their deliveries and attempts, and returns how many events it
	// deleted. An event is finished when none of its deliveries is pending;
	// it is old enough when its newest delivery was last updated (finished)
	// before p.FailedBefore if any delivery failed, before
	// p.SucceededBefore otherwise, and — with no deliveries at all — when it
	// was created before p.SucceededBefore. A pending delivery is never
	// pruned, whatever its age, nor is an event whose idempotency key is
	// still inside IdempotencyWindow at the store clock's now (a repeated
	// publish must still find it). Callers loop until it returns fewer
	// than p.Limit. Batches are small on purpose: the write lock (SQLite)
	// and row locks (PostgreSQL) are held for one batch only, so claims and
	// results interleave with a long prune.
	PruneEvents(ctx context.Context, p PruneParams) (deleted int, err error)

	Close() error
}

// Claim is one leased delivery with everything needed to send it.
type Claim struct {
	Delivery *Delivery
	// EventType and Payload are the event's; Payload is the exact body.
	EventType string
	Payload   []byte
	// TraceParent is the event's (see Event.TraceParent).
	TraceParent string
	// Static deliveries: the webhook's state and its live secrets at claim
	// time (newest first). A webhook that was deleted has no secrets and
	// WebhookState "".
	WebhookState WebhookState
	Secrets      []SigningSecret
	// Headers are the webhook's custom headers, sent with the attempt.
	Headers map[string]string
	// Audience is the project's configured JWT audience ("" = use the URI).
	Audience string
}

// Outcome is what an attempt (or a decision not to attempt) did to a delivery.
type Outcome string

// Outcomes.
const (
	OutcomeSucceeded Outcome = "succeeded" // 2xx: the delivery is done
	OutcomeRetry     Outcome = "retry"     // failed attempt; due again at NextAttemptTime
	OutcomeFailed    Outcome = "failed"    // failed and out of retries (or undeliverable)
	OutcomeDeferred  Outcome = "deferred"  // not attempted (circuit open, destination busy); due again at NextAttemptTime; attempt count unchanged
)

// Result is the outcome of one claimed delivery.
type Result struct {
	DeliveryID string
	LeaseToken string
	Outcome    Outcome
	// NextAttemptTime is used with OutcomeRetry and OutcomeDeferred.
	NextAttemptTime time.Time
	// Attempt is the attempt record; nil with OutcomeDeferred and when a
	// delivery is failed without an attempt (e.g. its webhook was deleted).
	Attempt *Attempt
	// Error is stored as the delivery's LastError when Attempt is nil.
	Error string
	// Gone, on a static delivery's result, disables its webhook at once
	// (state disabled, webhook.disabled published with reason gone): its
	// receiver answered 410 Gone. The result's outcome is then failed.
	Gone bool
	// DisableAfter, when positive, applies auto-disable to a static
	// delivery's webhook: a failed attempt starts or continues the webhook's
	// failing run (FailingSince), a success ends it, and a run at least
	// DisableAfter long moves an enabled webhook to
	// disabled_due_to_failed_deliveries.
	DisableAfter time.Duration
}

// EventFilter narrows an event listing; its zero value keeps every event.
type EventFilter struct {
	// Type keeps the events of this (canonical) type.
	Type string
	// StartTime, inclusive, and EndTime, exclusive, bound CreateTime;
	// either may be zero.
	StartTime, EndTime time.Time
	// DeliveryState keeps the events with at least one delivery in this
	// state: "failed" finds what needs a look.
	DeliveryState DeliveryState
}

// Backlog is the pending deliveries of one destination URI of a project.
type Backlog struct {
	URI string
	// WebhookID is the static webhook the deliveries go to; "" for
	// dynamic ones.
	WebhookID string
	Pending   int
	// OldestCreateTime is when the oldest of them was created.
	OldestCreateTime time.Time
}

// QueueStats describes the delivery backlog.
type QueueStats struct {
	Pending int
	// Due counts pending deliveries whose NextAttemptTime has passed.
	Due int
	// OldestDue is the NextAttemptTime of the oldest due delivery (zero if none).
	OldestDue time.Time
}

// PruneParams selects what Store.PruneEvents deletes. Both cutoffs are
// absolute times, computed by the caller from its retention settings, so the
// store needs no policy of its own.
type PruneParams struct {
	// SucceededBefore is the cutoff for events whose deliveries all
	// succeeded (and events that had no delivery).
	SucceededBefore time.Time
	// FailedBefore is the cutoff for events with at least one failed
	// delivery; normally earlier than SucceededBefore, so failures are kept
	// longer for recovery.
	FailedBefore time.Time
	// Limit is the most events one call deletes; it must be positive.
	Limit int
}

// Validate reports a PruneParams a store must refuse: a zero cutoff would
// mean "the year 1" and is always a caller's mistake.
func (p PruneParams) Validate() error {
	if p.Limit <= 0 {
		return Errorf(EINVALID, "prune limit must be positive, got %d", p.Limit)
	}
	if p.SucceededBefore.IsZero() || p.FailedBefore.IsZero() {
		return Errorf(EINVALID, "prune cutoffs must be set")
	}
	return nil
}
