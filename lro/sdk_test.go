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
	f.driver = lro.NewDriver(s.store, lro.NewSimulator(m, s.store, s.clock), lro.DriverConfig{Lease: 1})
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	client, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: "test-key", Backend: genai.BackendGeminiAPI, HTTPOptions: genai.HTTPOptions{BaseURL: f.srv.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, client
}

func (f *sdkFixture) reply(w http.ResponseWriter, raw json.RawMessage, err error) {
	if err != nil {
		http.Error(w, `{"error":{"code":400,"message":`+strconv.Quote(webhookd.ErrorMessage(err))+`}}`, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(raw)
}

func (f *sdkFixture) serve(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, _ := io.ReadAll(r.Body)
	now := f.clock.Now()
	path := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/v1beta/"), "/v1/")
	send := func(raw json.RawMessage, err error) { f.reply(w, raw, err) }
	switch {
	case r.Method == http.MethodPost && strings.HasPrefix(path, "models/") && strings.HasSuffix(path, ":batchGenerateContent"):
		req, err := f.m.ParseBatchGenerateContent(strings.TrimSuffix(strings.TrimPrefix(path, "models/"), ":batchGenerateContent"), body)
		if err != nil {
			f.reply(w, nil, err)
			return
		}
		op, _ := f.m.NewBatch("prj_1", req, now)
		_ = f.store.CommitOperationChange(ctx, webhookd.OperationChange{Create: []*webhookd.Operation{op}})
		send(f.m.RenderBatch(op))
	case r.Method == http.MethodPost && strings.HasSuffix(path, ":predictLongRunning"):
		req, err := f.m.ParseVideo(strings.TrimSuffix(strings.TrimPrefix(path, "models/"), ":predictLongRunning"), body)
		if err != nil {
			f.reply(w, nil, err)
			return
		}
		op, _ := f.m.NewVideo("prj_1", req, now)
		_ = f.store.CommitOperationChange(ctx, webhookd.OperationChange{Create: []*webhookd.Operation{op}})
		send(f.m.RenderVideo(op))
	case r.Method == http.MethodGet && path == "batches":
		ops, err := f.store.ListOperations(ctx, "prj_1", webhookd.OperationFilter{Kind: webhookd.OperationBatch}, webhookd.Page{Size: 50})
		list := struct {
			Operations []json.RawMessage `json:"operations"`
		}{Operations: []json.RawMessage{}}
		for _, op := range ops {
			if err == nil {
				var raw json.RawMessage
				raw, err = f.m.RenderBatch(op)
				list.Operations = append(list.Operations, raw)
			}
		}
		raw, _ := json.Marshal(list)
		f.reply(w, raw, err)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "batches/"):
		op, err := f.store.GetOperation(ctx, "prj_1", strings.TrimPrefix(path, "batches/"))
		if err != nil {
			f.reply(w, nil, err)
			return
		}
		send(f.m.RenderBatch(op))
	case r.Method == http.MethodGet && strings.HasPrefix(path, "models/") && strings.Contains(path, "/operations/"):
		op, err := f.store.GetOperation(ctx, "prj_1", path[strings.LastIndex(path, "/")+1:])
		if err != nil {
			f.reply(w, nil, err)
			return
		}
		send(f.m.RenderVideo(op))
	case r.Method == http.MethodPost && path == "interactions":
		req, err := f.m.ParseInteraction(body)
		if err != nil {
			f.reply(w, nil, err)
			return
		}
		var prev *webhookd.Operation
		if req.PreviousInteractionID != "" {
			prev, _ = f.store.GetOperation(ctx, "prj_1", req.PreviousInteractionID)
		}
		c, op, err := f.m.NewInteraction("prj_1", req, prev, now)
		if err == nil {
			err = f.store.CommitOperationChange(ctx, c)
		}
		if err != nil {
			f.reply(w, nil, err)
			return
		}
		send(f.m.RenderInteraction(op, false))
	case strings.HasPrefix(path, "interactions/"):
		id, cancel := strings.CutSuffix(strings.TrimPrefix(path, "interactions/"), "/cancel")
		op, err := f.store.GetOperation(ctx, "prj_1", id)
		if err == nil && cancel {
			var c webhookd.OperationChange
			if c, err = f.m.CancelInteraction(op, now); err == nil && !c.Empty() {
				err = f.store.CommitOperationChange(ctx, c)
				op = c.Update[0]
			}
		}
		if err != nil {
			f.reply(w, nil, err)
			return
		}
		send(f.m.RenderInteraction(op, r.URL.Query().Get("include_input") == "true"))
	case r.Method == http.MethodPost && strings.HasPrefix(path, "batches/") && strings.HasSuffix(path, ":cancel"):
		op, err := f.store.GetOperation(ctx, "prj_1", strings.TrimSuffix(strings.TrimPrefix(path, "batches/"), ":cancel"))
		if err == nil {
			var c webhookd.OperationChange
			if c, err = f.m.CancelBatch(op, now); err == nil && !c.Empty() {
				err = f.store.CommitOperationChange(ctx, c)
			}
		}
		f.reply(w, json.RawMessage(`{}`), err)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/upload/") && !r.URL.Query().Has("upload_id"): // start
		s, err := lro.ParseUploadStart("prj_1", body, r.Header.Get(lro.HeaderUploadContentLength), r.Header.Get(lro.HeaderUploadContentType), now)
		if err == nil {
			err = f.store.CreateUploadSession(ctx, s)
		}
		if err != nil {
			f.reply(w, nil, err)
			return
		}
		w.Header().Set(lro.HeaderUploadURL, f.m.UploadURL(s.ID))
		w.Header().Set(lro.HeaderUploadStatus, "active")
		f.reply(w, json.RawMessage(`{}`), nil)
	case r.Method == http.MethodPost && r.URL.Path == "/upload/v1/files": // chunks, at the URL UploadURL gave
		id := r.URL.Query().Get("upload_id")
		cmd, err := lro.ParseUploadCommand(r.Header.Get(lro.HeaderUploadCommand))
		if err != nil {
			f.reply(w, nil, err)
			return
		}
		offset, _ := strconv.ParseInt(r.Header.Get(lro.HeaderUploadOffset), 10, 64)
		if _, err := f.store.AppendUpload(ctx, "prj_1", id, offset, body); err != nil {
			f.reply(w, nil, err)
			return
		}
		if !cmd.Finalize {
			w.Header().Set(lro.HeaderUploadStatus, "active")
			f.reply(w, json.RawMessage(`{}`), nil)
			return
		}
		file, err := f.store.FinalizeUpload(ctx, "prj_1", id, now)
		if err != nil {
			f.reply(w, nil, err)
			return
		}
		raw, err := f.m.RenderFile(file)
		w.Header().Set(lro.HeaderUploadStatus, "final")
		f.reply(w, json.RawMessage(`{"file":`+string(raw)+`}`), err)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "files/") && strings.HasSuffix(path, ":download"):
		content, err := f.store.GetFileContent(ctx, "prj_1", strings.TrimSuffix(strings.TrimPrefix(path, "files/"), ":download"))
		if err != nil {
			f.reply(w, nil, err)
			return
		}
		_, _ = w.Write(content)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "files/"):
		file, err := f.store.GetFile(ctx, "prj_1", strings.TrimPrefix(path, "files/"))
		if err != nil {
			f.reply(w, nil, err)
			return
		}
		send(f.m.RenderFile(file))
	default:
		http.Error(w, `{"error":{"code":404,"message":"no route `+r.Method+` `+r.URL.Path+`"}}`, http.StatusNotFound)
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
		webhookd.EventBatchSucceeded: 1, webhookd.EventBatchCancelled: 1, webhookd.EventInteractionCompleted: 2,
		webhookd.EventInteractionRequiresAction: 1, webhookd.EventInteractionCancelled: 1,
	}
	if !reflect.DeepEqual(types, want) {
		t.Errorf("events %v, want %v", types, want)
	}
}
