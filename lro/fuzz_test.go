package lro_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

// The parsers read untrusted request bodies. Whatever the input, they must
// not panic, must fail only with a caller-facing domain error, and whatever
// they accept must run to the end and render without an internal error.

// checkRejection fails unless err is a domain error meant for the caller.
func checkRejection(t *testing.T, err error) {
	t.Helper()
	var e *webhookd.Error
	if !errors.As(err, &e) || (e.Code != webhookd.EINVALID && e.Code != webhookd.ENOTIMPLEMENTED) || e.Message == "" {
		t.Fatalf("rejection %v is not an invalid-argument domain error", err)
	}
}

func mustValidJSON(t *testing.T, what string, raw []byte, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !json.Valid(raw) {
		t.Fatalf("%s: invalid JSON %s", what, raw)
	}
}

func runBatchFuzz(t *testing.T, m *lro.Machine, req *lro.BatchRequest, file []byte) {
	op, err := m.NewBatch("prj_1", req, t0)
	if err != nil {
		t.Fatalf("NewBatch: %v", err)
	}
	raw, err := m.RenderBatch(op)
	mustValidJSON(t, "render pending", raw, err)
	for range 2 {
		c, err := m.StepBatch(op, lro.BatchInput{File: file}, t0.Add(m.Config().SimJobDuration))
		if err != nil {
			t.Fatalf("StepBatch %s: %v", op.State, err)
		}
		op = c.Update[0]
		for _, ev := range c.Events {
			if !json.Valid(ev.Data) || !bytes.Contains(ev.Data, []byte(`"id":"`+op.ID+`"`)) {
				t.Fatalf("event data %s", ev.Data)
			}
		}
	}
	if !op.State.Terminal() {
		t.Fatalf("batch ended %s", op.State)
	}
	raw, err = m.RenderBatch(op)
	mustValidJSON(t, "render done", raw, err)
}

func FuzzParseBatchGenerateContent(f *testing.F) {
	f.Add("gemini-2.5-flash", inlineBody)
	f.Add("models/g", fileBody)
	f.Add("g", allFailBody)
	f.Add("g", `{"batch":{"input_config":{"requests":[{"contents":[{"parts":[{"text":"x"}]}]}]},"webhook_config":{"uris":["https://a.test"],"user_metadata":{}}}}`)
	f.Add("g", `{"batch":{"inputConfig":{"requests":{"requests":[null]}}}}`)
	m, err := lro.New(lro.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, model, body string) {
		req, err := m.ParseBatchGenerateContent(model, []byte(body))
		if err != nil {
			checkRejection(t, err)
			return
		}
		runBatchFuzz(t, m, req, []byte(body))
	})
}

func FuzzParseBatchCreate(f *testing.F) {
	f.Add(`{"src":"files/uploaded_file_id","config":{"display_name":"My Setup","webhook_config":{"uris":["https://my-api.com/gemini-webhook-dynamic"],"user_metadata":{"job_group":"nightly-eval","priority":"high"}}}}`)
	f.Add(`{"src":[{"contents":[{"parts":[{"text":"a"}]}],"metadata":{"k":"1"}},{"request":{"contents":[]}}]}`)
	f.Add(`{"src":{"inlined_requests":[{"contents":[{"parts":[{"text":"a"}]}]}]}}`)
	f.Add(`{"src":{"fileName":"files/a"},"config":null}`)
	m, err := lro.New(lro.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req, err := m.ParseBatchCreate("gemini-3-flash-preview", []byte(body))
		if err != nil {
			checkRejection(t, err)
			return
		}
		runBatchFuzz(t, m, req, []byte(body))
	})
}

