package lro_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

func newService(t *testing.T) (*simSetup, *lro.Service) {
	t.Helper()
	s := setupSim(t, nil)
	return s, lro.NewService(s.m, s.store, s.clock, s.driver.Wake)
}

func TestServiceDocumentBatchCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, svc := newService(t)
	// The source document's example, with a file that exists and one that does not.
	doc := func(file string) *lro.BatchRequest {
		return &lro.BatchRequest{Model: "gemini-3-flash-preview", DisplayName: "My Setup", FileName: file, WebhookConfig: &webhookd.WebhookConfig{
			URIs: []string{"https://my-api.com/gemini-webhook-dynamic"}, UserMetadata: json.RawMessage(`{"job_group":"nightly-eval","priority":"high"}`),
		}}
	}
	_, err := svc.CreateBatch(ctx, "prj_1", doc("files/uploadedfileid"))
	if !errors.Is(err, lro.ErrInputFileNotFound) || webhookd.ErrorCode(err) != webhookd.EINVALID ||
		webhookd.ErrorMessage(err) != "File files/uploadedfileid not found; upload it first (ai.files.upload)." {
		t.Fatalf("a batch over a missing file: %v", err)
	}

	input := webhookd.NewFile("prj_1", "in.jsonl", "application/jsonl", webhookd.FileUploaded, []byte(`{"key":"k","request":{"contents":[{"parts":[{"text":"t"}]}]}}`), t0)
	if err := s.store.CreateFile(ctx, input); err != nil {
		t.Fatal(err)
	}
	op, err := svc.CreateBatch(ctx, "prj_1", doc(input.Name()))
	if err != nil {
		t.Fatalf("CreateBatch: %v", err)
	}
	if op.State != webhookd.BatchPending || op.DisplayName != "My Setup" {
		t.Fatalf("created %+v", op)
	}
	for range 2 {
		s.runOnce(t, 1)
		s.clock.Advance(jobDuration)
	}
	if got, err := svc.GetBatch(ctx, "prj_1", op.ID); err != nil || got.State != webhookd.BatchSucceeded {
		t.Fatalf("GetBatch = %+v, %v", got, err)
	}
	evs := s.events(t)
	if len(evs) != 1 || evs[0].WebhookConfig == nil || evs[0].WebhookConfig.URIs[0] != "https://my-api.com/gemini-webhook-dynamic" {
		t.Fatalf("events %+v", evs)
	}
	meta, _ := eventData(t, evs[0])["user_metadata"].(map[string]any)
	if meta["job_group"] != "nightly-eval" || meta["priority"] != "high" {
		t.Fatalf("user_metadata %v", meta)
	}
	// Another kind's id, or another project's, is not a batch.
	if _, err := svc.GetBatch(ctx, "prj_2", op.ID); webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
		t.Errorf("other project: %v", err)
	}
	if _, err := svc.GetInteraction(ctx, "prj_1", op.ID); webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
		t.Errorf("batch read as an interaction: %v", err)
	}
	if err := svc.Delete(ctx, "prj_1", op.ID, webhookd.OperationVideo); webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
		t.Errorf("batch deleted as a video: %v", err)
	}
	if err := svc.Delete(ctx, "prj_1", op.ID, webhookd.OperationBatch); err != nil {
		t.Errorf("Delete = %v", err)
	}
	if _, err := svc.GetOperation(ctx, "prj_1", op.ID); webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
		t.Errorf("deleted batch: %v", err)
	}
}

// racingStore commits a runner step of the operation just before the
// first commit it is asked for, as if the Driver got there first.
type racingStore struct {
	webhookd.OperationStore
	race func()
}

func (r *racingStore) CommitOperationChange(ctx context.Context, c webhookd.OperationChange) error {
	if r.race != nil {
		race := r.race
		r.race = nil
		race()
	}
	return r.OperationStore.CommitOperationChange(ctx, c)
}

func TestServiceCancelRetriesAfterARunnerStep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setupSim(t, nil)
	store := &racingStore{OperationStore: s.store}
	svc := lro.NewService(s.m, store, s.clock, nil)
	op, err := svc.CreateBatch(ctx, "prj_1", inlineReq)
	if err != nil {
		t.Fatal(err)
	}
	store.race = func() { s.runOnce(t, 1) } // PENDING → RUNNING commits between the cancel's read and write
	if got, err := svc.CancelBatch(ctx, "prj_1", op.ID); err != nil || got.State != webhookd.BatchCancelled {
		t.Fatalf("CancelBatch = %+v, %v", got, err)
	}
	got := s.get(t, op.ID)
	if got.State != webhookd.BatchCancelled || got.Version != 4 { // create, claim, step, cancel
		t.Fatalf("after cancel: %s v%d", got.State, got.Version)
	}
	if _, err := svc.CancelBatch(ctx, "prj_1", op.ID); err != nil {
		t.Errorf("cancel again: %v", err)
	}
	evs := s.events(t)
	if len(evs) != 1 || evs[0].Type != webhookd.EventBatchCancelled {
		t.Fatalf("events %+v", evs)
	}
}

func TestServiceListPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, svc := newService(t)
	var want []string
	for i := range 5 {
		s.clock.Advance(time.Microsecond) // the stores keep microseconds
		create := func() (*webhookd.Operation, error) { return svc.CreateInteraction(ctx, "prj_1", sayHi(true)) }
		if i%2 == 0 {
			create = func() (*webhookd.Operation, error) { return svc.CreateBatch(ctx, "prj_1", inlineReq) }
		}
		op, err := create()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, op.ID)
	}
	var got []string
	page := webhookd.Page{Size: 2}
	for {
		ops, next, err := svc.List(ctx, "prj_1", "", page)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range ops {
			got = append(got, op.ID)
		}
		if next.IsZero() {
			break
		}
		page.After = next
	}
	if len(got) != 5 {
		t.Fatalf("listed %v", got)
	}
	for i := range got {
		if got[i] != want[len(want)-1-i] {
			t.Fatalf("listed %v, want newest first %v", got, want)
		}
	}
	batches, next, err := svc.List(ctx, "prj_1", webhookd.OperationBatch, webhookd.Page{})
	if err != nil || len(batches) != 3 || !next.IsZero() {
		t.Fatalf("batches: %d, %v, %v", len(batches), next, err)
	}
}

func TestServiceInteractions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, svc := newService(t)
	unkept := sayHi(false)
	unkept.Store = false
	op, err := svc.CreateInteraction(ctx, "prj_1", unkept)
	if err != nil || op.State != webhookd.InteractionCompleted {
		t.Fatalf("store:false = %+v, %v", op, err)
	}
	if n := s.store.Commits(); n != 0 {
		t.Errorf("store:false kept the interaction (%d commits)", n)
	}
	follow := sayHi(false)
	follow.PreviousInteractionID = "int_missing"
	if _, err := svc.CreateInteraction(ctx, "prj_1", follow); webhookd.ErrorCode(err) != webhookd.EINVALID {
		t.Errorf("a follow-up of a missing interaction: %v", err)
	}

	op, err = svc.CreateInteraction(ctx, "prj_1", sayHi(true))
	if err != nil {
		t.Fatal(err)
	}
	if op, err = svc.CancelInteraction(ctx, "prj_1", op.ID); err != nil || op.State != webhookd.InteractionCancelled {
		t.Fatalf("cancel = %+v, %v", op, err)
	}
	if got, err := svc.GetInteraction(ctx, "prj_1", op.ID); err != nil || got.State != webhookd.InteractionCancelled {
		t.Fatalf("get = %+v, %v", got, err)
	}
	if got, err := svc.GetOperation(ctx, "prj_1", op.ID); err != nil || got.Kind != webhookd.OperationInteraction {
		t.Fatalf("as an operation = %+v, %v", got, err)
	}
}

func TestServiceUploads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, svc := newService(t)
	sess, err := svc.StartUpload(ctx, "prj_1", lro.UploadStart{DisplayName: "in.jsonl", MimeType: "application/jsonl", DeclaredSize: 6})
	if err != nil {
		t.Fatal(err)
	}
	upload := lro.UploadCommand{Upload: true}
	res, err := svc.UploadChunk(ctx, "prj_1", sess.ID, upload, 0, []byte("abc"))
	if err != nil || res.Status != "active" || res.Received != 3 || res.File != nil {
		t.Fatalf("chunk 1: %+v, %v", res, err)
	}
	if _, err := svc.UploadChunk(ctx, "prj_1", sess.ID, upload, 0, []byte("abc")); webhookd.ErrorCode(err) != webhookd.EPRECONDITION {
		t.Fatalf("repeated chunk: %v", err)
	}
	if res, err = svc.UploadChunk(ctx, "prj_1", sess.ID, lro.UploadCommand{Query: true}, -1, nil); err != nil || res.Received != 3 {
		t.Fatalf("query: %+v, %v", res, err)
	}
	res, err = svc.UploadChunk(ctx, "prj_1", sess.ID, lro.UploadCommand{Upload: true, Finalize: true}, -1, []byte("def"))
	if err != nil || res.Status != "final" || res.File == nil || res.File.ID != sess.FileID {
		t.Fatalf("finalize at the end: %+v, %v", res, err)
	}
	file, body, err := svc.DownloadFile(ctx, "prj_1", res.File.Name())
	if err != nil {
		t.Fatal(err)
	}
	if content, err := io.ReadAll(body); err != nil || string(content) != "abcdef" || file.MimeType != "application/jsonl" {
		t.Fatalf("download %q %q %v", content, file.MimeType, err)
	}
	if _, err := svc.UploadChunk(ctx, "prj_1", sess.ID, lro.UploadCommand{Query: true}, -1, nil); webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
		t.Errorf("finished session: %v", err)
	}
	files, next, err := svc.ListFiles(ctx, "prj_1", webhookd.Page{})
	if err != nil || len(files) != 1 || !next.IsZero() {
		t.Fatalf("ListFiles: %d %v %v", len(files), next, err)
	}
	if err := svc.DeleteFile(ctx, "prj_1", res.File.Name()); err != nil {
		t.Fatalf("DeleteFile: %v", err)
	}
	if _, err := svc.GetFile(ctx, "prj_1", res.File.Name()); webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
		t.Errorf("deleted file: %v", err)
	}
}

func TestServiceVideoModelMustMatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, svc := newService(t)
	op, err := svc.CreateVideo(ctx, "prj_1", aCat)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.GetVideo(ctx, "prj_1", "veo-3.0-generate-001", op.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.GetVideo(ctx, "prj_1", "other-model", op.ID); webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
		t.Errorf("another model's path: %v", err)
	}
}
