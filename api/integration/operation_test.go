package integration_test

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/webhookd/webhookd/api"
	"github.com/webhookd/webhookd/lro"
)

// simJob is the simulator's job duration in these tests; the fake clock
// moves by it, nothing sleeps.
const simJob = 5 * time.Second

// opsBundle is a bundle whose API serves the long-running operations over
// the same SQLite store, with a driver the test steps by hand.
type opsBundle struct {
	*bundle
	driver *lro.Driver
}

// setupOps starts the API with operations, under prefix if not "".
func setupOps(t *testing.T, prefix string) *opsBundle {
	t.Helper()
	return setupOpsWith(t, prefix, func(*lro.Config) {})
}

// setupOpsWith is setupOps with edit applied to the operations' config.
func setupOpsWith(t *testing.T, prefix string, edit func(*lro.Config)) *opsBundle {
	t.Helper()
	ob := &opsBundle{}
	ob.bundle = setup(t, func(cfg *api.Config) {
		cfg.PathPrefix = prefix
		// Download and upload URLs are absolute; the tests, like the SDKs,
		// use their path and query only, so the host here never answers.
		lc := lro.Config{SimJobDuration: simJob, PublicBaseURL: "http://127.0.0.1:1" + prefix, URIPolicy: cfg.URIPolicy}
		edit(&lc)
		m, err := lro.New(lc)
		if err != nil {
			t.Fatal(err)
		}
		if ob.driver, err = lro.NewDriver(cfg.Store, lro.NewSimulator(m, cfg.Store, cfg.Clock), lro.DriverConfig{Lease: time.Nanosecond}); err != nil {
			t.Fatal(err)
		}
		cfg.Operations = lro.NewService(m, cfg.Store, cfg.Clock, nil)
	})
	return ob
}

// finish steps every job to its end: one step out of the initial state,
// one after the job's duration.
func (ob *opsBundle) finish(t *testing.T) {
	t.Helper()
	for range 3 {
		if _, err := ob.driver.RunOnce(ob.ctx); err != nil {
			t.Fatal(err)
		}
		ob.clock.Advance(simJob)
	}
}

// operation is the part of a google.longrunning.Operation the tests read.
type operation struct {
	Name     string `json:"name"`
	Done     bool   `json:"done"`
	Metadata struct {
		State  string `json:"state"`
		Output struct {
			ResponsesFile string `json:"responsesFile"`
		} `json:"output"`
	} `json:"metadata"`
	Response struct {
		GenerateVideoResponse struct {
			GeneratedSamples []struct {
				Video struct {
					URI string `json:"uri"`
				} `json:"video"`
			} `json:"generatedSamples"`
		} `json:"generateVideoResponse"`
	} `json:"response"`
}

type operationList struct {
	Operations    []operation `json:"operations"`
	NextPageToken string      `json:"nextPageToken"`
}

// relative keeps the path and query of an absolute URL the API answered.
func relative(t *testing.T, abs string) string {
	t.Helper()
	u, err := url.Parse(abs)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

func names(ops []operation) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = op.Name
	}
	return out
}

