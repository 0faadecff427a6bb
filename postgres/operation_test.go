package postgres_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/postgres"
)

// These tests cover webhookd.OperationStore until the backend-neutral suite
// in storetest does; they then stay for what is PostgreSQL's own (claims by
// two stores, chunked uploads).

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

func TestOperationCommitAndRead(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(opEpoch)
	s := newStore(t, clock)
	f := newFixture(t, s, 1)
	ctx := t.Context()

	op := newBatch(f.project.ID, clock.Now())
	out := webhookd.NewFile(f.project.ID, "results.jsonl", "application/jsonl", webhookd.FileGenerated, []byte("{\"a\":1}\n"), clock.Now())
	err := s.CommitOperationChange(ctx, webhookd.OperationChange{
		Create: []*webhookd.Operation{op},
		Files:  []*webhookd.File{out},
		Events: []webhookd.NewEvent{
			{ProjectID: f.project.ID, Type: webhookd.EventBatchSucceeded, Data: json.RawMessage(`{"id":"` + op.ID + `"}`), WebhookConfig: op.WebhookConfig, Source: op.EventSource()},
			{ProjectID: f.project.ID, Type: webhookd.EventBatchSucceeded, Data: json.RawMessage(`{"id":"` + op.ID + `"}`), Source: op.EventSource()},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetOperation(ctx, f.project.ID, op.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Request) != string(op.Request) || got.Version != 1 || got.WebhookConfig == nil ||
		string(got.WebhookConfig.UserMetadata) != `{"job":"n"}` || !got.NextStepTime.Equal(*op.NextStepTime) || got.Result != nil {
		t.Errorf("GetOperation = %+v, want %+v", got, op)
	}
	content, err := s.GetFileContent(ctx, f.project.ID, out.ID)
	if err != nil || string(content) != "{\"a\":1}\n" {
		t.Errorf("GetFileContent = %q, %v", content, err)
	}
	evs, err := s.ListEvents(ctx, f.project.ID, webhookd.EventFilter{}, webhookd.Page{Size: 10})
	if err != nil || len(evs) != 2 {
		t.Fatalf("ListEvents = %d, %v; want the 2 events of the change", len(evs), err)
	}
	st, err := s.QueueStats(ctx)
	if err != nil || st.Pending != 2 {
		t.Errorf("QueueStats = %+v, %v; want 2 deliveries (one dynamic, one static)", st, err)
	}

	_, err = s.GetOperation(ctx, newFixture(t, s, 0).project.ID, op.ID)
	requireCode(t, err, webhookd.ENOTFOUND)
	requireCode(t, s.CommitOperationChange(ctx, webhookd.OperationChange{Create: []*webhookd.Operation{op}}), webhookd.ECONFLICT)
}

// TestOperationUpdateVersionCheck: a writer with a stale copy conflicts,
// and the whole change (here also a create and an event) is rolled back.
func TestOperationUpdateVersionCheck(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(opEpoch)
	s := newStore(t, clock)
	f := newFixture(t, s, 1)
	ctx := t.Context()
	op := newBatch(f.project.ID, clock.Now())
	if err := s.CommitOperationChange(ctx, webhookd.OperationChange{Create: []*webhookd.Operation{op}}); err != nil {
		t.Fatal(err)
	}

	next := op.Clone()
	next.State, next.Version, next.Result = webhookd.BatchRunning, 2, json.RawMessage(`{"progress":1}`)
	if err := s.CommitOperationChange(ctx, webhookd.OperationChange{Update: []*webhookd.Operation{next}}); err != nil {
		t.Fatal(err)
	}

	stale := op.Clone()
	stale.State, stale.Version = webhookd.BatchCancelled, 2
	other := newBatch(f.project.ID, clock.Now())
	err := s.CommitOperationChange(ctx, webhookd.OperationChange{
		Create: []*webhookd.Operation{other},
		Update: []*webhookd.Operation{stale},
		Events: []webhookd.NewEvent{{ProjectID: f.project.ID, Type: webhookd.EventBatchCancelled, Source: "x"}},
	})
	requireCode(t, err, webhookd.ECONFLICT)
	got, err := s.GetOperation(ctx, f.project.ID, op.ID)
	if err != nil || got.State != webhookd.BatchRunning || got.Version != 2 || string(got.Result) != `{"progress":1}` {
		t.Errorf("after a stale update: %+v, %v; want the running version 2", got, err)
	}
	_, err = s.GetOperation(ctx, f.project.ID, other.ID)
	requireCode(t, err, webhookd.ENOTFOUND)
	if evs, _ := s.ListEvents(ctx, f.project.ID, webhookd.EventFilter{}, webhookd.Page{Size: 10}); len(evs) != 0 {
		t.Errorf("a failed change published %d events", len(evs))
	}

	gone := newBatch(f.project.ID, clock.Now())
	gone.Version = 2
	requireCode(t, s.CommitOperationChange(ctx, webhookd.OperationChange{Update: []*webhookd.Operation{gone}}), webhookd.ENOTFOUND)

	if err := s.DeleteOperation(ctx, f.project.ID, op.ID); err != nil {
		t.Fatal(err)
	}
	requireCode(t, s.DeleteOperation(ctx, f.project.ID, op.ID), webhookd.ENOTFOUND)
}

func TestListOperations(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(opEpoch)
	s := newStore(t, clock)
	f := newFixture(t, s, 0)
	ctx := t.Context()
	var all []*webhookd.Operation // newest first
	for i := range 5 {
		op := newBatch(f.project.ID, clock.Now())
		if i%2 == 1 {
			op.ID, op.Kind, op.State = webhookd.NewID(webhookd.PrefixInteraction), webhookd.OperationInteraction, webhookd.InteractionQueued
		}
		if err := s.CommitOperationChange(ctx, webhookd.OperationChange{Create: []*webhookd.Operation{op}}); err != nil {
			t.Fatal(err)
		}
		all = append([]*webhookd.Operation{op}, all...)
		clock.Advance(time.Second)
	}

	var got []string
	page := webhookd.Page{Size: 2}
	for {
		ops, err := s.ListOperations(ctx, f.project.ID, webhookd.OperationFilter{}, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range ops {
			got = append(got, op.ID)
		}
		if len(ops) < page.Size {
			break
		}
		last := ops[len(ops)-1]
		page.After = webhookd.Cursor{Time: last.CreateTime, ID: last.ID}
	}
	for i, op := range all {
		if i >= len(got) || got[i] != op.ID {
			t.Fatalf("paged listing = %v, want newest first %v", got, all)
		}
	}
	ops, err := s.ListOperations(ctx, f.project.ID, webhookd.OperationFilter{Kind: webhookd.OperationInteraction}, webhookd.Page{Size: 10})
	if err != nil || len(ops) != 2 || ops[0].ID != all[1].ID {
		t.Errorf("interactions only = %d, %v", len(ops), err)
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

func TestFiles(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(opEpoch)
	s := newStore(t, clock)
	f := newFixture(t, s, 0)
	ctx := t.Context()

	var files []*webhookd.File
	for _, body := range []string{"one", "two", ""} {
		file := webhookd.NewFile(f.project.ID, body+".txt", "text/plain", webhookd.FileUploaded, []byte(body), clock.Now())
		if err := s.CreateFile(ctx, file); err != nil {
			t.Fatal(err)
		}
		files = append(files, file)
		clock.Advance(time.Second)
	}
	got, err := s.GetFile(ctx, f.project.ID, files[0].ID)
	if err != nil || got.Content != nil || got.SizeBytes != 3 || !bytes.Equal(got.SHA256, files[0].SHA256) || !got.CreateTime.Equal(files[0].CreateTime) {
		t.Errorf("GetFile = %+v, %v", got, err)
	}
	empty, err := s.GetFileContent(ctx, f.project.ID, files[2].ID)
	if err != nil || len(empty) != 0 {
		t.Errorf("GetFileContent of an empty file = %q, %v", empty, err)
	}
	list, err := s.ListFiles(ctx, f.project.ID, webhookd.Page{Size: 2})
	if err != nil || len(list) != 2 || list[0].ID != files[2].ID || list[1].ID != files[1].ID || list[0].Content != nil {
		t.Errorf("ListFiles = %v, %v; want the newest two without content", list, err)
	}
	if err := s.DeleteFile(ctx, f.project.ID, files[0].ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetFileContent(ctx, f.project.ID, files[0].ID)
	requireCode(t, err, webhookd.ENOTFOUND)
	requireCode(t, s.DeleteFile(ctx, f.project.ID, files[0].ID), webhookd.ENOTFOUND)
}

func TestResumableUpload(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(opEpoch)
	s := newStore(t, clock)
	f := newFixture(t, s, 0)
	ctx := t.Context()
	body := bytes.Repeat([]byte("0123456789"), 1000)

	u := &webhookd.UploadSession{ProjectID: f.project.ID, DisplayName: "in.jsonl", MimeType: "application/jsonl", DeclaredSize: int64(len(body))}
	if err := s.CreateUploadSession(ctx, u); err != nil {
		t.Fatal(err)
	}
	if u.ID == "" || u.FileID == "" || !u.ExpireTime.Equal(clock.Now().Add(webhookd.UploadSessionTTL)) {
		t.Fatalf("CreateUploadSession filled in %+v", u)
	}

	_, err := s.AppendUpload(ctx, f.project.ID, u.ID, 0, body[:4000])
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.AppendUpload(ctx, f.project.ID, u.ID, 0, body[:4000])
	requireCode(t, err, webhookd.EPRECONDITION)
	_, err = s.AppendUpload(ctx, f.project.ID, u.ID, 4000, body[4000:]) // fine
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.AppendUpload(ctx, f.project.ID, u.ID, int64(len(body)), []byte("x"))
	requireCode(t, err, webhookd.ETOOLARGE)

	clock.Advance(time.Minute)
	file, err := s.FinalizeUpload(ctx, f.project.ID, u.ID, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if file.ID != u.FileID || file.SizeBytes != int64(len(body)) || !bytes.Equal(file.SHA256, sum[:]) ||
		file.Source != webhookd.FileUploaded || file.State != webhookd.FileActive || !file.CreateTime.Equal(clock.Now()) {
		t.Errorf("FinalizeUpload = %+v", file)
	}
	content, err := s.GetFileContent(ctx, f.project.ID, file.ID)
	if err != nil || !bytes.Equal(content, body) {
		t.Errorf("content of the uploaded file: %d bytes, %v; want the %d bytes sent", len(content), err, len(body))
	}
	_, err = s.GetUploadSession(ctx, f.project.ID, u.ID)
	requireCode(t, err, webhookd.ENOTFOUND)

	short := &webhookd.UploadSession{ProjectID: f.project.ID, DeclaredSize: 10}
	if err := s.CreateUploadSession(ctx, short); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendUpload(ctx, f.project.ID, short.ID, 0, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	_, err = s.FinalizeUpload(ctx, f.project.ID, short.ID, clock.Now())
	requireCode(t, err, webhookd.EPRECONDITION)

	clock.Advance(webhookd.UploadSessionTTL)
	n, err := s.DeleteExpiredUploads(ctx)
	if err != nil || n != 1 {
		t.Errorf("DeleteExpiredUploads = %d, %v; want 1", n, err)
	}
	_, err = s.AppendUpload(ctx, f.project.ID, short.ID, 3, []byte("d"))
	requireCode(t, err, webhookd.ENOTFOUND)
}

var _ webhookd.OperationStore = (*postgres.Store)(nil)
