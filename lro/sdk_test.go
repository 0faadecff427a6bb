package lro_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

// The official Go SDK against lro's parsers and renderings. sdkFixture is
// the thinnest HTTP wiring that lets the SDK talk to lro (the real routes,
// auth and errors live in package api): what the SDK sends must parse, and
// what lro renders must come back as the SDK's typed values.

type sdkFixture struct {
	*simSetup
	srv *httptest.Server
	svc *lro.Service
}

func newSDKFixture(t *testing.T) (*sdkFixture, *genai.Client) {
	t.Helper()
	s := setupSim(t, nil)
	f := &sdkFixture{simSetup: s}
	// The machine needs the server's URL, and the server's goroutines read
	// the machine: set it up between listening and serving.
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	m, err := lro.New(lro.Config{SimJobDuration: jobDuration, PublicBaseURL: "http://" + f.srv.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	if f.driver, err = lro.NewDriver(s.store, lro.NewSimulator(m, s.store, s.clock), lro.DriverConfig{Lease: 1}); err != nil {
		t.Fatal(err)
	}
	f.svc = lro.NewService(m, s.store, s.clock, f.driver.Wake)
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	client, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: "lro-sdk-test-key-0123456789", Backend: genai.BackendGeminiAPI, HTTPOptions: genai.HTTPOptions{BaseURL: f.srv.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, client
}

// status maps domain error codes as the API does (a small copy for the fixture).
var status = map[string]int{
	webhookd.EINVALID: 400, webhookd.ENOTFOUND: 404, webhookd.ECONFLICT: 409, webhookd.EPRECONDITION: 400,
	webhookd.ETOOLARGE: 413, webhookd.ENOTIMPLEMENTED: 501,
}

func (f *sdkFixture) reply(w http.ResponseWriter, raw json.RawMessage, err error) {
	if err != nil {
		code, ok := status[webhookd.ErrorCode(err)]
		if !ok {
			code = 500
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"error":{"code":` + strconv.Itoa(code) + `,"message":` + strconv.Quote(webhookd.ErrorMessage(err)) + `}}`))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(raw)
}

// serve routes the SDKs' requests to the Service, as the api package does
// with its real router.
func (f *sdkFixture) serve(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, _ := io.ReadAll(r.Body)
	path := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/v1beta/"), "/v1/")
	send := func(raw json.RawMessage, err error) { f.reply(w, raw, err) }
	const p = "prj_1"
	svc := f.svc
	model, verb, _ := strings.Cut(strings.TrimPrefix(path, "models/"), ":")
	switch {
	case r.Method == http.MethodPost && verb == "batchGenerateContent":
		send(svc.CreateBatch(ctx, p, model, lro.ShapeBatchGenerateContent, body))
	case r.Method == http.MethodPost && verb == "batchCreate":
		send(svc.CreateBatch(ctx, p, model, lro.ShapeBatchCreate, body))
	case r.Method == http.MethodPost && verb == "predictLongRunning":
		send(svc.CreateVideo(ctx, p, model, body))
	case r.Method == http.MethodGet && strings.HasPrefix(path, "models/") && strings.Contains(path, "/operations/"):
		m, id, _ := strings.Cut(strings.TrimPrefix(path, "models/"), "/operations/")
		send(svc.GetVideo(ctx, p, m, id))
	case r.Method == http.MethodGet && path == "batches":
		ops, _, err := svc.List(ctx, p, webhookd.OperationBatch, webhookd.Page{})
		raw, _ := json.Marshal(map[string]any{"operations": ops})
		send(raw, err)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "batches/"):
		send(svc.GetBatch(ctx, p, strings.TrimPrefix(path, "batches/")))
	case r.Method == http.MethodPost && strings.HasPrefix(path, "batches/") && strings.HasSuffix(path, ":cancel"):
		send(svc.CancelBatch(ctx, p, strings.TrimSuffix(strings.TrimPrefix(path, "batches/"), ":cancel")))
	case r.Method == http.MethodPost && path == "interactions":
		send(svc.CreateInteraction(ctx, p, body))
	case r.Method == http.MethodPost && strings.HasPrefix(path, "interactions/") && strings.HasSuffix(path, "/cancel"):
		send(svc.CancelInteraction(ctx, p, strings.TrimSuffix(strings.TrimPrefix(path, "interactions/"), "/cancel")))
	case r.Method == http.MethodGet && strings.HasPrefix(path, "interactions/"):
		send(svc.GetInteraction(ctx, p, strings.TrimPrefix(path, "interactions/"), r.URL.Query().Get("include_input") == "true"))
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/upload/") && !r.URL.Query().Has("upload_id"):
		uploadURL, err := svc.StartUpload(ctx, p, body, r.Header.Get(lro.HeaderUploadContentLength), r.Header.Get(lro.HeaderUploadContentType))
		if err == nil {
			w.Header().Set(lro.HeaderUploadURL, uploadURL)
			w.Header().Set(lro.HeaderUploadStatus, "active")
		}
		send(json.RawMessage(`{}`), err)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/upload/"):
		res, err := svc.UploadChunk(ctx, p, r.URL.Query().Get("upload_id"), r.Header.Get(lro.HeaderUploadCommand), r.Header.Get(lro.HeaderUploadOffset), body)
		if err == nil {
			w.Header().Set(lro.HeaderUploadStatus, res.Status)
			w.Header().Set(lro.HeaderUploadSizeReceived, strconv.FormatInt(res.Received, 10))
		}
		send(res.Body, err)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "files/") && strings.HasSuffix(path, ":download"):
		content, mime, err := svc.DownloadFile(ctx, p, strings.TrimSuffix(strings.TrimPrefix(path, "files/"), ":download"))
		if err != nil {
			send(nil, err)
			return
		}
		w.Header().Set("Content-Type", mime)
		_, _ = w.Write(content)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "files/"):
		send(svc.GetFile(ctx, p, strings.TrimPrefix(path, "files/")))
	default:
		send(nil, webhookd.NotFound("Route "+r.Method+" "+r.URL.Path))
	}
}

// finish runs every job to its end.
func (f *sdkFixture) finish(t *testing.T) {
	t.Helper()
	for range 3 {
		if _, err := f.driver.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(jobDuration)
	}
}

func TestGoSDKInlineBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, client := newSDKFixture(t)
	job, err := client.Batches.Create(ctx, "gemini-2.5-flash", &genai.BatchJobSource{InlinedRequests: []*genai.InlinedRequest{
		{Contents: genai.Text("hello"), Metadata: map[string]string{"key": "r1"}},
		{Contents: []*genai.Content{{Role: "user", Parts: []*genai.Part{{InlineData: &genai.Blob{MIMEType: "image/png", Data: []byte{0}}}}}}},
	}}, &genai.CreateBatchJobConfig{DisplayName: "nightly", WebhookConfig: &genai.WebhookConfig{
		Uris: []string{"https://example.test/hook"}, UserMetadata: map[string]any{"job": "nightly"},
	}})
	if err != nil {
		t.Fatalf("Batches.Create: %v", err)
	}
	if job.State != genai.JobStatePending || job.DisplayName != "nightly" || job.Model != "models/gemini-2.5-flash" || !strings.HasPrefix(job.Name, "batches/batch_") {
		t.Fatalf("created %+v", job)
	}
	stored := f.get(t, strings.TrimPrefix(job.Name, "batches/"))
	if stored.WebhookConfig == nil || stored.WebhookConfig.URIs[0] != "https://example.test/hook" || string(stored.WebhookConfig.UserMetadata) != `{"job":"nightly"}` {
		t.Fatalf("webhook config %+v", stored.WebhookConfig)
	}
	f.finish(t)
	job, err = client.Batches.Get(ctx, job.Name, nil)
	if err != nil {
		t.Fatalf("Batches.Get: %v", err)
	}
	if job.State != genai.JobStateSucceeded || job.EndTime.IsZero() || job.Dest == nil || len(job.Dest.InlinedResponses) != 2 {
		t.Fatalf("got %+v dest %+v", job, job.Dest)
	}
	ok, failed := job.Dest.InlinedResponses[0], job.Dest.InlinedResponses[1]
	if ok.Response == nil || ok.Response.Text() != "hello" || ok.Metadata["key"] != "r1" || failed.Error == nil || failed.Error.Code == nil || *failed.Error.Code != 3 {
		t.Fatalf("responses %+v / %+v", ok, failed)
	}
	evs := f.events(t)
	if len(evs) != 1 || evs[0].Type != webhookd.EventBatchSucceeded || eventData(t, evs[0])["error_count"] != float64(1) {
		t.Fatalf("events %+v", evs)
	}
}

func TestGoSDKFileBatchWithUpload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, client := newSDKFixture(t)
	input := `{"key":"a","request":{"contents":[{"parts":[{"text":"one"}]}]}}` + "\n"
	file, err := client.Files.Upload(ctx, bytes.NewReader([]byte(input)), &genai.UploadFileConfig{MIMEType: "application/jsonl", DisplayName: "in.jsonl"})
	if err != nil {
		t.Fatalf("Files.Upload: %v", err)
	}
	if file.State != genai.FileStateActive || file.SizeBytes == nil || *file.SizeBytes != int64(len(input)) || file.DisplayName != "in.jsonl" {
		t.Fatalf("uploaded %+v", file)
	}
	job, err := client.Batches.Create(ctx, "gemini-2.5-flash", &genai.BatchJobSource{FileName: file.Name}, nil)
	if err != nil {
		t.Fatalf("Batches.Create: %v", err)
	}
	f.finish(t)
	job, err = client.Batches.Get(ctx, job.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if job.State != genai.JobStateSucceeded || job.Dest == nil || !strings.HasPrefix(job.Dest.FileName, "files/") {
		t.Fatalf("got %+v dest %+v", job, job.Dest)
	}
	got, err := client.Files.Get(ctx, job.Dest.FileName, nil)
	if err != nil || got.Source != genai.FileSourceGenerated || got.MIMEType != "application/jsonl" {
		t.Fatalf("Files.Get = %+v, %v", got, err)
	}
	results, err := client.Files.Download(ctx, genai.NewDownloadURIFromFile(got), nil)
	if err != nil {
		t.Fatalf("Files.Download: %v", err)
	}
	if !strings.Contains(string(results), `"key":"a"`) || !strings.Contains(string(results), `"text":"one"`) {
		t.Fatalf("results %s", results)
	}
}

func TestGoSDKVideo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, client := newSDKFixture(t)
	op, err := client.Models.GenerateVideos(ctx, "veo-3.0-generate-001", "a cat", nil, &genai.GenerateVideosConfig{
		WebhookConfig: &genai.WebhookConfig{UserMetadata: map[string]any{"clip": 7}},
	})
	if err != nil {
		t.Fatalf("GenerateVideos: %v", err)
	}
	if op.Done || !strings.HasPrefix(op.Name, "models/veo-3.0-generate-001/operations/vop_") {
		t.Fatalf("started %+v", op)
	}
	f.finish(t)
	op, err = client.Operations.GetVideosOperation(ctx, op, nil)
	if err != nil {
		t.Fatalf("GetVideosOperation: %v", err)
	}
	if !op.Done || op.Response == nil || len(op.Response.GeneratedVideos) != 1 {
		t.Fatalf("done %+v", op)
	}
	video := op.Response.GeneratedVideos[0].Video
	content, err := client.Files.Download(ctx, genai.NewDownloadURIFromVideo(video), nil)
	if err != nil || !bytes.Contains(content, []byte("a cat")) || video.MIMEType != "video/mp4" {
		t.Fatalf("video %+v: %q, %v", video, content, err)
	}
	evs := f.events(t)
	if len(evs) != 1 || evs[0].Type != webhookd.EventVideoGenerated || eventData(t, evs[0])["video_uri"] != video.URI {
		t.Fatalf("events %+v; video uri %s", evs, video.URI)
	}
}

// TestJSSDK runs testdata/jssdk.mjs, which drives lro through the real
// @google/genai (the SDK of the source document), when node and the SDK are
// installed (make sdk-install puts it under sdktest/node_modules).
func TestJSSDK(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	sdk, err := filepath.Abs("../sdktest/node_modules/@google/genai/dist/node/index.mjs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sdk); err != nil {
		t.Skipf("@google/genai is not installed under sdktest: %v", err)
	}
	f, _ := newSDKFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "testdata/jssdk.mjs", "file://"+sdk, f.srv.URL)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewScanner(stdout)
	if !out.Scan() || out.Text() != "created" {
		_ = cmd.Wait()
		t.Fatalf("phase 1: %q\n%s", out.Text(), stderr.String())
	}
	f.finish(t)
	_, _ = io.WriteString(stdin, "go\n")
	_ = stdin.Close()
	ok := out.Scan() && out.Text() == "ok"
	if err := cmd.Wait(); err != nil || !ok {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	types := map[string]int{}
	for _, ev := range f.events(t) {
		types[ev.Type]++
	}
	want := map[string]int{
		webhookd.EventBatchSucceeded: 2, webhookd.EventBatchCancelled: 1, webhookd.EventInteractionCompleted: 2,
		webhookd.EventInteractionRequiresAction: 1, webhookd.EventInteractionCancelled: 1,
	}
	if !reflect.DeepEqual(types, want) {
		t.Errorf("events %v, want %v", types, want)
	}
}
