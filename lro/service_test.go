package lro_test

import (
	"context"
	"encoding/json"
	"strings"
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

func field(t *testing.T, raw json.RawMessage, path ...string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	return v
}

func TestServiceDocumentBatchCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, svc := newService(t)
	// The source document's REST example, with a file that exists and one that does not.
	doc := func(src string) []byte {
		return []byte(`{"src":"` + src + `","config":{"display_name":"My Setup","webhook_config":{"uris":["https://my-api.com/gemini-webhook-dynamic"],"user_metadata":{"job_group":"nightly-eval","priority":"high"}}}}`)
	}
	_, err := svc.CreateBatch(ctx, "prj_1", "gemini-3-flash-preview", lro.ShapeBatchCreate, doc("files/uploadedfileid"))
	wantField(t, err, "src")
	_, err = svc.CreateBatch(ctx, "prj_1", "g", lro.ShapeBatchGenerateContent, []byte(`{"batch":{"inputConfig":{"fileName":"files/nope"}}}`))
	wantField(t, err, "batch.inputConfig.fileName")

	input := webhookd.NewFile("prj_1", "in.jsonl", "application/jsonl", webhookd.FileUploaded, []byte(`{"key":"k","request":{"contents":[{"parts":[{"text":"t"}]}]}}`), t0)
	if err := s.store.CreateFile(ctx, input); err != nil {
		t.Fatal(err)
	}
	raw, err := svc.CreateBatch(ctx, "prj_1", "gemini-3-flash-preview", lro.ShapeBatchCreate, doc(input.Name()))
	if err != nil {
		t.Fatalf("CreateBatch: %v", err)
	}
	if field(t, raw, "metadata", "state") != "BATCH_STATE_PENDING" || field(t, raw, "metadata", "displayName") != "My Setup" {
		t.Fatalf("created %s", raw)
	}
	name, _ := field(t, raw, "name").(string)
	id := strings.TrimPrefix(name, "batches/")
	for range 2 {
		s.runOnce(t, 1)
		s.clock.Advance(jobDuration)
	}
	raw, err = svc.GetBatch(ctx, "prj_1", id)
	if err != nil || field(t, raw, "metadata", "state") != "BATCH_STATE_SUCCEEDED" {
		t.Fatalf("GetBatch = %s, %v", raw, err)
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
	if _, err := svc.GetBatch(ctx, "prj_2", id); webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
		t.Errorf("other project: %v", err)
	}
	if _, err := svc.GetInteraction(ctx, "prj_1", id, false); webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
		t.Errorf("batch read as an interaction: %v", err)
	}
	if _, err := svc.Delete(ctx, "prj_1", id, webhookd.OperationVideo); webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
		t.Errorf("batch deleted as a video: %v", err)
	}
	if raw, err := svc.Delete(ctx, "prj_1", id, webhookd.OperationBatch); err != nil || string(raw) != "{}" {
		t.Errorf("Delete = %s, %v", raw, err)
	}
	if _, err := svc.GetOperation(ctx, "prj_1", id); webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
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
	raw, err := svc.CreateBatch(ctx, "prj_1", "g", lro.ShapeBatchGenerateContent, []byte(inlineBody))
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(field(t, raw, "name").(string), "batches/")
	store.race = func() { s.runOnce(t, 1) } // PENDING → RUNNING commits between the cancel's read and write
	if raw, err := svc.CancelBatch(ctx, "prj_1", id); err != nil || string(raw) != "{}" {
		t.Fatalf("CancelBatch = %s, %v", raw, err)
	}
	op := s.get(t, id)
	if op.State != webhookd.BatchCancelled || op.Version != 4 { // create, claim, step, cancel
		t.Fatalf("after cancel: %s v%d", op.State, op.Version)
	}
	if _, err := svc.CancelBatch(ctx, "prj_1", id); err != nil {
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
		body := `{"model":"gemini-2.5-flash","input":"x","background":true}`
		if i%2 == 0 {
			raw, err := svc.CreateBatch(ctx, "prj_1", "g", lro.ShapeBatchGenerateContent, []byte(inlineBody))
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, field(t, raw, "name").(string))
			continue
		}
		raw, err := svc.CreateInteraction(ctx, "prj_1", []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, "interactions/"+field(t, raw, "id").(string))
	}
	var got []string
	page := webhookd.Page{Size: 2}
	for {
		ops, next, err := svc.List(ctx, "prj_1", "", page)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range ops {
			got = append(got, field(t, op, "name").(string))
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
	raw, err := svc.CreateInteraction(ctx, "prj_1", []byte(`{"model":"gemini-2.5-flash","input":"hi","store":false}`))
	if err != nil || field(t, raw, "status") != "completed" {
		t.Fatalf("store:false = %s, %v", raw, err)
	}
	if n := s.store.Commits(); n != 0 {
		t.Errorf("store:false kept the interaction (%d commits)", n)
	}
	_, err = svc.CreateInteraction(ctx, "prj_1", []byte(`{"model":"gemini-2.5-flash","input":"hi","previous_interaction_id":"int_missing"}`))
	wantField(t, err, "previous_interaction_id")

	raw, err = svc.CreateInteraction(ctx, "prj_1", []byte(`{"model":"gemini-2.5-flash","input":"hi","background":true}`))
	if err != nil {
		t.Fatal(err)
	}
	id := field(t, raw, "id").(string)
	raw, err = svc.CancelInteraction(ctx, "prj_1", id)
	if err != nil || field(t, raw, "status") != "cancelled" {
		t.Fatalf("cancel = %s, %v", raw, err)
	}
	if raw, err = svc.GetInteraction(ctx, "prj_1", id, true); err != nil || field(t, raw, "input") != "hi" {
		t.Fatalf("get with input = %s, %v", raw, err)
	}
	if raw, err = svc.GetOperation(ctx, "prj_1", id); err != nil || field(t, raw, "metadata", "state") != "cancelled" || field(t, raw, "done") != true {
		t.Fatalf("as an operation = %s, %v", raw, err)
	}
}

func TestServiceUploads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, svc := newService(t)
	uploadURL, err := svc.StartUpload(ctx, "prj_1", []byte(`{"file":{"displayName":"in.jsonl"}}`), "6", "application/jsonl")
	if err != nil {
		t.Fatal(err)
	}
	id := uploadURL[strings.Index(uploadURL, "upload_id=")+len("upload_id="):]
	res, err := svc.UploadChunk(ctx, "prj_1", id, "upload", "0", []byte("abc"))
	if err != nil || res.Status != "active" || res.Received != 3 {
		t.Fatalf("chunk 1: %+v, %v", res, err)
	}
	if _, err := svc.UploadChunk(ctx, "prj_1", id, "upload", "0", []byte("abc")); webhookd.ErrorCode(err) != webhookd.EPRECONDITION {
		t.Fatalf("repeated chunk: %v", err)
	}
	_, err = svc.UploadChunk(ctx, "prj_1", id, "upload", "x", nil)
	wantField(t, err, lro.HeaderUploadOffset)
	if res, err = svc.UploadChunk(ctx, "prj_1", id, "query", "", nil); err != nil || res.Received != 3 {
		t.Fatalf("query: %+v, %v", res, err)
	}
	res, err = svc.UploadChunk(ctx, "prj_1", id, "upload, finalize", "3", []byte("def"))
	if err != nil || res.Status != "final" {
		t.Fatalf("finalize: %+v, %v", res, err)
	}
	name, _ := field(t, res.Body, "file", "name").(string)
	content, mime, err := svc.DownloadFile(ctx, "prj_1", name)
	if err != nil || string(content) != "abcdef" || mime != "application/jsonl" {
		t.Fatalf("download %q %q %v", content, mime, err)
	}
	if _, err := svc.UploadChunk(ctx, "prj_1", id, "query", "", nil); webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
		t.Errorf("finished session: %v", err)
	}
	files, next, err := svc.ListFiles(ctx, "prj_1", webhookd.Page{})
	if err != nil || len(files) != 1 || !next.IsZero() {
		t.Fatalf("ListFiles: %d %v %v", len(files), next, err)
	}
	if raw, err := svc.DeleteFile(ctx, "prj_1", name); err != nil || string(raw) != "{}" {
		t.Fatalf("DeleteFile: %s %v", raw, err)
	}
	if _, err := svc.GetFile(ctx, "prj_1", name); webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
		t.Errorf("deleted file: %v", err)
	}
}

func TestServiceVideoModelMustMatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, svc := newService(t)
	raw, err := svc.CreateVideo(ctx, "prj_1", "veo-3.0-generate-001", []byte(`{"instances":[{"prompt":"a cat"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	name := field(t, raw, "name").(string)
	id := name[strings.LastIndex(name, "/")+1:]
	if _, err := svc.GetVideo(ctx, "prj_1", "veo-3.0-generate-001", id); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.GetVideo(ctx, "prj_1", "other-model", id); webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
		t.Errorf("another model's path: %v", err)
	}
}