func TestOperationsListEveryKindNewestFirstAndPages(t *testing.T) {
	t.Parallel()
	ob := setupOps(t, "")
	var b1, b2, video operation
	var inter struct {
		ID string `json:"id"`
	}
	ob.call(t, "POST", "/v1/models/gemini-2.5-flash:batchGenerateContent",
		`{"batch":{"inputConfig":{"requests":{"requests":[{"request":{"contents":[{"parts":[{"text":"a"}]}]}}]}}}}`).ok(t, &b1)
	ob.clock.Advance(time.Second)
	ob.call(t, "POST", "/v1/interactions", `{"model":"gemini-2.5-flash","input":"hi","background":true}`).ok(t, &inter)
	ob.clock.Advance(time.Second)
	ob.call(t, "POST", "/v1beta/models/veo-3.0-generate-001:predictLongRunning", `{"instances":[{"prompt":"a cat"}]}`).ok(t, &video)
	ob.clock.Advance(time.Second)
	ob.call(t, "POST", "/v1alpha/models/gemini-2.5-flash:batchCreate",
		`{"src":[{"contents":[{"parts":[{"text":"b"}]}]}],"config":{"display_name":"second"}}`).ok(t, &b2)
	ob.finish(t)

	var page operationList
	ob.call(t, "GET", "/v1/operations?pageSize=3", "").ok(t, &page)
	want := []string{b2.Name, video.Name, "interactions/" + inter.ID}
	if got := names(page.Operations); strings.Join(got, " ") != strings.Join(want, " ") || page.NextPageToken == "" {
		t.Fatalf("page 1 = %v (next %q), want %v and a next page", got, page.NextPageToken, want)
	}
	for _, op := range page.Operations {
		if !op.Done {
			t.Errorf("%s is not done after the simulator ran", op.Name)
		}
	}
	token := page.NextPageToken
	ob.call(t, "GET", "/v1/operations?page_size=3&page_token="+url.QueryEscape(token), "").ok(t, &page)
	if got := names(page.Operations); len(got) != 1 || got[0] != b1.Name || page.NextPageToken != "" {
		t.Fatalf("page 2 = %v (next %q), want [%s] and no next page", got, page.NextPageToken, b1.Name)
	}

	ob.call(t, "GET", "/v1beta/batches?pageSize=1", "").ok(t, &page)
	if got := names(page.Operations); len(got) != 1 || got[0] != b2.Name || page.NextPageToken == "" {
		t.Fatalf("batches page 1 = %v (next %q)", got, page.NextPageToken)
	}
	ob.call(t, "GET", "/v1beta/batches?pageSize=1&pageToken="+url.QueryEscape(page.NextPageToken), "").ok(t, &page)
	if got := names(page.Operations); len(got) != 1 || got[0] != b1.Name || page.NextPageToken != "" {
		t.Fatalf("batches page 2 = %v (next %q)", got, page.NextPageToken)
	}

	// A token continues only the listing and project it was made for.
	ob.call(t, "GET", "/v1/batches?pageToken="+url.QueryEscape(token), "").fails(t, 400, "INVALID_ARGUMENT", "page_token")
	_, other := ob.newProject(t, "other")
	ob.callKey(t, other, "GET", "/v1/operations?pageToken="+url.QueryEscape(token), "").fails(t, 400, "INVALID_ARGUMENT", "page_token")
	r := ob.callKey(t, other, "GET", "/v1/operations", "")
	if r.code != 200 || strings.TrimSpace(string(r.body)) != `{"operations":[]}` {
		t.Fatalf("another project's listing = %d %s, want an empty list", r.code, r.body)
	}
	ob.callKey(t, other, "GET", "/v1/operations/"+strings.TrimPrefix(b1.Name, "batches/"), "").fails(t, 404, "NOT_FOUND", "")
}

