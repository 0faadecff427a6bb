package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/fakeclock"
)

// The conformance suite of webhookd.OperationStore: long-running
// operations, their files and uploads, and the events their changes publish
// through the outbox.

// OperationHarness is one fresh operation store under test.
type OperationHarness struct {
	Store webhookd.OperationStore
	// Clock is the store's clock: claims and upload expiry read it.
	Clock *fakeclock.Clock
	// NewProject creates a project and returns its id (stores with foreign
	// keys need the row; others may return any new id).
	NewProject func(t *testing.T) string
	// Events lists a project's published events, newest first
	// (Store.ListEvents for the SQL stores).
	Events func(ctx context.Context, projectID string) ([]*webhookd.Event, error)
}

// T0 is when an OperationHarness's clock starts. Times in the suite are
// whole microseconds, the precision PostgreSQL keeps.
var T0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// RunOperations runs the conformance suite of webhookd.OperationStore;
// setup returns a fresh harness, its clock at T0, for each subtest. Run
// runs it on every Store (the group "Operation"); a store of operations
// only, such as lrotest.MemStore, runs it alone.
func RunOperations(t *testing.T, setup func(t *testing.T) OperationHarness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h OperationHarness)
	}{
		{"CreateAndGet", testCreateAndGet},
		{"CreateTwiceConflicts", testCreateTwice},
		{"UpdateChecksVersion", testUpdateVersion},
		{"ChangeIsAtomic", testAtomic},
		{"EventsCommitWithChange", testEvents},
		{"ProjectScope", testProjectScope},
		{"ListNewestFirst", testList},
		{"Delete", testDelete},
		{"ClaimLeases", testClaims},
		{"Files", testFiles},
		{"Uploads", testUploads},
		{"FilesReadInPieces", testFilePieces},
		{"UploadsWithinQuota", testQuota},
		{"FilesExpire", testFileExpiry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, setup(t))
		})
	}
}

// newOp returns an operation with every field set.
func newOperation(projectID string, kind webhookd.OperationKind, created time.Time) *webhookd.Operation {
	prefix := map[webhookd.OperationKind]string{
		webhookd.OperationBatch: webhookd.PrefixBatch, webhookd.OperationInteraction: webhookd.PrefixInteraction, webhookd.OperationVideo: webhookd.PrefixVideo,
	}[kind]
	expire := created.Add(24 * time.Hour)
	return &webhookd.Operation{
		ID: webhookd.NewID(prefix), ProjectID: projectID, Kind: kind, Model: "gemini-2.5-flash", DisplayName: "nightly",
		State:         webhookd.BatchPending,
		Request:       json.RawMessage(`{"model":"gemini-2.5-flash","requests":[{"request":{"contents":[]}}]}`),
		WebhookConfig: &webhookd.WebhookConfig{URIs: []string{"https://example.test/h"}, UserMetadata: json.RawMessage(`{"job":"nightly","n":1}`)},
		CreateTime:    created, UpdateTime: created, ExpireTime: &expire, NextStepTime: &created, Version: 1,
	}
}

func commitChange(t *testing.T, h OperationHarness, c webhookd.OperationChange) {
	t.Helper()
	if err := h.Store.CommitOperationChange(context.Background(), c); err != nil {
		t.Fatalf("CommitOperationChange: %v", err)
	}
}

