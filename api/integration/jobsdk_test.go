package integration_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/jsontest"
)

// The official SDKs' job calls (batches, files, video, interactions), end
// to end through the API and the simulator: what the SDKs send must parse,
// and what the API renders must come back as the SDKs' typed values.

// events returns the events the bundle's project published, newest first.
func (ob *opsBundle) events(t *testing.T) []*webhookd.Event {
	t.Helper()
	evs, err := ob.store.ListEvents(ob.ctx, ob.project.ID, webhookd.EventFilter{}, webhookd.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// eventData returns the data of ev's envelope.
var eventData = jsontest.EventData

func TestGoSDKInlineBatch(t *testing.T) {
	t.Parallel()
	ob := setupOps(t, "")
	ctx, client := ob.ctx, ob.sdk(t, ob.key, "", "")
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
	stored, err := ob.store.GetOperation(ctx, ob.project.ID, strings.TrimPrefix(job.Name, "batches/"))
	if err != nil {
		t.Fatal(err)
	}
	if stored.WebhookConfig == nil || stored.WebhookConfig.URIs[0] != "https://example.test/hook" || string(stored.WebhookConfig.UserMetadata) != `{"job":"nightly"}` {
		t.Fatalf("webhook config %+v", stored.WebhookConfig)
	}
	ob.finish(t)
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
	evs := ob.events(t)
	if len(evs) != 1 || evs[0].Type != webhookd.EventBatchSucceeded || eventData(t, evs[0])["error_count"] != float64(1) {
		t.Fatalf("events %+v", evs)
	}
}

func TestGoSDKVideo(t *testing.T) {
	t.Parallel()
	ob := setupOps(t, "")
	ctx, client := ob.ctx, ob.sdk(t, ob.key, "", "")
	op, err := client.Models.GenerateVideos(ctx, "veo-3.0-generate-001", "a cat", nil, &genai.GenerateVideosConfig{
		WebhookConfig: &genai.WebhookConfig{UserMetadata: map[string]any{"clip": 7}},
	})
	if err != nil {
		t.Fatalf("GenerateVideos: %v", err)
	}
	if op.Done || !strings.HasPrefix(op.Name, "models/veo-3.0-generate-001/operations/vop_") {
		t.Fatalf("started %+v", op)
	}
	ob.finish(t)
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
	evs := ob.events(t)
	if len(evs) != 1 || evs[0].Type != webhookd.EventVideoGenerated || eventData(t, evs[0])["video_uri"] != video.URI {
		t.Fatalf("events %+v; video uri %s", evs, video.URI)
	}
	if meta, _ := eventData(t, evs[0])["user_metadata"].(map[string]any); meta["clip"] != float64(7) {
		t.Errorf("user_metadata %v", meta)
	}
}

// TestJSSDK runs testdata/jssdk.mjs, which drives the operations API
// through the real @google/genai (the SDK of the source document), when
// node and the SDK are installed (sdktest's npm ci puts it there).
func TestJSSDK(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	sdk, err := filepath.Abs("../../sdktest/node_modules/@google/genai/dist/node/index.mjs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sdk); err != nil {
		t.Skipf("@google/genai is not installed under sdktest: %v", err)
	}
	ob := setupOps(t, "")
	ctx, cancel := context.WithTimeout(ob.ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "testdata/jssdk.mjs", "file://"+sdk, ob.srv.URL, ob.key)
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
	ob.finish(t)
	_, _ = io.WriteString(stdin, "go\n")
	_ = stdin.Close()
	ok := out.Scan() && out.Text() == "ok"
	if err := cmd.Wait(); err != nil || !ok {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	types := map[string]int{}
	for _, ev := range ob.events(t) {
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