// TestDocumentBatchCreateOverUploadedFile is the source document's REST
// example, body as written, over a file uploaded through the resumable
// protocol under the name it uses; the results file downloads.
func TestDocumentBatchCreateOverUploadedFile(t *testing.T) {
	t.Parallel()
	ob := setupOps(t, "")
	input := `{"key":"k1","request":{"contents":[{"parts":[{"text":"from a file"}]}]}}` + "\n"

	start := ob.request(t, "POST", "/upload/v1beta/files", `{"file":{"name":"files/uploaded_file_id","displayName":"in.jsonl"}}`)
	start.Header.Set("x-goog-api-key", ob.key)
	start.Header.Set("X-Goog-Upload-Protocol", "resumable")
	start.Header.Set("X-Goog-Upload-Command", "start")
	start.Header.Set("X-Goog-Upload-Header-Content-Length", strconv.Itoa(len(input)))
	start.Header.Set("X-Goog-Upload-Header-Content-Type", "application/jsonl")
	r := ob.send(t, start)
	if r.code != 200 || r.header.Get("X-Goog-Upload-Status") != "active" || r.header.Get("X-Goog-Upload-URL") == "" {
		t.Fatalf("start = %d %v %s", r.code, r.header, r.body)
	}
	chunks := relative(t, r.header.Get("X-Goog-Upload-URL"))
	for i, part := range []string{input[:40], input[40:]} {
		req := ob.request(t, "POST", chunks, part)
		req.Header.Set("x-goog-api-key", ob.key)
		req.Header.Set("X-Goog-Upload-Offset", []string{"0", "40"}[i])
		req.Header.Set("X-Goog-Upload-Command", []string{"upload", "upload, finalize"}[i])
		r = ob.send(t, req)
		if r.code != 200 {
			t.Fatalf("chunk %d = %d %s", i, r.code, r.body)
		}
	}
	var file struct {
		File struct {
			Name, State, SizeBytes string
		} `json:"file"`
	}
	r.ok(t, &file)
	if r.header.Get("X-Goog-Upload-Status") != "final" || file.File.Name != "files/uploaded_file_id" || file.File.SizeBytes != strconv.Itoa(len(input)) || file.File.State != "ACTIVE" {
		t.Fatalf("finalize = %v %s", r.header, r.body)
	}

	var batch operation
	ob.call(t, "POST", "/v1/models/gemini-3-flash-preview:batchCreate", `{
    "src": "files/uploaded_file_id",
    "config": {
      "display_name": "My Setup",
      "webhook_config": {
        "uris": ["https://my-api.com/gemini-webhook-dynamic"],
        "user_metadata": {"job_group": "nightly-eval", "priority": "high"}
      }
    }
  }`).ok(t, &batch)
	if batch.Metadata.State != "BATCH_STATE_PENDING" {
		t.Fatalf("created %+v", batch)
	}
	ob.finish(t)
	ob.call(t, "GET", "/v1/"+batch.Name, "").ok(t, &batch)
	if batch.Metadata.State != "BATCH_STATE_SUCCEEDED" || !strings.HasPrefix(batch.Metadata.Output.ResponsesFile, "files/") {
		t.Fatalf("finished %+v", batch)
	}
	res, err := ob.srv.Client().Do(ob.authed(t, "GET", "/v1/"+batch.Metadata.Output.ResponsesFile+":download?alt=media"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	content, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/jsonl" ||
		!strings.Contains(string(content), `"key":"k1"`) || !strings.Contains(string(content), "from a file") {
		t.Fatalf("download = %d %s %q", res.StatusCode, res.Header.Get("Content-Type"), content)
	}
}

func (b *bundle) authed(t *testing.T, method, path string) *http.Request {
	t.Helper()
	req := b.request(t, method, path, "")
	req.Header.Set("x-goog-api-key", b.key)
	return req
}

// TestOperationRoutesAnswer covers each route's answer and its errors:
// what a cancel, delete or get gives, how domain errors map, and the body
// limits of these routes.
func TestOperationRoutesAnswer(t *testing.T) {
	t.Parallel()
	ob := setupOps(t, "")
	inline := `{"batch":{"inputConfig":{"requests":{"requests":[{"request":{"contents":[{"parts":[{"text":"x"}]}]}}]}}}}`
	var done, pending, video operation
	ob.call(t, "POST", "/v1/models/gemini-2.5-flash:batchGenerateContent", inline).ok(t, &done)
	ob.call(t, "POST", "/v1/models/veo-3.0-generate-001:predictLongRunning", `{"instances":[{"prompt":"a cat"}]}`).ok(t, &video)
	ob.finish(t)
	ob.call(t, "POST", "/v1/models/gemini-2.5-flash:batchGenerateContent", inline).ok(t, &pending)
	var inter struct{ ID, Status string }
	ob.call(t, "POST", "/v1/interactions", `{"model":"gemini-2.5-flash","input":"hi","background":true}`).ok(t, &inter)
	doneID, pendingID := strings.TrimPrefix(done.Name, "batches/"), strings.TrimPrefix(pending.Name, "batches/")
	_, other := ob.newProject(t, "other")

	// About 1.5 MiB of inline requests: above the API's default body limit,
	// within the batch limit.
	big := `{"batch":{"inputConfig":{"requests":{"requests":[` +
		strings.Repeat(`{"request":{"contents":[{"parts":[{"text":"`+strings.Repeat("y", 55000)+`"}]}]}},`, 20) +
		`{"request":{"contents":[{"parts":[{"text":"z"}]}]}}]}}}}`

	tests := []struct {
		name, key, method, path, body string
		code                          int
		status, text                  string // for errors
		answer                        string // for successes: a part of the body
	}{
		{"cancel a pending batch", "", "POST", "/v1/batches/" + pendingID + ":cancel", "{}", 200, "", "", "{}"},
		{"the cancel shows", "", "GET", "/v1/batches/" + pendingID, "", 200, "", "", `"BATCH_STATE_CANCELLED"`},
		{"cancel a finished batch", "", "POST", "/v1/batches/" + doneID + ":cancel", "{}", 400, "FAILED_PRECONDITION", "already finished", ""},
		{"another project's batch", other, "GET", "/v1/batches/" + doneID, "", 404, "NOT_FOUND", "Batch", ""},
		{"another project's cancel", other, "POST", "/v1/batches/" + doneID + ":cancel", "{}", 404, "NOT_FOUND", "Batch", ""},
		{"a batch as an interaction", "", "GET", "/v1/interactions/" + doneID, "", 404, "NOT_FOUND", "Interaction", ""},
		{"delete a batch", "", "DELETE", "/v1/batches/" + doneID, "{}", 200, "", "", "{}"},
		{"the delete shows", "", "GET", "/v1/batches/" + doneID, "", 404, "NOT_FOUND", "Batch", ""},
		{"get an interaction", "", "GET", "/v1/interactions/" + inter.ID + "?stream=false&include_input=true", "", 200, "", "", `"input":"hi"`},
		{"a streamed get", "", "GET", "/v1/interactions/" + inter.ID + "?stream=true", "", 501, "UNIMPLEMENTED", "stream", ""},
		{"a bad include_input", "", "GET", "/v1/interactions/" + inter.ID + "?include_input=maybe", "", 400, "INVALID_ARGUMENT", "include_input", ""},
		{"cancel an interaction, no body", "", "POST", "/v1/interactions/" + inter.ID + "/cancel", "", 200, "", "", `"status":"cancelled"`},
		{"delete an interaction", "", "DELETE", "/v1/interactions/" + inter.ID, "", 200, "", "", "{}"},
		{"poll a video", "", "GET", "/v1/" + video.Name, "", 200, "", "", `"done":true`},
		{"a video under another model", "", "GET", "/v1/models/veo-2" + strings.TrimPrefix(video.Name, "models/veo-3.0-generate-001"), "", 404, "NOT_FOUND", "Operation", ""},
		{"an operation by id", "", "GET", "/v1/operations/" + video.Name[strings.LastIndex(video.Name, "/")+1:], "", 200, "", "", video.Name},
		{"files, newest first, paged", "", "GET", "/v1/files?pageSize=1", "", 200, "", "", `"nextPageToken":"`},
		{"an unknown file", "", "GET", "/v1/files/nope", "", 404, "NOT_FOUND", "File", ""},
		{"batch input errors name the field", "", "POST", "/v1/models/gemini-2.5-flash:batchCreate", `{"src":"files/missing"}`, 400, "INVALID_ARGUMENT", "files/missing not found", ""},
		{"a large inline batch", "", "POST", "/v1/models/gemini-2.5-flash:batchGenerateContent", big, 200, "", "", `"requestCount":"21"`},
		{"an upload chunk past 8 MiB", "", "POST", "/upload/v1/files?upload_id=upl_x", strings.Repeat("a", api.MaxUploadChunkBytes+1), 400, "INVALID_ARGUMENT", "at most", ""},
		{"an unknown upload", "", "POST", "/upload/v1/files?upload_id=upl_x", "abc", 404, "NOT_FOUND", "Upload", ""},
		{"an upload without a key", "-", "POST", "/upload/v1/files", "{}", 401, "UNAUTHENTICATED", "", ""},
	}
	// Sequential on purpose: later cases see what earlier ones changed.
	for _, tt := range tests {
		key := tt.key
		switch key {
		case "":
			key = ob.key
		case "-":
			key = ""
		}
		req := ob.request(t, tt.method, tt.path, tt.body)
		if key != "" {
			req.Header.Set("x-goog-api-key", key)
		}
		if strings.HasPrefix(tt.path, "/upload/") {
			req.Header.Set("X-Goog-Upload-Command", "upload")
		}
		t.Run(tt.name, func(t *testing.T) {
			r := ob.send(t, req)
			if tt.code != 200 {
				r.fails(t, tt.code, tt.status, tt.text)
				return
			}
			if r.code != 200 || !strings.Contains(string(r.body), tt.answer) {
				t.Errorf("%s %s = %d %.300s, want 200 with %s", tt.method, tt.path, r.code, r.body, tt.answer)
			}
		})
	}
}

// TestGoSDKOperations drives batches, files and video through the official
// Go SDK (default v1beta) under a path prefix, as a Go caller would.
func TestGoSDKOperations(t *testing.T) {
	t.Parallel()
	const prefix = "/gemini-proxy"
	ob := setupOps(t, prefix)
	ctx := ob.ctx
	ai := ob.sdk(t, ob.key, prefix, "")

	input := `{"key":"a","request":{"contents":[{"parts":[{"text":"one"}]}]}}` + "\n"
	file, err := ai.Files.Upload(ctx, bytes.NewReader([]byte(input)), &genai.UploadFileConfig{MIMEType: "application/jsonl", DisplayName: "in.jsonl"})
	if err != nil {
		t.Fatalf("Files.Upload: %v", err)
	}
	if file.State != genai.FileStateActive || file.SizeBytes == nil || *file.SizeBytes != int64(len(input)) {
		t.Fatalf("uploaded %+v", file)
	}
	fromFile, err := ai.Batches.Create(ctx, "gemini-2.5-flash", &genai.BatchJobSource{FileName: file.Name}, &genai.CreateBatchJobConfig{
		DisplayName: "nightly", WebhookConfig: &genai.WebhookConfig{UserMetadata: map[string]any{"job": "nightly"}},
	})
	if err != nil {
		t.Fatalf("Batches.Create: %v", err)
	}
	ob.clock.Advance(time.Second) // newest first is by create time
	inline, err := ai.Batches.Create(ctx, "gemini-2.5-flash", &genai.BatchJobSource{InlinedRequests: []*genai.InlinedRequest{
		{Contents: genai.Text("hello")},
	}}, nil)
	if err != nil {
		t.Fatalf("Batches.Create inline: %v", err)
	}
	if err := ai.Batches.Cancel(ctx, inline.Name, nil); err != nil {
		t.Fatalf("Batches.Cancel: %v", err)
	}
	video, err := ai.Models.GenerateVideosFromSource(ctx, "veo-3.0-generate-001", &genai.GenerateVideosSource{Prompt: "a cat"}, nil)
	if err != nil {
		t.Fatalf("GenerateVideos: %v", err)
	}
	ob.finish(t)

	job, err := ai.Batches.Get(ctx, fromFile.Name, nil)
	if err != nil {
		t.Fatalf("Batches.Get: %v", err)
	}
	if job.State != genai.JobStateSucceeded || job.DisplayName != "nightly" || job.Dest == nil || !strings.HasPrefix(job.Dest.FileName, "files/") {
		t.Fatalf("batch %+v dest %+v", job, job.Dest)
	}
	out, err := ai.Files.Get(ctx, job.Dest.FileName, nil)
	if err != nil || out.Source != genai.FileSourceGenerated {
		t.Fatalf("Files.Get = %+v, %v", out, err)
	}
	results, err := ai.Files.Download(ctx, genai.NewDownloadURIFromFile(out), nil)
	if err != nil || !strings.Contains(string(results), `"text":"one"`) {
		t.Fatalf("Files.Download = %q, %v", results, err)
	}
	if job, err = ai.Batches.Get(ctx, inline.Name, nil); err != nil || job.State != genai.JobStateCancelled {
		t.Fatalf("cancelled batch = %+v, %v", job, err)
	}
	page, err := ai.Batches.List(ctx, &genai.ListBatchJobsConfig{PageSize: 1})
	if err != nil {
		t.Fatalf("Batches.List: %v", err)
	}
	if len(page.Items) != 1 || page.Items[0].Name != inline.Name || page.NextPageToken == "" {
		t.Fatalf("first page %+v (next %q)", page.Items, page.NextPageToken)
	}
	if page, err = page.Next(ctx); err != nil || len(page.Items) != 1 || page.Items[0].Name != fromFile.Name {
		t.Fatalf("second page %+v, %v", page, err)
	}
	if _, err := ai.Batches.Delete(ctx, inline.Name, nil); err != nil {
		t.Fatalf("Batches.Delete: %v", err)
	}
	if _, err := ai.Batches.Get(ctx, inline.Name, nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("get after delete: %v", err)
	}

	if video, err = ai.Operations.GetVideosOperation(ctx, video, nil); err != nil {
		t.Fatalf("GetVideosOperation: %v", err)
	}
	if !video.Done || video.Response == nil || len(video.Response.GeneratedVideos) != 1 {
		t.Fatalf("video %+v", video)
	}
	clip, err := ai.Files.Download(ctx, genai.NewDownloadURIFromVideo(video.Response.GeneratedVideos[0].Video), nil)
	if err != nil || !bytes.Contains(clip, []byte("a cat")) {
		t.Fatalf("video download %q, %v", clip, err)
	}
	if _, err := ai.Files.Delete(ctx, file.Name, nil); err != nil {
		t.Fatalf("Files.Delete: %v", err)
	}
	if _, err := ai.Files.Get(ctx, file.Name, nil); err == nil {
		t.Fatal("the deleted file is still there")
	}
}