func sameJSON(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

func timeEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// checkOp compares a stored operation with what was written. JSON columns
// are compared by value: a store may re-encode them (PostgreSQL jsonb).
func checkOp(t *testing.T, got, want *webhookd.Operation) {
	t.Helper()
	ok := got.ID == want.ID && got.ProjectID == want.ProjectID && got.Kind == want.Kind && got.Model == want.Model &&
		got.Agent == want.Agent && got.DisplayName == want.DisplayName && got.State == want.State &&
		sameJSON(got.Request, want.Request) && sameJSON(got.Result, want.Result) &&
		got.ErrorCode == want.ErrorCode && got.ErrorMessage == want.ErrorMessage &&
		got.CreateTime.Equal(want.CreateTime) && got.UpdateTime.Equal(want.UpdateTime) &&
		timeEqual(got.EndTime, want.EndTime) && timeEqual(got.ExpireTime, want.ExpireTime) &&
		timeEqual(got.NextStepTime, want.NextStepTime) && got.Version == want.Version
	if (got.WebhookConfig == nil) != (want.WebhookConfig == nil) {
		ok = false
	} else if want.WebhookConfig != nil {
		ok = ok && reflect.DeepEqual(got.WebhookConfig.URIs, want.WebhookConfig.URIs) &&
			sameJSON(got.WebhookConfig.UserMetadata, want.WebhookConfig.UserMetadata)
	}
	if !ok {
		t.Fatalf("stored operation differs\n got: %+v\nwant: %+v", got, want)
	}
}

func testCreateAndGet(t *testing.T, h OperationHarness) {
	ctx := context.Background()
	p := h.NewProject(t)
	full := newOperation(p, webhookd.OperationBatch, T0)
	full.Result = json.RawMessage(`{"responses_file":"files/x"}`)
	full.ErrorCode, full.ErrorMessage = "INVALID_ARGUMENT", "all failed"
	end := T0.Add(time.Second)
	full.EndTime = &end
	bare := &webhookd.Operation{ID: webhookd.NewID(webhookd.PrefixInteraction), ProjectID: p, Kind: webhookd.OperationInteraction,
		Agent: "deep-research-x", State: webhookd.InteractionCompleted, Request: json.RawMessage(`{}`), CreateTime: T0, UpdateTime: T0, Version: 1}
	commitChange(t, h, webhookd.OperationChange{Create: []*webhookd.Operation{full, bare}})
	for _, want := range []*webhookd.Operation{full, bare} {
		got, err := h.Store.GetOperation(ctx, p, want.ID)
		if err != nil {
			t.Fatalf("GetOperation: %v", err)
		}
		checkOp(t, got, want)
	}
}

func testCreateTwice(t *testing.T, h OperationHarness) {
	ctx := context.Background()
	p := h.NewProject(t)
	op := newOperation(p, webhookd.OperationBatch, T0)
	commitChange(t, h, webhookd.OperationChange{Create: []*webhookd.Operation{op}})
	again := webhookd.OperationChange{
		Create: []*webhookd.Operation{op},
		Events: []webhookd.NewEvent{{ProjectID: p, Type: webhookd.EventBatchCancelled, Data: json.RawMessage(`{"id":"x"}`)}},
	}
	requireCode(t, h.Store.CommitOperationChange(ctx, again), webhookd.ECONFLICT)
	if evs, err := h.Events(ctx, p); err != nil || len(evs) != 0 {
		t.Fatalf("a failed create published %d events (err %v)", len(evs), err)
	}
}

func testUpdateVersion(t *testing.T, h OperationHarness) {
	ctx := context.Background()
	p := h.NewProject(t)
	op := newOperation(p, webhookd.OperationBatch, T0)
	commitChange(t, h, webhookd.OperationChange{Create: []*webhookd.Operation{op}})

	v2 := op.Clone()
	v2.Version, v2.State, v2.UpdateTime = 2, webhookd.BatchRunning, T0.Add(time.Second)
	v2.NextStepTime, v2.WebhookConfig = nil, nil
	commitChange(t, h, webhookd.OperationChange{Update: []*webhookd.Operation{v2}})
	got, err := h.Store.GetOperation(ctx, p, op.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkOp(t, got, v2)

	stale := v2.Clone() // written from the same read as v2
	stale.State = webhookd.BatchCancelled
	requireCode(t, h.Store.CommitOperationChange(ctx, webhookd.OperationChange{Update: []*webhookd.Operation{stale}}), webhookd.ECONFLICT)
	ahead := v2.Clone()
	ahead.Version = 9
	requireCode(t, h.Store.CommitOperationChange(ctx, webhookd.OperationChange{Update: []*webhookd.Operation{ahead}}), webhookd.ECONFLICT)
	missing := newOperation(p, webhookd.OperationBatch, T0)
	missing.Version = 2
	requireCode(t, h.Store.CommitOperationChange(ctx, webhookd.OperationChange{Update: []*webhookd.Operation{missing}}), webhookd.ENOTFOUND)
	got, err = h.Store.GetOperation(ctx, p, op.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkOp(t, got, v2)
}

func testAtomic(t *testing.T, h OperationHarness) {
	ctx := context.Background()
	p := h.NewProject(t)
	a, b := newOperation(p, webhookd.OperationInteraction, T0), newOperation(p, webhookd.OperationInteraction, T0)
	commitChange(t, h, webhookd.OperationChange{Create: []*webhookd.Operation{a, b}})
	good := a.Clone()
	good.Version, good.State = 2, webhookd.InteractionCompleted
	bad := b.Clone()
	bad.Version = 3 // b is at 1: conflict
	created := newOperation(p, webhookd.OperationInteraction, T0)
	file := webhookd.NewFile(p, "out", "text/plain", webhookd.FileGenerated, []byte("x"), T0)
	err := h.Store.CommitOperationChange(ctx, webhookd.OperationChange{
		Create: []*webhookd.Operation{created},
		Update: []*webhookd.Operation{good, bad},
		Files:  []*webhookd.File{file},
		Events: []webhookd.NewEvent{{ProjectID: p, Type: webhookd.EventInteractionCompleted, Data: json.RawMessage(`{"id":"x"}`)}},
	})
	requireCode(t, err, webhookd.ECONFLICT)
	if got, err := h.Store.GetOperation(ctx, p, a.ID); err != nil || got.Version != 1 || got.State != a.State {
		t.Fatalf("a failed change updated %s: %+v, %v", a.ID, got, err)
	}
	_, err = h.Store.GetOperation(ctx, p, created.ID)
	requireCode(t, err, webhookd.ENOTFOUND)
	_, err = h.Store.GetFile(ctx, p, file.ID)
	requireCode(t, err, webhookd.ENOTFOUND)
	if evs, err := h.Events(ctx, p); err != nil || len(evs) != 0 {
		t.Fatalf("a failed change published %d events (err %v)", len(evs), err)
	}
}

func testEvents(t *testing.T, h OperationHarness) {
	ctx := context.Background()
	p := h.NewProject(t)
	op := newOperation(p, webhookd.OperationBatch, T0)
	commitChange(t, h, webhookd.OperationChange{Create: []*webhookd.Operation{op}})
	done := op.Clone()
	done.Version, done.State = 2, webhookd.BatchSucceeded
	file := webhookd.NewFile(p, "results.jsonl", "application/jsonl", webhookd.FileGenerated, []byte("{}\n"), T0)
	data := json.RawMessage(`{"id":"` + op.ID + `","output_file_uri":"https://x.test/f","error_count":0,"user_metadata":{"job":"nightly","n":1}}`)
	commitChange(t, h, webhookd.OperationChange{
		Update: []*webhookd.Operation{done},
		Files:  []*webhookd.File{file},
		Events: []webhookd.NewEvent{{ProjectID: p, Type: webhookd.EventBatchSucceeded, Data: data, WebhookConfig: op.WebhookConfig, Source: op.EventSource()}},
	})
	evs, err := h.Events(ctx, p)
	if err != nil || len(evs) != 1 {
		t.Fatalf("events: %d, %v; want 1", len(evs), err)
	}
	ev := evs[0]
	var env webhookd.Envelope
	if err := json.Unmarshal(ev.Payload, &env); err != nil {
		t.Fatalf("payload %s: %v", ev.Payload, err)
	}
	if ev.Type != webhookd.EventBatchSucceeded || ev.Source != "operation:batches/"+op.ID || env.Type != ev.Type ||
		env.Version != webhookd.EnvelopeVersion || !sameJSON(env.Data, data) ||
		ev.WebhookConfig == nil || !reflect.DeepEqual(ev.WebhookConfig.URIs, op.WebhookConfig.URIs) {
		t.Fatalf("event %+v, envelope %+v", ev, env)
	}
	content, err := webhookd.ReadFileContent(ctx, h.Store, p, file.ID)
	if err != nil || !bytes.Equal(content, file.Content) {
		t.Fatalf("file written with the change: %q, %v", content, err)
	}
}

func testProjectScope(t *testing.T, h OperationHarness) {
	ctx := context.Background()
	p, other := h.NewProject(t), h.NewProject(t)
	op := newOperation(p, webhookd.OperationVideo, T0)
	file := webhookd.NewFile(p, "v.mp4", "video/mp4", webhookd.FileGenerated, []byte("v"), T0)
	commitChange(t, h, webhookd.OperationChange{Create: []*webhookd.Operation{op}, Files: []*webhookd.File{file}})
	_, err := h.Store.GetOperation(ctx, other, op.ID)
	requireCode(t, err, webhookd.ENOTFOUND)
	requireCode(t, h.Store.DeleteOperation(ctx, other, op.ID), webhookd.ENOTFOUND)
	_, err = h.Store.GetFile(ctx, other, file.ID)
	requireCode(t, err, webhookd.ENOTFOUND)
	if piece, err := h.Store.ReadFileChunk(ctx, other, file.ID, 0, nil); !errors.Is(err, io.EOF) || len(piece) != 0 {
		t.Fatalf("ReadFileChunk of another project's file = %q, %v; want nothing and io.EOF", piece, err)
	}
	requireCode(t, h.Store.DeleteFile(ctx, other, file.ID), webhookd.ENOTFOUND)
	foreign := op.Clone()
	foreign.ProjectID, foreign.Version = other, 2
	requireCode(t, h.Store.CommitOperationChange(ctx, webhookd.OperationChange{Update: []*webhookd.Operation{foreign}}), webhookd.ENOTFOUND)
	if ops, err := h.Store.ListOperations(ctx, other, webhookd.OperationFilter{}, webhookd.Page{Size: 10}); err != nil || len(ops) != 0 {
		t.Fatalf("other project lists %d operations, %v", len(ops), err)
	}
	if files, err := h.Store.ListFiles(ctx, other, webhookd.Page{Size: 10}); err != nil || len(files) != 0 {
		t.Fatalf("other project lists %d files, %v", len(files), err)
	}
}

func testList(t *testing.T, h OperationHarness) {
	ctx := context.Background()
	p := h.NewProject(t)
	kinds := []webhookd.OperationKind{webhookd.OperationBatch, webhookd.OperationVideo, webhookd.OperationBatch, webhookd.OperationInteraction, webhookd.OperationBatch}
	var ops []*webhookd.Operation
	for i, k := range kinds {
		ops = append(ops, newOperation(p, k, T0.Add(time.Duration(i%3)*time.Millisecond))) // ties on time: ID breaks them
	}
	commitChange(t, h, webhookd.OperationChange{Create: ops})

	var all []*webhookd.Operation
	page := webhookd.Page{Size: 2}
	for {
		got, err := h.Store.ListOperations(ctx, p, webhookd.OperationFilter{}, page)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, got...)
		if len(got) < page.Size {
			break
		}
		last := got[len(got)-1]
		page.After = webhookd.Cursor{Time: last.CreateTime, ID: last.ID}
	}
	if len(all) != len(ops) {
		t.Fatalf("paged through %d operations, want %d", len(all), len(ops))
	}
	for i := 1; i < len(all); i++ {
		a, b := all[i-1], all[i]
		if a.CreateTime.Before(b.CreateTime) || (a.CreateTime.Equal(b.CreateTime) && a.ID < b.ID) {
			t.Fatalf("not newest first at %d: %s %s then %s %s", i, a.CreateTime, a.ID, b.CreateTime, b.ID)
		}
	}
	batches, err := h.Store.ListOperations(ctx, p, webhookd.OperationFilter{Kind: webhookd.OperationBatch}, webhookd.Page{Size: 10})
	if err != nil || len(batches) != 3 {
		t.Fatalf("batches: %d, %v; want 3", len(batches), err)
	}
	for _, b := range batches {
		if b.Kind != webhookd.OperationBatch {
			t.Fatalf("kind filter returned %s", b.Kind)
		}
	}
}

func testDelete(t *testing.T, h OperationHarness) {
	ctx := context.Background()
	p := h.NewProject(t)
	op := newOperation(p, webhookd.OperationBatch, T0)
	commitChange(t, h, webhookd.OperationChange{Create: []*webhookd.Operation{op}})
	if err := h.Store.DeleteOperation(ctx, p, op.ID); err != nil {
		t.Fatal(err)
	}
	_, err := h.Store.GetOperation(ctx, p, op.ID)
	requireCode(t, err, webhookd.ENOTFOUND)
	requireCode(t, h.Store.DeleteOperation(ctx, p, op.ID), webhookd.ENOTFOUND)
}

func testClaims(t *testing.T, h OperationHarness) {
	ctx := context.Background()
	p := h.NewProject(t)
	now := h.Clock.Now()
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	late, early, future, idle := newOperation(p, webhookd.OperationBatch, T0), newOperation(p, webhookd.OperationVideo, T0), newOperation(p, webhookd.OperationBatch, T0), newOperation(p, webhookd.OperationBatch, T0)
	late.NextStepTime, early.NextStepTime, future.NextStepTime, idle.NextStepTime = at(0), at(-time.Minute), at(time.Hour), nil
	commitChange(t, h, webhookd.OperationChange{Create: []*webhookd.Operation{late, early, future, idle}})

	got, err := h.Store.ClaimOperations(ctx, 1, 30*time.Second)
	if err != nil || len(got) != 1 || got[0].ID != early.ID {
		t.Fatalf("first claim: %v, %v; want the earliest due", opIDs(got), err)
	}
	if got[0].Version != 2 || !got[0].NextStepTime.Equal(now.Add(30*time.Second)) {
		t.Fatalf("claimed: version %d next %v; want 2 and the lease end", got[0].Version, got[0].NextStepTime)
	}
	claimed := got[0]
	got, err = h.Store.ClaimOperations(ctx, 10, 30*time.Second)
	if err != nil || len(got) != 1 || got[0].ID != late.ID {
		t.Fatalf("second claim: %v, %v; want only the other due one", opIDs(got), err)
	}
	if got, _ := h.Store.ClaimOperations(ctx, 10, 30*time.Second); len(got) != 0 {
		t.Fatalf("claimed again before any lease ended: %v", opIDs(got))
	}

	// The lease ends: another runner claims it, and the first runner's commit is stale.
	h.Clock.Advance(31 * time.Second)
	got, err = h.Store.ClaimOperations(ctx, 10, 30*time.Second)
	if err != nil || len(got) != 2 {
		t.Fatalf("after the leases: %v, %v; want both again", opIDs(got), err)
	}
	step := claimed.Clone()
	step.Version++
	step.State, step.NextStepTime = webhookd.VideoDone, nil
	requireCode(t, h.Store.CommitOperationChange(ctx, webhookd.OperationChange{Update: []*webhookd.Operation{step}}), webhookd.ECONFLICT)
	for _, op := range got {
		if op.ID == early.ID {
			step = op.Clone()
			step.Version++
			step.State, step.NextStepTime = webhookd.VideoDone, nil
		}
	}
	commitChange(t, h, webhookd.OperationChange{Update: []*webhookd.Operation{step}})
	h.Clock.Advance(2 * time.Hour)
	got, err = h.Store.ClaimOperations(ctx, 10, 30*time.Second)
	if err != nil || len(got) != 2 || got[0].ID != late.ID || got[1].ID != future.ID {
		t.Fatalf("later claim: %v, %v; want %s then %s (finished and idle ones never)", opIDs(got), err, late.ID, future.ID)
	}
}

func opIDs(ops []*webhookd.Operation) []string {
	out := make([]string, 0, len(ops))
	for _, op := range ops {
		out = append(out, op.ID)
	}
	return out
}

func testFiles(t *testing.T, h OperationHarness) {
	ctx := context.Background()
	p := h.NewProject(t)
	a := webhookd.NewFile(p, "a.jsonl", "application/jsonl", webhookd.FileUploaded, []byte("line\n"), T0)
	b := webhookd.NewFile(p, "b.mp4", "video/mp4", webhookd.FileGenerated, []byte{0, 1, 2}, T0.Add(time.Second))
	for _, f := range []*webhookd.File{a, b} {
		if err := h.Store.CreateFile(ctx, f); err != nil {
			t.Fatalf("CreateFile: %v", err)
		}
	}
	requireCode(t, h.Store.CreateFile(ctx, a), webhookd.ECONFLICT)
	got, err := h.Store.GetFile(ctx, p, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Content != nil || got.ID != a.ID || got.DisplayName != a.DisplayName || got.MimeType != a.MimeType || got.SizeBytes != 5 ||
		!bytes.Equal(got.SHA256, a.SHA256) || got.Source != a.Source || got.State != a.State || !got.CreateTime.Equal(T0) {
		t.Fatalf("GetFile = %+v", got)
	}
	content, err := webhookd.ReadFileContent(ctx, h.Store, p, b.ID)
	if err != nil || !bytes.Equal(content, b.Content) {
		t.Fatalf("ReadFileContent = %v, %v", content, err)
	}
	empty := webhookd.NewFile(p, "empty.txt", "text/plain", webhookd.FileUploaded, nil, T0)
	if err := h.Store.CreateFile(ctx, empty); err != nil {
		t.Fatal(err)
	}
	if content, err := webhookd.ReadFileContent(ctx, h.Store, p, empty.ID); err != nil || len(content) != 0 {
		t.Fatalf("ReadFileContent of an empty file = %q, %v", content, err)
	}
	if err := h.Store.DeleteFile(ctx, p, empty.ID); err != nil {
		t.Fatal(err)
	}
	list, err := h.Store.ListFiles(ctx, p, webhookd.Page{Size: 1})
	if err != nil || len(list) != 1 || list[0].ID != b.ID || list[0].Content != nil {
		t.Fatalf("ListFiles page 1 = %+v, %v", list, err)
	}
	list, err = h.Store.ListFiles(ctx, p, webhookd.Page{Size: 1, After: webhookd.Cursor{Time: b.CreateTime, ID: b.ID}})
	if err != nil || len(list) != 1 || list[0].ID != a.ID {
		t.Fatalf("ListFiles page 2 = %+v, %v", list, err)
	}
	if err := h.Store.DeleteFile(ctx, p, a.ID); err != nil {
		t.Fatal(err)
	}
	_, err = webhookd.ReadFileContent(ctx, h.Store, p, a.ID)
	requireCode(t, err, webhookd.ENOTFOUND)
	if piece, err := h.Store.ReadFileChunk(ctx, p, a.ID, 0, nil); !errors.Is(err, io.EOF) || len(piece) != 0 {
		t.Fatalf("ReadFileChunk of a deleted file = %q, %v; want nothing and io.EOF", piece, err)
	}
}

func testUploads(t *testing.T, h OperationHarness) {
	ctx := context.Background()
	p := h.NewProject(t)
	now := h.Clock.Now()
	s := &webhookd.UploadSession{ID: webhookd.NewID("upl_"), ProjectID: p, FileID: webhookd.NewID(webhookd.PrefixFile),
		DisplayName: "in.jsonl", MimeType: "application/jsonl", DeclaredSize: 6, CreateTime: now, ExpireTime: now.Add(time.Hour)}
	if err := h.Store.CreateUploadSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := h.Store.AppendUpload(ctx, p, s.ID, 0, []byte("ab"), 0)
	if err != nil || got.Received != 2 {
		t.Fatalf("append: %+v, %v", got, err)
	}
	if got, err = h.Store.AppendUpload(ctx, p, s.ID, 2, []byte("c"), 0); err != nil || got.Received != 3 {
		t.Fatalf("append a second chunk: %+v, %v", got, err)
	}
	if got, err = h.Store.AppendUpload(ctx, p, s.ID, 3, nil, 0); err != nil || got.Received != 3 {
		t.Fatalf("append nothing: %+v, %v", got, err)
	}
	_, err = h.Store.AppendUpload(ctx, p, s.ID, 0, []byte("abc"), 0)
	requireCode(t, err, webhookd.EPRECONDITION)
	_, err = h.Store.AppendUpload(ctx, p, s.ID, 3, []byte("defg"), 0)
	requireCode(t, err, webhookd.ETOOLARGE)
	_, err = h.Store.FinalizeUpload(ctx, p, s.ID, now)
	requireCode(t, err, webhookd.EPRECONDITION)
	if got, err := h.Store.GetUploadSession(ctx, p, s.ID); err != nil || got.Received != 3 || got.FileID != s.FileID {
		t.Fatalf("session after refused chunks: %+v, %v", got, err)
	}
	if _, err := h.Store.AppendUpload(ctx, p, s.ID, 3, []byte("def"), 0); err != nil {
		t.Fatal(err)
	}
	h.Clock.Advance(time.Minute)
	f, err := h.Store.FinalizeUpload(ctx, p, s.ID, h.Clock.Now())
	sum := sha256.Sum256([]byte("abcdef"))
	if err != nil || f.ID != s.FileID || f.SizeBytes != 6 || f.Source != webhookd.FileUploaded || f.State != webhookd.FileActive ||
		!bytes.Equal(f.SHA256, sum[:]) || !f.CreateTime.Equal(h.Clock.Now()) || f.DisplayName != s.DisplayName || f.MimeType != s.MimeType {
		t.Fatalf("finalize: %+v, %v", f, err)
	}
	content, err := webhookd.ReadFileContent(ctx, h.Store, p, s.FileID)
	if err != nil || string(content) != "abcdef" {
		t.Fatalf("uploaded content %q, %v", content, err)
	}
	if want := sha256.Sum256([]byte("abcdef")); !bytes.Equal(f.SHA256, want[:]) {
		t.Fatalf("uploaded file's SHA-256 %x, want %x", f.SHA256, want)
	}
	_, err = h.Store.GetUploadSession(ctx, p, s.ID)
	requireCode(t, err, webhookd.ENOTFOUND)

	stale := &webhookd.UploadSession{ID: webhookd.NewID("upl_"), ProjectID: p, FileID: webhookd.NewID(webhookd.PrefixFile),
		DeclaredSize: -1, CreateTime: now, ExpireTime: now.Add(time.Hour)}
	if err := h.Store.CreateUploadSession(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if n, err := h.Store.DeleteExpiredUploads(ctx); err != nil || n != 0 {
		t.Fatalf("DeleteExpiredUploads before expiry: %d, %v", n, err)
	}
	h.Clock.Advance(time.Hour)
	if n, err := h.Store.DeleteExpiredUploads(ctx); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredUploads at expiry: %d, %v; want 1", n, err)
	}
}

// operations runs the operations suite on a fresh Store per subtest, and
// what only a whole Store can show: the events of a change are routed to
// deliveries in the change's transaction.
func (s suite) operations(t *testing.T) {
	RunOperations(t, func(t *testing.T) OperationHarness {
		clock := fakeclock.New(T0)
		store := s.newStore(t, clock)
		return OperationHarness{
			Store: store,
			Clock: clock,
			NewProject: func(t *testing.T) string {
				p := &webhookd.Project{Name: webhookd.NewID("p")}
				if err := store.CreateProject(t.Context(), p); err != nil {
					t.Fatal(err)
				}
				return p.ID
			},
			Events: func(ctx context.Context, projectID string) ([]*webhookd.Event, error) {
				return store.ListEvents(ctx, projectID, webhookd.EventFilter{}, webhookd.Page{})
			},
		}
	})
	s.test(t, "EventsOfAChangeAreDelivered", func(t *testing.T, b *bundle) {
		b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		op := newOperation(b.project.ID, webhookd.OperationBatch, b.clock.Now())
		data := json.RawMessage(`{"id":"` + op.ID + `"}`)
		must(t, b.store.CommitOperationChange(b.ctx, webhookd.OperationChange{
			Create: []*webhookd.Operation{op},
			Events: []webhookd.NewEvent{
				{ProjectID: b.project.ID, Type: webhookd.EventBatchSucceeded, Data: data, WebhookConfig: op.WebhookConfig, Source: op.EventSource()},
				{ProjectID: b.project.ID, Type: webhookd.EventBatchSucceeded, Data: data, Source: op.EventSource()},
			},
		}))
		st, err := b.store.QueueStats(b.ctx)
		must(t, err)
		if st.Pending != 2 {
			t.Fatalf("QueueStats = %+v; want 2 pending deliveries (one dynamic, one static)", st)
		}
	})
}

// testFilePieces: a file's content is read back a piece at a time, no piece
// larger than webhookd.FileChunkSize for a file created whole; an upload in
// chunks of other sizes reads back whole, with its digest.
func testFilePieces(t *testing.T, h OperationHarness) {
	ctx := context.Background()
	p := h.NewProject(t)
	content := make([]byte, 2*webhookd.FileChunkSize+12345)
	for i := range content {
		content[i] = byte(i * 7)
	}
	f := webhookd.NewFile(p, "big.jsonl", "application/jsonl", webhookd.FileGenerated, content, T0)
	if err := h.Store.CreateFile(ctx, f); err != nil {
		t.Fatal(err)
	}
	var got []byte
	var buf []byte
	for off := int64(0); ; {
		piece, err := h.Store.ReadFileChunk(ctx, p, f.ID, off, buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || len(piece) == 0 || len(piece) > webhookd.FileChunkSize {
			t.Fatalf("ReadFileChunk at %d: %d bytes, %v; want 1 to %d bytes", off, len(piece), err, webhookd.FileChunkSize)
		}
		got = append(got, piece...)
		off += int64(len(piece))
		buf = piece
	}
	if !bytes.Equal(got, content) {
		t.Fatalf("pieces of %d bytes in all, want the %d bytes written", len(got), len(content))
	}
	if piece, err := h.Store.ReadFileChunk(ctx, p, f.ID, 1, nil); !errors.Is(err, io.EOF) || len(piece) != 0 {
		t.Fatalf("ReadFileChunk inside a piece = %d bytes, %v; want io.EOF", len(piece), err)
	}

	now := h.Clock.Now()
	s := &webhookd.UploadSession{ID: webhookd.NewID("upl_"), ProjectID: p, FileID: webhookd.NewID(webhookd.PrefixFile),
		DeclaredSize: -1, CreateTime: now, ExpireTime: now.Add(time.Hour)}
	if err := h.Store.CreateUploadSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	chunks := [][]byte{content[:1000], content[1000 : 1000+webhookd.FileChunkSize], content[1000+webhookd.FileChunkSize:]}
	var off int64
	for _, c := range chunks {
		if _, err := h.Store.AppendUpload(ctx, p, s.ID, off, c, 0); err != nil {
			t.Fatal(err)
		}
		off += int64(len(c))
	}
	uf, err := h.Store.FinalizeUpload(ctx, p, s.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(content); uf.SizeBytes != int64(len(content)) || !bytes.Equal(uf.SHA256, sum[:]) {
		t.Fatalf("uploaded file: %d bytes, SHA-256 %x; want %d, %x", uf.SizeBytes, uf.SHA256, len(content), sum)
	}
	var r bytes.Buffer
	if _, err := io.Copy(&r, webhookd.NewFileReader(ctx, h.Store, uf)); err != nil || !bytes.Equal(r.Bytes(), content) {
		t.Fatalf("NewFileReader of the upload: %d bytes, %v", r.Len(), err)
	}
}

// testQuota: an append that would take the project's files and unfinished
// uploads past the quota fails with EEXHAUSTED and changes nothing; other
// projects are not counted; no quota is no limit.
func testQuota(t *testing.T, h OperationHarness) {
	ctx := context.Background()
	p, other := h.NewProject(t), h.NewProject(t)
	for _, f := range []*webhookd.File{
		webhookd.NewFile(p, "a", "text/plain", webhookd.FileGenerated, make([]byte, 100), T0),
		webhookd.NewFile(other, "b", "text/plain", webhookd.FileGenerated, make([]byte, 1000), T0),
	} {
		if err := h.Store.CreateFile(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	now := h.Clock.Now()
	s := &webhookd.UploadSession{ID: webhookd.NewID("upl_"), ProjectID: p, FileID: webhookd.NewID(webhookd.PrefixFile),
		DeclaredSize: -1, CreateTime: now, ExpireTime: now.Add(time.Hour)}
	if err := h.Store.CreateUploadSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Store.AppendUpload(ctx, p, s.ID, 0, make([]byte, 50), 200); err != nil {
		t.Fatalf("append within the quota: %v", err)
	}
	if used, err := h.Store.FileUsage(ctx, p); err != nil || used != 150 {
		t.Fatalf("FileUsage = %d, %v; want 150 (a file of 100, an upload of 50)", used, err)
	}
	_, err := h.Store.AppendUpload(ctx, p, s.ID, 50, make([]byte, 51), 200)
	requireCode(t, err, webhookd.EEXHAUSTED)
	if got, err := h.Store.GetUploadSession(ctx, p, s.ID); err != nil || got.Received != 50 {
		t.Fatalf("session after the refused chunk: %+v, %v; want 50 bytes received", got, err)
	}
	if _, err := h.Store.AppendUpload(ctx, p, s.ID, 50, make([]byte, 50), 200); err != nil {
		t.Fatalf("append to exactly the quota: %v", err)
	}
	if _, err := h.Store.AppendUpload(ctx, p, s.ID, 100, make([]byte, 5000), 0); err != nil {
		t.Fatalf("append without a quota: %v", err)
	}
	if _, err := h.Store.FinalizeUpload(ctx, p, s.ID, now); err != nil {
		t.Fatal(err)
	}
	if used, err := h.Store.FileUsage(ctx, p); err != nil || used != 5200 {
		t.Fatalf("FileUsage after finalize = %d, %v; want 5200", used, err)
	}
	if used, err := h.Store.FileUsage(ctx, other); err != nil || used != 1000 {
		t.Fatalf("FileUsage of the other project = %d, %v; want 1000", used, err)
	}
}

// testFileExpiry: files past their ExpireTime are deleted, oldest expiry
// first and at most limit at a time, with their content; files without one
// (uploads) and those not yet due stay.
func testFileExpiry(t *testing.T, h OperationHarness) {
	ctx := context.Background()
	p := h.NewProject(t)
	now := h.Clock.Now()
	var files []*webhookd.File
	for i, exp := range []time.Duration{2 * time.Hour, time.Hour, 3 * time.Hour, 0} {
		f := webhookd.NewFile(p, fmt.Sprint(i), "text/plain", webhookd.FileGenerated, []byte("output"), now)
		if exp > 0 {
			at := now.Add(exp)
			f.ExpireTime = &at
		}
		if err := h.Store.CreateFile(ctx, f); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if n, err := h.Store.DeleteExpiredFiles(ctx, 10); err != nil || n != 0 {
		t.Fatalf("DeleteExpiredFiles before any expiry: %d, %v", n, err)
	}
	h.Clock.Advance(2 * time.Hour)
	if n, err := h.Store.DeleteExpiredFiles(ctx, 1); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredFiles with limit 1: %d, %v; want 1", n, err)
	}
	_, err := h.Store.GetFile(ctx, p, files[1].ID) // the oldest expiry
	requireCode(t, err, webhookd.ENOTFOUND)
	if n, err := h.Store.DeleteExpiredFiles(ctx, 10); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredFiles at the second expiry: %d, %v; want 1", n, err)
	}
	if piece, err := h.Store.ReadFileChunk(ctx, p, files[0].ID, 0, nil); !errors.Is(err, io.EOF) || len(piece) != 0 {
		t.Fatalf("content of an expired file: %q, %v; want none", piece, err)
	}
	for _, f := range []*webhookd.File{files[2], files[3]} {
		if _, err := h.Store.GetFile(ctx, p, f.ID); err != nil {
			t.Errorf("file %s (not due) after DeleteExpiredFiles: %v", f.DisplayName, err)
		}
	}
}