// FuzzBatchInputFile runs a file batch over arbitrary input files: every
// non-blank line is answered exactly once, in order.
func FuzzBatchInputFile(f *testing.F) {
	f.Add([]byte(`{"key":"a","request":{"contents":[{"parts":[{"text":"one"}]}]}}` + "\n\nnot json\n" + `{"contents":[{"parts":[{"text":"x"}]}]}`))
	f.Add([]byte("\r\n{}\r\n[]\r\n"))
	f.Add([]byte(`{"key":1,"request":{"contents":[{"parts":[{"text":"\u2028"}]}]}}`))
	m, err := lro.New(lro.Config{})
	if err != nil {
		f.Fatal(err)
	}
	req, err := m.ParseBatchGenerateContent("g", []byte(fileBody))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		op, err := m.NewBatch("prj_1", req, t0)
		if err != nil {
			t.Fatal(err)
		}
		c, err := m.StepBatch(op, lro.BatchInput{}, t0)
		if err != nil {
			t.Fatal(err)
		}
		c, err = m.StepBatch(c.Update[0], lro.BatchInput{File: content}, t0)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for line := range bytes.Lines(content) {
			if len(bytes.TrimSpace(line)) > 0 {
				want++
			}
		}
		if want == 0 {
			if c.Update[0].State != webhookd.BatchFailed {
				t.Fatalf("empty input ended %s", c.Update[0].State)
			}
			return
		}
		out := c.Files[0].Content
		if got := bytes.Count(out, []byte("\n")); got != want {
			t.Fatalf("%d result lines for %d input lines:\n%s", got, want, out)
		}
		for line := range bytes.Lines(out) {
			if !json.Valid(line) {
				t.Fatalf("result line is not JSON: %q", line)
			}
		}
	})
}

func FuzzParseInteraction(f *testing.F) {
	f.Add(`{"model":"gemini-2.5-flash","input":"Say hi","background":true,"webhook_config":{"uris":["https://example.test/int-hook"],"user_metadata":{"ticket":"T-1"}}}`)
	f.Add(`{"agent":"deep-research-pro-preview-12-2025","input":"Research X","background":true}`)
	f.Add(`{"model":"gemini-2.5-flash","input":[{"type":"user_input","content":[{"type":"text","text":"b"}]}],"tools":[{"type":"function","name":"f"}],"background":true}`)
	f.Add(`{"model":"x","input":[{"type":"function_result","call_id":"c","result":[{"type":"text","text":"r"}]}],"store":false}`)
	m, err := lro.New(lro.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req, err := m.ParseInteraction([]byte(body))
		if err != nil {
			checkRejection(t, err)
			return
		}
		c, op, err := m.NewInteraction("prj_1", req, nil, t0)
		if req.PreviousInteractionID != "" {
			checkRejection(t, err)
			return
		}
		if err != nil || len(c.Create) != 1 {
			t.Fatalf("NewInteraction: %+v, %v", c, err)
		}
		for range 2 {
			if op.NextStepTime == nil {
				break
			}
			c, err := m.StepInteraction(op, t0)
			if err != nil {
				t.Fatalf("StepInteraction %s: %v", op.State, err)
			}
			op = c.Update[0]
		}
		raw, err := m.RenderInteraction(op, true)
		mustValidJSON(t, "render", raw, err)
		if op.State == webhookd.InteractionRequiresAction && !strings.Contains(string(raw), `"function_call"`) {
			t.Fatalf("requires_action without a function call: %s", raw)
		}
	})
}

func FuzzParseVideo(f *testing.F) {
	f.Add("veo-3.0-generate-001", `{"instances":[{"prompt":"a cat"}],"parameters":{"sampleCount":1},"webhookConfig":{"uris":["https://example.test/v"],"userMetadata":{"clip":7}}}`)
	f.Add("veo", `{"instances":[{"image":{}}],"webhook_config":{"user_metadata":{"a":[1]}}}`)
	m, err := lro.New(lro.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, model, body string) {
		req, err := m.ParseVideo(model, []byte(body))
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
		raw, err := m.RenderVideo(c.Update[0])
		mustValidJSON(t, "render", raw, err)
	})
}
