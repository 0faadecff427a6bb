package lro_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

func TestParseVideo(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	tests := []struct {
		name, model, body, prompt, wc string
	}{
		{
			name: "SDK 2.32 (camelCase, metadata verbatim)", model: "veo-3.0-generate-001",
			body:   `{"instances":[{"prompt":"a cat"}],"parameters":{"sampleCount":1},"webhookConfig":{"uris":["https://example.test/v"],"userMetadata":{"clip":7}}}`,
			prompt: "a cat", wc: `{"uris":["https://example.test/v"],"user_metadata":{"clip":7}}`,
		},
		{
			name: "snake_case", model: "models/veo-3.0-generate-001",
			body:   `{"instances":[{"prompt":"a dog"}],"webhook_config":{"user_metadata":{"clip":8}}}`,
			prompt: "a dog", wc: `{"user_metadata":{"clip":8}}`,
		},
		{
			name: "image only", model: "veo-3.0-generate-001",
			body: `{"instances":[{"image":{"bytesBase64Encoded":"AA==","mimeType":"image/png"}}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := m.ParseVideo(tt.model, []byte(tt.body))
			if err != nil {
				t.Fatalf("ParseVideo: %v", err)
			}
			if req.Model != "veo-3.0-generate-001" || req.Prompt != tt.prompt {
				t.Errorf("parsed %+v", req)
			}
			if tt.wc == "" {
				if req.WebhookConfig != nil {
					t.Errorf("WebhookConfig = %+v", req.WebhookConfig)
				}
				return
			}
			b, _ := json.Marshal(req.WebhookConfig)
			jsonEqual(t, b, tt.wc)
		})
	}
	for _, tt := range []struct{ body, field string }{
		{`{}`, "instances"},
		{`{"instances":[]}`, "instances"},
		{`{"instances":{}}`, "instances"},
		{`{"instances":[1]}`, "instances[0]"},
		{`{"instances":[{}]}`, "instances[0].prompt"},
		{`{"instances":[{"prompt":3}]}`, "instances[0].prompt"},
		{`{"instances":[{"prompt":"a"}],"parameters":[]}`, "parameters"},
		{`{"instances":[{"prompt":"a"}],"webhookConfig":{"uris":["https://"]}}`, "webhookConfig.uris[0]"},
	} {
		_, err := m.ParseVideo("veo", []byte(tt.body))
		wantField(t, err, tt.field)
	}
}

func TestVideoGeneration(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{SimJobDuration: 10 * time.Second})
	req, err := m.ParseVideo("veo-3.0-generate-001", []byte(`{"instances":[{"prompt":"a cat"}],"webhookConfig":{"uris":["https://example.test/v"],"userMetadata":{"clip":7}}}`))
	if err != nil {
		t.Fatal(err)
	}
	op, err := m.NewVideo("prj_1", req, t0)
	if err != nil {
		t.Fatal(err)
	}
	end := t0.Add(10 * time.Second)
	if op.State != webhookd.VideoRunning || op.Version != 1 || !op.NextStepTime.Equal(end) || op.Kind != webhookd.OperationVideo {
		t.Fatalf("NewVideo = %+v", op)
	}
	name := "models/veo-3.0-generate-001/operations/" + op.ID
	raw, err := m.RenderVideo(op)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, raw, `{"name":"`+name+`","metadata":{"@type":"type.googleapis.com/webhookd.v1.VideoMetadata","createTime":"2026-11-20T10:00:00Z","updateTime":"2026-11-20T10:00:00Z"}}`)

	c, err := m.StepVideo(op, end)
	if err != nil {
		t.Fatal(err)
	}
	done := updated(t, c, op, end)
	if done.State != webhookd.VideoDone || len(c.Files) != 1 {
		t.Fatalf("state %s, %d files", done.State, len(c.Files))
	}
	f := c.Files[0]
	if f.MimeType != "video/mp4" || f.Source != webhookd.FileGenerated || !bytes.Equal(f.Content[4:8], []byte("ftyp")) || !bytes.Contains(f.Content, []byte("a cat")) {
		t.Errorf("video file %+v", f)
	}
	uri := baseURL + "/v1/files/" + f.ID + ":download?alt=media"
	ev := oneEvent(t, c)
	if ev.Type != webhookd.EventVideoGenerated || !ev.WebhookConfig.Dynamic() || ev.Source != "operation:"+name {
		t.Errorf("event %+v", ev)
	}
	jsonEqual(t, ev.Data, `{"id":"`+op.ID+`","file_id":"`+f.ID+`","video_uri":"`+uri+`","user_metadata":{"clip":7}}`)
	raw, err = m.RenderVideo(done)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, raw, `{"name":"`+name+`","done":true,
		"metadata":{"@type":"type.googleapis.com/webhookd.v1.VideoMetadata","createTime":"2026-11-20T10:00:00Z","updateTime":"2026-11-20T10:00:10Z","endTime":"2026-11-20T10:00:10Z"},
		"response":{"@type":"type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
			"generateVideoResponse":{"generatedSamples":[{"video":{"uri":"`+uri+`","encoding":"video/mp4"}}]}}}`)
	if same, err := m.RenderOperation(done); err != nil || string(same) != string(raw) {
		t.Errorf("RenderOperation = %s, %v", same, err)
	}
	again, err := m.StepVideo(done, end.Add(time.Second))
	if err != nil || len(again.Events) != 0 || len(again.Files) != 0 || again.Update[0].NextStepTime != nil {
		t.Errorf("step of a done video: %+v %v", again, err)
	}
}
