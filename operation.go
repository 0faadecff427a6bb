package webhookd

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// OperationKind tells which long-running job an Operation is. Each kind has
// its own states, wire rendering and events (see package lro).
type OperationKind string

// Operation kinds.
const (
	OperationBatch       OperationKind = "batch"
	OperationInteraction OperationKind = "interaction"
	OperationVideo       OperationKind = "video"
)

// Valid reports whether k is a known kind.
func (k OperationKind) Valid() bool {
	switch k {
	case OperationBatch, OperationInteraction, OperationVideo:
		return true
	}
	return false
}

// ID prefixes of operations. Operation ids are unique across kinds
// (GET /operations/{id} finds any of them), and the prefix tells the kind in
// logs. The source document's own envelope example uses "batch_123456".
const (
	PrefixBatch       = "batch_"
	PrefixInteraction = "int_"
	PrefixVideo       = "vop_"
	// PrefixFile is empty on purpose: both SDKs take a file's id out of a
	// download URI with the pattern files/([a-z0-9]+), so a file id must be
	// lower-case letters and digits only, which NewID's alphabet is.
	PrefixFile = ""
)

// OperationState is a kind-specific state. The values are the wire
// spellings, so that renderings and stored rows need no mapping: batches use
// the BATCH_STATE_* enum of the batch API, interactions the lower-case
// statuses of the Interactions API, video operations running/done.
type OperationState string

// Batch states.
const (
	BatchPending   OperationState = "BATCH_STATE_PENDING"
	BatchRunning   OperationState = "BATCH_STATE_RUNNING"
	BatchSucceeded OperationState = "BATCH_STATE_SUCCEEDED"
	BatchFailed    OperationState = "BATCH_STATE_FAILED"
	BatchCancelled OperationState = "BATCH_STATE_CANCELLED"
	BatchExpired   OperationState = "BATCH_STATE_EXPIRED"
)

// Interaction states.
const (
	InteractionQueued         OperationState = "queued"
	InteractionInProgress     OperationState = "in_progress"
	InteractionRequiresAction OperationState = "requires_action"
	InteractionCompleted      OperationState = "completed"
	InteractionFailed         OperationState = "failed"
	InteractionCancelled      OperationState = "cancelled"
)

// Video operation states.
const (
	VideoRunning OperationState = "running"
	VideoDone    OperationState = "done"
)

// Terminal reports whether s is a final state: nothing moves an operation out
// of it. requires_action is not terminal: a follow-up interaction completes it.
func (s OperationState) Terminal() bool {
	switch s {
	case BatchSucceeded, BatchFailed, BatchCancelled, BatchExpired,
		InteractionCompleted, InteractionFailed, InteractionCancelled,
		VideoDone:
		return true
	}
	return false
}

// Operation is one long-running job of a project: a batch, a background (or
// stored synchronous) interaction, or a video generation. Its state machine
// lives in package lro; stores persist it opaquely: Request and Result are
// JSON documents that only lro reads.
type Operation struct {
	// ID is the resource id as it appears in the job's path: "batch_…" in
	// /batches/{id}, "int_…" in /interactions/{id}, "vop_…" in
	// /models/{model}/operations/{id}. It is unique across kinds.
	ID        string
	ProjectID string
	Kind      OperationKind
	// Model is the bare model name ("gemini-2.5-flash", no "models/"
	// prefix); Agent is set instead for agent interactions.
	Model       string
	Agent       string
	DisplayName string
	State       OperationState
	// Request is the create request as lro parsed it, in lro's canonical
	// JSON (both input spellings normalised, contents kept verbatim).
	Request json.RawMessage
	// Result is the job's output in lro's canonical JSON; empty until the
	// job produced something.
	Result json.RawMessage
	// ErrorCode (a canonical code name such as "INVALID_ARGUMENT") and
	// ErrorMessage are set when the job failed.
	ErrorCode    string
	ErrorMessage string
	// WebhookConfig is the job's dynamic routing and user metadata; every
	// event of the job is published with it.
	WebhookConfig *WebhookConfig
	CreateTime    time.Time
	UpdateTime    time.Time
	// EndTime is set when the operation reached a terminal state.
	EndTime *time.Time
	// ExpireTime is the deadline of a batch: not finished by then, it
	// expires. Nil for kinds that do not expire.
	ExpireTime *time.Time
	// NextStepTime is when the runner should next step the operation; nil
	// when there is nothing to do (terminal, or waiting for the caller).
	// While a runner holds a claim it is the end of the lease.
	NextStepTime *time.Time
	// Version counts the committed writes of the operation, from 1 at
	// creation. It is the optimistic-concurrency check of every update
	// (see OperationChange) and the fence of runner leases.
	Version int64
}

