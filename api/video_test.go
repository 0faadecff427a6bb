package api

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/webhookd/webhookd/lro"
)

func (s *Server) parseVideoOf(model string) func(*object) (*lro.VideoRequest, error) {
	return func(o *object) (*lro.VideoRequest, error) { return s.parseVideo(model, o) }
}

func TestParseVideo(t *testing.T) {
	t.Parallel()
	s, _ := jobServer(t)
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
			req, err := parseOrErr(tt.body, videoSchema, s.parseVideoOf(tt.model))
			if err != nil {
				t.Fatalf("parseVideo: %v", err)
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
	for _, tt := range []struct{ body, field, text string }{
		{`{}`, "instances", "must list one instance"},
		{`{"instances":[]}`, "instances", "must list one instance"},
		{`{"instances":{}}`, "instances", "must be a list"},
		{`{"instances":[1]}`, "instances[0]", "must be a JSON object"},
		{`{"instances":[{}]}`, "instances[0].prompt", "is required (or an image)"},
		{`{"instances":[{"prompt":3}]}`, "instances[0].prompt", "must be a string"},
		{`{"instances":[{"prompt":"a"}],"parameters":[]}`, "parameters", "must be a JSON object"},
		{`{"instances":[{"prompt":"a"}],"webhookConfig":{"uris":["https://"]}}`, "webhook_config.uris[0]", "(sent as webhookConfig.uris[0])"},
	} {
		_, err := parseOrErr(tt.body, videoSchema, s.parseVideoOf("veo"))
		requireFieldError(t, err, tt.field, tt.text)
	}
}

func TestRenderVideo(t *testing.T) {
	t.Parallel()
	s, m := jobServer(t)
	req, err := parseOrErr(`{"instances":[{"prompt":"a cat"}],"webhookConfig":{"uris":["https://example.test/v"],"userMetadata":{"clip":7}}}`,
		videoSchema, s.parseVideoOf("veo-3.0-generate-001"))
	if err != nil {
		t.Fatal(err)
	}
	op, err := m.NewVideo("prj_1", req, t0)
	if err != nil {
		t.Fatal(err)
	}
	name := "models/veo-3.0-generate-001/operations/" + op.ID
	jsonEqual(t, rendered(t)(s.renderVideo(op)), `{"name":"`+name+`","metadata":{"@type":"type.googleapis.com/webhookd.v1.VideoMetadata","createTime":"2026-11-20T10:00:00Z","updateTime":"2026-11-20T10:00:00Z"}}`)
	c, err := m.StepVideo(op, t0.Add(jobDuration))
	if err != nil {
		t.Fatal(err)
	}
	done, f := c.Update[0], c.Files[0]
	uri := baseURL + "/v1/files/" + f.ID + ":download?alt=media"
	raw := rendered(t)(s.renderVideo(done))
	jsonEqual(t, raw, `{"name":"`+name+`","done":true,
		"metadata":{"@type":"type.googleapis.com/webhookd.v1.VideoMetadata","createTime":"2026-11-20T10:00:00Z","updateTime":"2026-11-20T10:00:05Z","endTime":"2026-11-20T10:00:05Z"},
		"response":{"@type":"type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
			"generateVideoResponse":{"generatedSamples":[{"video":{"uri":"`+uri+`","encoding":"video/mp4"}}]}}}`)
	if same := rendered(t)(s.renderOperation(done)); !bytes.Equal(same, raw) {
		t.Errorf("renderOperation = %s; want %s", same, raw)
	}
}

func FuzzParseVideo(f *testing.F) {
	f.Add("veo-3.0-generate-001", `{"instances":[{"prompt":"a cat"}],"parameters":{"sampleCount":1},"webhookConfig":{"uris":["https://example.test/v"],"userMetadata":{"clip":7}}}`)
	f.Add("veo", `{"instances":[{"image":{}}],"webhook_config":{"user_metadata":{"a":[1]}}}`)
	s, m := jobServer(f)
	f.Fuzz(func(t *testing.T, model, body string) {
		req, err := parseOrErr(body, videoSchema, s.parseVideoOf(model))
		if err != nil {
			checkRejection(t, err)
			return
		}
		op, err := m.NewVideo("prj_1", req, t0)
		if err != nil {
			t.Fatal(err)
		}
		c, err := m.StepVideo(op, t0)
		if err != nil {
			t.Fatal(err)
		}
		mustJSON(t, "render", rendered(t)(s.renderVideo(c.Update[0])))
	})
}
