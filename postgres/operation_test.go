package postgres_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/postgres"
)

// The operations conformance suite runs within storetest.Run
// (TestConformance/Operation); these tests are PostgreSQL's own: claims by
// two stores, as two processes on one database make them.

var opEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newBatch(projectID string, now time.Time) *webhookd.Operation {
	next := now
	return &webhookd.Operation{
		ID:            webhookd.NewID(webhookd.PrefixBatch),
		ProjectID:     projectID,
		Kind:          webhookd.OperationBatch,
		Model:         "gemini-2.5-flash",
		DisplayName:   "nightly",
		State:         webhookd.BatchPending,
		Request:       json.RawMessage(`{"z":1,"a":[{"text":"hi"}]}`),
		WebhookConfig: &webhookd.WebhookConfig{URIs: []string{"https://example.com/dyn"}, UserMetadata: json.RawMessage(`{"job":"n"}`)},
		CreateTime:    now,
		UpdateTime:    now,
		NextStepTime:  &next,
		Version:       1,
	}
}

func requireCode(t *testing.T, err error, want string) {
	t.Helper()
	if got := webhookd.ErrorCode(err); got != want {
		t.Fatalf("error code = %q (err: %v), want %q", got, err, want)
	}
}

// TestClaimOperations: two stores (two processes) claim due operations;
// each is claimed once per lease, with its version bumped so that the
// previous holder's commit conflicts.
func TestClaimOperations(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(opEpoch)
	schema := testSchema(t)
	a, b := openStore(t, schema, clock), openStore(t, schema, clock)
	f := newFixture(t, a, 0)
	ctx := t.Context()
	waiting := newBatch(f.project.ID, clock.Now())
	waiting.NextStepTime = nil
	later := newBatch(f.project.ID, clock.Now())
	later.NextStepTime = ptr(clock.Now().Add(time.Hour))
	first, second := newBatch(f.project.ID, clock.Now()), newBatch(f.project.ID, clock.Now())
	second.NextStepTime = ptr(clock.Now().Add(time.Second))
	if err := a.CommitOperationChange(ctx, webhookd.OperationChange{Create: []*webhookd.Operation{waiting, later, second, first}}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)

	claimed, err := b.ClaimOperations(ctx, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 2 || claimed[0].ID != first.ID || claimed[1].ID != second.ID {
		t.Fatalf("claimed %d operations, want %s then %s", len(claimed), first.ID, second.ID)
	}
	if c := claimed[0]; c.Version != 2 || !c.NextStepTime.Equal(clock.Now().Add(time.Minute)) {
		t.Errorf("claimed operation: version %d, next step %v; want 2, %v", c.Version, c.NextStepTime, clock.Now().Add(time.Minute))
	}
	if again, err := a.ClaimOperations(ctx, 10, time.Minute); err != nil || len(again) != 0 {
		t.Fatalf("second claim within the lease = %d, %v; want none", len(again), err)
	}

	// The lease ends: another runner takes over, and the first one's step,
	// based on version 2, conflicts.
	clock.Advance(time.Minute)
	retaken, err := a.ClaimOperations(ctx, 10, time.Minute)
	if err != nil || len(retaken) != 2 {
		t.Fatalf("claim after the lease = %d operations, %v; want both again", len(retaken), err)
	}
	// Both leases ended at the same instant; the claim breaks the tie by id.
	if retaken[0].ID != claimed[0].ID {
		retaken[0], retaken[1] = retaken[1], retaken[0]
	}
	if retaken[0].ID != first.ID || retaken[0].Version != 3 {
		t.Fatalf("claim after the lease: %s at version %d; want %s at version 3", retaken[0].ID, retaken[0].Version, first.ID)
	}
	step := claimed[0].Clone()
	step.State, step.Version = webhookd.BatchRunning, 3
	requireCode(t, b.CommitOperationChange(ctx, webhookd.OperationChange{Update: []*webhookd.Operation{step}}), webhookd.ECONFLICT)
	step = retaken[0].Clone()
	step.State, step.Version, step.NextStepTime = webhookd.BatchRunning, 4, nil
	if err := a.CommitOperationChange(ctx, webhookd.OperationChange{Update: []*webhookd.Operation{step}}); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

var _ webhookd.OperationStore = (*postgres.Store)(nil)