// Name is the resource name the APIs print: "batches/{id}",
// "interactions/{id}", "models/{model}/operations/{id}".
func (op *Operation) Name() string {
	switch op.Kind {
	case OperationBatch:
		return "batches/" + op.ID
	case OperationInteraction:
		return "interactions/" + op.ID
	case OperationVideo:
		return "models/" + op.Model + "/operations/" + op.ID
	}
	return op.ID
}

// EventSource is the Source of the events the operation emits.
func (op *Operation) EventSource() string { return "operation:" + op.Name() }

// Clone returns a deep copy, so that a state transition never aliases the
// operation it was given.
func (op *Operation) Clone() *Operation {
	c := *op
	c.Request = cloneBytes(op.Request)
	c.Result = cloneBytes(op.Result)
	if op.WebhookConfig != nil {
		wc := WebhookConfig{
			URIs:         append([]string(nil), op.WebhookConfig.URIs...),
			UserMetadata: cloneBytes(op.WebhookConfig.UserMetadata),
		}
		c.WebhookConfig = &wc
	}
	c.EndTime = cloneTime(op.EndTime)
	c.ExpireTime = cloneTime(op.ExpireTime)
	c.NextStepTime = cloneTime(op.NextStepTime)
	return &c
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// OperationKindOfID infers an operation's kind from its id prefix; ok is
// false for an id no operation can have.
func OperationKindOfID(id string) (kind OperationKind, ok bool) {
	switch {
	case strings.HasPrefix(id, PrefixBatch):
		return OperationBatch, true
	case strings.HasPrefix(id, PrefixInteraction):
		return OperationInteraction, true
	case strings.HasPrefix(id, PrefixVideo):
		return OperationVideo, true
	}
	return "", false
}

// OperationChange is one atomic write of the operations world: what a
// create, a cancel, a follow-up interaction or a runner step commits. Package
// lro builds it; a store applies it with CommitOperationChange.
type OperationChange struct {
	// Create holds new operations, each with Version 1.
	Create []*Operation
	// Update holds the new state of existing operations. Each carries the
	// version it will have after the write: the store writes it only if the
	// stored Version is exactly Version-1, so a writer that read a stale
	// copy (a cancel racing a runner step, a runner whose lease expired and
	// was re-claimed) fails with ECONFLICT and writes nothing.
	Update []*Operation
	// Files are created with the change: job outputs (results JSONL,
	// generated video), so that an operation never points at a missing file.
	Files []*File
	// Events are published with the change (the outbox), exactly as
	// Store.PublishEvent publishes one.
	Events []NewEvent
}

// StaleError is the ECONFLICT error of an update of op (see
// OperationChange.Update) that found the operation at version stored.
func (op *Operation) StaleError(stored int64) error {
	return Errorf(ECONFLICT, "Operation %s was changed concurrently (version %d, expected %d).", op.ID, stored, op.Version-1)
}

// Empty reports whether c writes nothing.
func (c *OperationChange) Empty() bool {
	return len(c.Create) == 0 && len(c.Update) == 0 && len(c.Files) == 0 && len(c.Events) == 0
}

// ChangeWriter makes the writes of an OperationChange, inside the store's
// transaction.
type ChangeWriter interface {
	InsertOperation(ctx context.Context, op *Operation) error
	// UpdateOperation writes op under its version check (see
	// OperationChange.Update).
	UpdateOperation(ctx context.Context, op *Operation) error
	InsertFile(ctx context.Context, f *File) error
	// Publish publishes events as PublishEvents does, in the transaction.
	Publish(ctx context.Context, events []NewEvent) ([]PlannedEvent, error)
}

// Write makes c's writes with w, each after what it refers to (operations,
// then their files, then the events about them), and returns how many
// deliveries the events created: the store wakes the delivery engines when
// there are any.
func (c *OperationChange) Write(ctx context.Context, w ChangeWriter) (deliveries int, err error) {
	for _, op := range c.Create {
		if op.Version == 0 {
			op.Version = 1
		}
		if err := w.InsertOperation(ctx, op); err != nil {
			return 0, err
		}
	}
	for _, op := range c.Update {
		if err := w.UpdateOperation(ctx, op); err != nil {
			return 0, err
		}
	}
	for _, f := range c.Files {
		if err := w.InsertFile(ctx, f); err != nil {
			return 0, err
		}
	}
	if len(c.Events) == 0 {
		return 0, nil
	}
	planned, err := w.Publish(ctx, c.Events)
	return NewDeliveries(planned), err
}

// OperationFilter narrows ListOperations.
type OperationFilter struct {
	// Kind, when set, lists only operations of that kind.
	Kind OperationKind
}

// OperationStore persists long-running operations and files. It is separate
// from Store while the job sources are built; both adapters (sqlite,
// postgres) will implement it and pass one conformance suite. Methods scoped
// by project answer an ENOTFOUND error for another project's ids.
type OperationStore interface {
	FileStore

	// CommitOperationChange applies c in ONE transaction, or nothing of it:
	//   - inserts every c.Create operation (ECONFLICT if its ID exists);
	//   - writes every c.Update operation whole, under the version check
	//     documented on OperationChange (ENOTFOUND if the row is gone,
	//     ECONFLICT if its Version is not Version-1);
	//   - inserts every c.Files file, with its Content;
	//   - publishes every c.Events event exactly as Store.PublishEvent does
	//     in its own transaction: the store assigns ID and CreateTime,
	//     renders the envelope, and creates one delivery per destination
	//     routing picks — one dynamic delivery per URI when
	//     e.WebhookConfig has URIs, otherwise one static delivery per enabled
	//     webhook of e.ProjectID subscribed to e.Type (OnlyWebhookID and
	//     IdempotencyKey are not used by operations) — and wakes the
	//     delivery engines after the commit.
	// The caller acknowledges the change (answers the API call, considers
	// the step done) only after this returns nil: that is the at-least-once
	// guarantee of job events.
	CommitOperationChange(ctx context.Context, c OperationChange) error
	// GetOperation returns one operation of the project, of any kind.
	GetOperation(ctx context.Context, projectID, id string) (*Operation, error)
	// ListOperations orders by (CreateTime, ID) descending, newest first;
	// Page.After is the last item of the previous page.
	ListOperations(ctx context.Context, projectID string, filter OperationFilter, page Page) ([]*Operation, error)
	// DeleteOperation removes the operation. Its events already committed
	// are still delivered; files it produced are kept (they have their own
	// lifetime).
	DeleteOperation(ctx context.Context, projectID, id string) error
	// ClaimOperations leases up to limit operations of any project whose
	// NextStepTime is due at the store clock's now, earliest first: each
	// claimed row gets NextStepTime = now + lease and Version+1, and is
	// returned as written. A runner that crashes leaves the row to be
	// claimed again when the lease ends; a runner whose lease expired
	// and was re-claimed fails its commit with ECONFLICT (the version moved).
	// Rows with a nil NextStepTime are never claimed.
	ClaimOperations(ctx context.Context, limit int, lease time.Duration) ([]*Operation, error)
}
