package lro_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

func TestParseBatchGenerateContent(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	tests := []struct {
		name  string
		model string
		body  string
		want  lro.BatchRequest
		wc    string // webhook config as JSON, "" for none
	}{
		{
			name:  "SDK inline requests (captured #22)",
			model: "gemini-2.5-flash",
			body:  `{"batch":{"inputConfig":{"requests":{"requests":[{"request":{"contents":[{"parts":[{"text":"hello"}],"role":"user"}]},"metadata":{"key":"r1"}}]}},"displayName":"probe-batch","webhookConfig":{"uris":["https://example.test/override"],"userMetadata":{"job":"nightly","n":1}}}}`,
			want: lro.BatchRequest{Model: "gemini-2.5-flash", DisplayName: "probe-batch", Requests: []lro.InlinedRequest{{
				Request:  json.RawMessage(`{"contents":[{"parts":[{"text":"hello"}],"role":"user"}]}`),
				Metadata: json.RawMessage(`{"key":"r1"}`),
			}}},
			wc: `{"uris":["https://example.test/override"],"user_metadata":{"job":"nightly","n":1}}`,
		},
		{
			name:  "SDK file source with snake user_metadata (captured #23)",
			model: "models/gemini-2.5-flash",
			body:  `{"batch":{"inputConfig":{"fileName":"files/input123"},"webhookConfig":{"uris":["https://example.test/o2"],"user_metadata":{"a":"b"}}}}`,
			want:  lro.BatchRequest{Model: "gemini-2.5-flash", FileName: "files/input123"},
			wc:    `{"uris":["https://example.test/o2"],"user_metadata":{"a":"b"}}`,
		},
		{
			name:  "all snake_case, bare request list, request without wrapper",
			model: "gemini-2.5-flash",
			body:  `{"batch":{"input_config":{"requests":[{"contents":[{"parts":[{"text":"x"}]}],"metadata":{"k":1}}]},"display_name":"n","webhook_config":{"user_metadata":{"a":1}}}}`,
			want: lro.BatchRequest{Model: "gemini-2.5-flash", DisplayName: "n", Requests: []lro.InlinedRequest{{
				Request: json.RawMessage(`{"contents":[{"parts":[{"text":"x"}]}]}`), Metadata: json.RawMessage(`{"k":1}`),
			}}},
			wc: `{"user_metadata":{"a":1}}`,
		},
		{
			name:  "as many URIs as the publish API takes",
			model: "gemini-2.5-flash",
			body:  `{"batch":{"inputConfig":{"fileName":"files/a"},"webhookConfig":{"uris":["https://a.test/0"` + strings.Repeat(`,"https://a.test/0"`, webhookd.MaxWebhookConfigURIs-2) + `,"https://a.test/1"]}}}`,
			want:  lro.BatchRequest{Model: "gemini-2.5-flash", FileName: "files/a"},
			wc:    `{"uris":["https://a.test/0","https://a.test/1"]}`,
		},
		{
			name:  "a request that will fail its line is still accepted",
			model: "gemini-2.5-flash",
			body:  `{"batch":{"inputConfig":{"requests":{"requests":[{"request":{}}]}},"webhookConfig":{}}}`,
			want:  lro.BatchRequest{Model: "gemini-2.5-flash", Requests: []lro.InlinedRequest{{Request: json.RawMessage(`{}`)}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := m.ParseBatchGenerateContent(tt.model, []byte(tt.body))
			if err != nil {
				t.Fatalf("ParseBatchGenerateContent: %v", err)
			}
			checkBatchRequest(t, got, tt.want, tt.wc)
		})
	}
}

func checkBatchRequest(t *testing.T, got *lro.BatchRequest, want lro.BatchRequest, wc string) {
	t.Helper()
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	jsonEqual(t, gotJSON, string(wantJSON))
	switch {
	case wc == "" && got.WebhookConfig != nil:
		t.Errorf("WebhookConfig = %+v, want nil", got.WebhookConfig)
	case wc != "":
		b, _ := json.Marshal(got.WebhookConfig)
		jsonEqual(t, b, wc)
	}
}

func TestParseBatchCreate(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	tests := []struct {
		name string
		body string
		want lro.BatchRequest
		wc   string
	}{
		{
			name: "the source document's REST example",
			body: `{"src":"files/uploaded_file_id","config":{"display_name":"My Setup","webhook_config":{"uris":["https://my-api.com/gemini-webhook-dynamic"],"user_metadata":{"job_group":"nightly-eval","priority":"high"}}}}`,
			want: lro.BatchRequest{Model: "gemini-3-flash-preview", DisplayName: "My Setup", FileName: "files/uploaded_file_id"},
			wc:   `{"uris":["https://my-api.com/gemini-webhook-dynamic"],"user_metadata":{"job_group":"nightly-eval","priority":"high"}}`,
		},
		{
			name: "the document's JS example spelling (camel config, snake metadata)",
			body: `{"src":"files/f1","config":{"displayName":"My Setup","webhookConfig":{"uris":["https://a.example/h"],"user_metadata":{"p":"high"}}}}`,
			want: lro.BatchRequest{Model: "gemini-3-flash-preview", DisplayName: "My Setup", FileName: "files/f1"},
			wc:   `{"uris":["https://a.example/h"],"user_metadata":{"p":"high"}}`,
		},
		{
			name: "inline list src (Python InlinedRequest shape)",
			body: `{"src":[{"contents":[{"parts":[{"text":"a"}]}],"metadata":{"k":"1"}},{"request":{"contents":[]}}]}`,
			want: lro.BatchRequest{Model: "gemini-3-flash-preview", Requests: []lro.InlinedRequest{
				{Request: json.RawMessage(`{"contents":[{"parts":[{"text":"a"}]}]}`), Metadata: json.RawMessage(`{"k":"1"}`)},
				{Request: json.RawMessage(`{"contents":[]}`)},
			}},
		},
		{
			name: "src object with file_name",
			body: `{"src":{"file_name":"files/abc-1"}}`,
			want: lro.BatchRequest{Model: "gemini-3-flash-preview", FileName: "files/abc-1"},
		},
		{
			name: "src object with inlinedRequests",
			body: `{"src":{"inlinedRequests":[{"contents":[{"parts":[{"text":"a"}]}]}]}}`,
			want: lro.BatchRequest{Model: "gemini-3-flash-preview", Requests: []lro.InlinedRequest{
				{Request: json.RawMessage(`{"contents":[{"parts":[{"text":"a"}]}]}`)},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := m.ParseBatchCreate("gemini-3-flash-preview", []byte(tt.body))
			if err != nil {
				t.Fatalf("ParseBatchCreate: %v", err)
			}
			checkBatchRequest(t, got, tt.want, tt.wc)
		})
	}
}

func TestParseBatchErrorsNameTheField(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	gen := func(model, body string) error { _, err := m.ParseBatchGenerateContent(model, []byte(body)); return err }
	create := func(model, body string) error { _, err := m.ParseBatchCreate(model, []byte(body)); return err }
	tests := []struct {
		name  string
		parse func(model, body string) error
		model string
		body  string
		field string
	}{
		{"no batch", gen, "g", `{}`, "batch"},
		{"batch not an object", gen, "g", `{"batch":[]}`, "batch"},
		{"no inputConfig", gen, "g", `{"batch":{}}`, "batch.inputConfig"},
		{"empty inputConfig", gen, "g", `{"batch":{"inputConfig":{}}}`, "batch.inputConfig"},
		{"both sources", gen, "g", `{"batch":{"inputConfig":{"fileName":"files/a","requests":[]}}}`, "batch.inputConfig"},
		{"empty requests", gen, "g", `{"batch":{"inputConfig":{"requests":{"requests":[]}}}}`, "batch.inputConfig.requests.requests"},
		{"request not an object", gen, "g", `{"batch":{"inputConfig":{"requests":{"requests":[{"request":"hi"}]}}}}`, "batch.inputConfig.requests.requests[0].request"},
		{"element not an object", gen, "g", `{"batch":{"inputConfig":{"requests":{"requests":[1]}}}}`, "batch.inputConfig.requests.requests[0]"},
		{"requests wrong type", gen, "g", `{"batch":{"inputConfig":{"requests":"x"}}}`, "batch.inputConfig.requests"},
		{"fileName not files/", gen, "g", `{"batch":{"inputConfig":{"fileName":"gs://b/x"}}}`, "batch.inputConfig.fileName"},
		{"snake file_name wrong type", gen, "g", `{"batch":{"input_config":{"file_name":7}}}`, "batch.input_config.file_name"},
		{"displayName wrong type", gen, "g", `{"batch":{"displayName":1,"inputConfig":{"fileName":"files/a"}}}`, "batch.displayName"},
		{"display_name control char", gen, "g", `{"batch":{"display_name":"a\u0001","inputConfig":{"fileName":"files/a"}}}`, "batch.display_name"},
		{"bad model", gen, "a b", `{"batch":{"inputConfig":{"fileName":"files/a"}}}`, "model"},
		{"empty model", gen, "models/", `{"batch":{"inputConfig":{"fileName":"files/a"}}}`, "model"},
		{"webhookConfig not an object", gen, "g", `{"batch":{"inputConfig":{"fileName":"files/a"},"webhookConfig":"x"}}`, "batch.webhookConfig"},
		{"a URI over the limit", gen, "g", `{"batch":{"inputConfig":{"fileName":"files/a"},"webhookConfig":{"uris":["https://a.test/` + strings.Repeat(`","https://a.test/`, webhookd.MaxWebhookConfigURIs) + `"]}}}`, "batch.webhookConfig.uris"},
		{"uris not an array", gen, "g", `{"batch":{"inputConfig":{"fileName":"files/a"},"webhookConfig":{"uris":"https://a.test"}}}`, "batch.webhookConfig.uris"},
		{"uri not https", gen, "g", `{"batch":{"inputConfig":{"fileName":"files/a"},"webhookConfig":{"uris":["http://a.test"]}}}`, "batch.webhookConfig.uris[0]"},
		{"uri not a string", gen, "g", `{"batch":{"inputConfig":{"fileName":"files/a"},"webhook_config":{"uris":[1]}}}`, "batch.webhook_config.uris[0]"},
		{"user_metadata not an object", gen, "g", `{"batch":{"inputConfig":{"fileName":"files/a"},"webhookConfig":{"user_metadata":[1]}}}`, "batch.webhookConfig.user_metadata"},
		{"user_metadata too big", gen, "g", `{"batch":{"inputConfig":{"fileName":"files/a"},"webhookConfig":{"userMetadata":{"k":"` + strings.Repeat("x", webhookd.MaxUserMetadataBytes) + `"}}}}`, "batch.webhookConfig.user_metadata"},
		{"no src", create, "g", `{"config":{}}`, "src"},
		{"src number", create, "g", `{"src":1}`, "src"},
		{"src bad file", create, "g", `{"src":"uploaded_file_id"}`, "src"},
		{"src file with slash", create, "g", `{"src":"files/a/b"}`, "src"},
		{"src empty list", create, "g", `{"src":[]}`, "src"},
		{"src empty object", create, "g", `{"src":{}}`, "src"},
		{"src object both", create, "g", `{"src":{"fileName":"files/a","inlinedRequests":[]}}`, "src"},
		{"config not an object", create, "g", `{"src":"files/a","config":[]}`, "config"},
		{"config webhook uri", create, "g", `{"src":"files/a","config":{"webhook_config":{"uris":["not a url"]}}}`, "config.webhook_config.uris[0]"},
		{"config display_name", create, "g", `{"src":"files/a","config":{"display_name":false}}`, "config.display_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantField(t, tt.parse(tt.model, tt.body), tt.field)
		})
	}
}

func TestParseBatchRejectsBadJSON(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	for _, body := range []string{`{`, `[]`, `"x"`, `{"batch":}`} {
		if _, err := m.ParseBatchGenerateContent("g", []byte(body)); webhookd.ErrorCode(err) != webhookd.EINVALID {
			t.Errorf("ParseBatchGenerateContent(%s) err = %v; want invalid", body, err)
		}
		if _, err := m.ParseBatchCreate("g", []byte(body)); webhookd.ErrorCode(err) != webhookd.EINVALID {
			t.Errorf("ParseBatchCreate(%s) err = %v; want invalid", body, err)
		}
	}
}

// newBatch parses body (a :batchGenerateContent request) and creates the
// batch at t0.
func newBatch(t *testing.T, m *lro.Machine, body string) *webhookd.Operation {
	t.Helper()
	req, err := m.ParseBatchGenerateContent("gemini-2.5-flash", []byte(body))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	op, err := m.NewBatch("prj_1", req, t0)
	if err != nil {
		t.Fatalf("NewBatch: %v", err)
	}
	return op
}

const (
	inlineBody = `{"batch":{"displayName":"nightly","inputConfig":{"requests":{"requests":[` +
		`{"request":{"contents":[{"role":"user","parts":[{"text":"hello"},{"text":"world"}]}]},"metadata":{"key":"r1"}},` +
		`{"request":{"contents":[]},"metadata":{"key":"r2"}},` +
		`{"request":{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":"AA=="}}]}]}}` +
		`]}},"webhookConfig":{"uris":["https://example.test/hook"],"userMetadata":{"job":"nightly","n":1}}}}`
	allFailBody = `{"batch":{"inputConfig":{"requests":{"requests":[{"request":{}},{"request":{"contents":[{"parts":[]}]}}]}},"webhookConfig":{"user_metadata":{"t":"x"}}}}`
	fileBody    = `{"batch":{"inputConfig":{"fileName":"files/input1"}}}`
)

func TestNewBatch(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{BatchExpiry: 2 * time.Hour})
	op := newBatch(t, m, inlineBody)
	if !strings.HasPrefix(op.ID, webhookd.PrefixBatch) || op.Kind != webhookd.OperationBatch || op.ProjectID != "prj_1" ||
		op.State != webhookd.BatchPending || op.Version != 1 || op.Model != "gemini-2.5-flash" || op.DisplayName != "nightly" {
		t.Fatalf("NewBatch = %+v", op)
	}
	if !op.NextStepTime.Equal(t0) || !op.ExpireTime.Equal(t0.Add(2*time.Hour)) || !op.CreateTime.Equal(t0) || op.EndTime != nil {
		t.Fatalf("NewBatch times: next %v expire %v create %v end %v", op.NextStepTime, op.ExpireTime, op.CreateTime, op.EndTime)
	}
	if op.WebhookConfig == nil || op.WebhookConfig.URIs[0] != "https://example.test/hook" {
		t.Fatalf("WebhookConfig = %+v", op.WebhookConfig)
	}
}

// runToEnd steps a new batch through PENDING → RUNNING → its end with input
// in, checking the intermediate step, and returns the final change.
func runToEnd(t *testing.T, m *lro.Machine, op *webhookd.Operation, in lro.BatchInput) webhookd.OperationChange {
	t.Helper()
	c, err := m.StepBatch(op, in, t0)
	if err != nil {
		t.Fatalf("step PENDING: %v", err)
	}
	running := updated(t, c, op, t0)
	if running.State != webhookd.BatchRunning || len(c.Events) != 0 || len(c.Files) != 0 {
		t.Fatalf("after PENDING step: state %s, %d events, %d files", running.State, len(c.Events), len(c.Files))
	}
	dur := m.Config().SimJobDuration
	if !running.NextStepTime.Equal(t0.Add(dur)) {
		t.Fatalf("RUNNING NextStepTime = %v, want %v", running.NextStepTime, t0.Add(dur))
	}
	end := t0.Add(dur)
	c, err = m.StepBatch(running, in, end)
	if err != nil {
		t.Fatalf("step RUNNING: %v", err)
	}
	updated(t, c, running, end)
	return c
}

func TestBatchSucceedsWithFailedLines(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	op := newBatch(t, m, inlineBody)
	c := runToEnd(t, m, op, lro.BatchInput{})
	done := c.Update[0]
	if done.State != webhookd.BatchSucceeded || done.ErrorCode != "" {
		t.Fatalf("state %s error %q", done.State, done.ErrorCode)
	}
	if len(c.Files) != 1 {
		t.Fatalf("%d files, want the results file", len(c.Files))
	}
	f := c.Files[0]
	if f.ProjectID != "prj_1" || f.Source != webhookd.FileGenerated || f.MimeType != "application/jsonl" || f.SizeBytes != int64(len(f.Content)) {
		t.Errorf("results file = %+v", f)
	}
	lines := strings.Split(strings.TrimSuffix(string(f.Content), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("results file has %d lines, want 3:\n%s", len(lines), f.Content)
	}
	jsonEqual(t, []byte(lines[0]), `{"metadata":{"key":"r1"},"response":{"candidates":[{"content":{"role":"model","parts":[{"text":"hello\nworld"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":2,"totalTokenCount":4},"modelVersion":"gemini-2.5-flash"}}`)
	jsonEqual(t, []byte(lines[1]), `{"metadata":{"key":"r2"},"error":{"code":3,"message":"Invalid request: contents is required and must not be empty.","status":"INVALID_ARGUMENT"}}`)
	jsonEqual(t, []byte(lines[2]), `{"error":{"code":3,"message":"Invalid request: contents has no text part.","status":"INVALID_ARGUMENT"}}`)

	ev := oneEvent(t, c)
	if ev.Type != webhookd.EventBatchSucceeded || ev.ProjectID != "prj_1" || ev.Source != "operation:batches/"+op.ID ||
		ev.WebhookConfig == nil || ev.WebhookConfig.URIs[0] != "https://example.test/hook" {
		t.Errorf("event = %+v", ev)
	}
	jsonEqual(t, ev.Data, `{"id":"`+op.ID+`","output_file_uri":"`+baseURL+`/v1/files/`+f.ID+`:download?alt=media","error_count":2,"user_metadata":{"job":"nightly","n":1}}`)

	// The SDK reads the outcome from metadata: state, output.inlinedResponses.
	raw, err := m.RenderBatch(done)
	if err != nil {
		t.Fatalf("RenderBatch: %v", err)
	}
	end := t0.Add(m.Config().SimJobDuration).Format(time.RFC3339Nano)
	jsonEqual(t, raw, `{"name":"batches/`+op.ID+`","done":true,
		"metadata":{"@type":"type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch","name":"batches/`+op.ID+`",
			"model":"models/gemini-2.5-flash","displayName":"nightly","state":"BATCH_STATE_SUCCEEDED",
			"createTime":"2026-11-20T10:00:00Z","updateTime":"`+end+`","endTime":"`+end+`",
			"output":{"inlinedResponses":{"inlinedResponses":[`+lines[0]+`,`+lines[1]+`,`+lines[2]+`]}},
			"batchStats":{"requestCount":"3","successfulRequestCount":"1","failedRequestCount":"2"}},
		"response":{"@type":"type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput",
			"inlinedResponses":{"inlinedResponses":[`+lines[0]+`,`+lines[1]+`,`+lines[2]+`]}}}`)
}

func TestBatchAllLinesFail(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	op := newBatch(t, m, allFailBody)
	c := runToEnd(t, m, op, lro.BatchInput{})
	done := c.Update[0]
	if done.State != webhookd.BatchFailed || done.ErrorCode != "INVALID_ARGUMENT" {
		t.Fatalf("state %s code %q", done.State, done.ErrorCode)
	}
	if len(c.Files) != 1 {
		t.Errorf("%d files; the results file explains the failures and must be kept", len(c.Files))
	}
	ev := oneEvent(t, c)
	if ev.Type != webhookd.EventBatchFailed || ev.WebhookConfig.Dynamic() {
		t.Errorf("event = %+v", ev)
	}
	const msg = "All 2 requests failed; the first failed with: Invalid request: contents is required and must not be empty."
	jsonEqual(t, ev.Data, `{"id":"`+op.ID+`","error_code":"INVALID_ARGUMENT","error_message":"`+msg+`","user_metadata":{"t":"x"}}`)
	raw, err := m.RenderBatch(done)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Metadata struct{ State string }
		Done     bool
		Error    struct {
			Code    int
			Message string
		}
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Metadata.State != "BATCH_STATE_FAILED" || !got.Done || got.Error.Code != 3 || got.Error.Message != msg {
		t.Errorf("rendered %s", raw)
	}
}

func TestBatchFromFile(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	input := strings.Join([]string{
		`{"key":"a","request":{"contents":[{"parts":[{"text":"one"}]}]}}`,
		``,
		`not json`,
		`{"key":"c","contents":[{"parts":[{"text":"three"}]}]}`,
		`{"key":"d","request":{"contents":[{"parts":[{"text":"four"}]}]},"metadata":{"m":1}}`,
	}, "\n")
	tests := []struct {
		name      string
		in        lro.BatchInput
		state     webhookd.OperationState
		eventType string
		data      func(op *webhookd.Operation, file *webhookd.File) string
		lines     []string
	}{
		{
			name: "JSONL with a bad line", in: lro.BatchInput{File: []byte(input)},
			state: webhookd.BatchSucceeded, eventType: webhookd.EventBatchSucceeded,
			data: func(op *webhookd.Operation, f *webhookd.File) string {
				return `{"id":"` + op.ID + `","output_file_uri":"` + baseURL + `/v1/files/` + f.ID + `:download?alt=media","error_count":1}`
			},
			lines: []string{
				`{"key":"a","response":{"candidates":[{"content":{"role":"model","parts":[{"text":"one"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":1,"totalTokenCount":2},"modelVersion":"gemini-2.5-flash"}}`,
				`{"error":{"code":3,"message":"Invalid request: line 3 is not a JSON object.","status":"INVALID_ARGUMENT"}}`,
				`{"key":"c","response":{"candidates":[{"content":{"role":"model","parts":[{"text":"three"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":1,"totalTokenCount":2},"modelVersion":"gemini-2.5-flash"}}`,
				`{"key":"d","metadata":{"m":1},"response":{"candidates":[{"content":{"role":"model","parts":[{"text":"four"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":1,"totalTokenCount":2},"modelVersion":"gemini-2.5-flash"}}`,
			},
		},
		{
			name: "empty file", in: lro.BatchInput{File: []byte("\n\n")},
			state: webhookd.BatchFailed, eventType: webhookd.EventBatchFailed,
			data: func(op *webhookd.Operation, _ *webhookd.File) string {
				return `{"id":"` + op.ID + `","error_code":"INVALID_ARGUMENT","error_message":"The input file files/input1 has no requests."}`
			},
			lines: []string{},
		},
		{
			name: "input file deleted", in: lro.BatchInput{FileErr: webhookd.NotFound("File")},
			state: webhookd.BatchFailed, eventType: webhookd.EventBatchFailed,
			data: func(op *webhookd.Operation, _ *webhookd.File) string {
				return `{"id":"` + op.ID + `","error_code":"NOT_FOUND","error_message":"The input file files/input1 could not be read: File not found"}`
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op := newBatch(t, m, fileBody)
			c := runToEnd(t, m, op, tt.in)
			if got := c.Update[0].State; got != tt.state {
				t.Fatalf("state = %s, want %s", got, tt.state)
			}
			ev := oneEvent(t, c)
			if ev.Type != tt.eventType || ev.WebhookConfig != nil {
				t.Errorf("event = %+v", ev)
			}
			var file *webhookd.File
			if tt.lines == nil {
				if len(c.Files) != 0 {
					t.Errorf("%d files written for a batch that read nothing", len(c.Files))
				}
			} else {
				if len(c.Files) != 1 {
					t.Fatalf("%d files, want 1", len(c.Files))
				}
				file = c.Files[0]
				got := strings.Split(strings.TrimSuffix(string(file.Content), "\n"), "\n")
				if len(tt.lines) == 0 && len(file.Content) == 0 {
					got = nil
				}
				if len(got) != len(tt.lines) {
					t.Fatalf("results:\n%s\nwant %d lines", file.Content, len(tt.lines))
				}
				for i := range got {
					jsonEqual(t, []byte(got[i]), tt.lines[i])
				}
			}
			jsonEqual(t, ev.Data, tt.data(op, file))
			if tt.state == webhookd.BatchSucceeded {
				raw, err := m.RenderBatch(c.Update[0])
				if err != nil {
					t.Fatal(err)
				}
				var got struct {
					Metadata struct {
						Output     map[string]any
						BatchStats map[string]string
					}
				}
				if err := json.Unmarshal(raw, &got); err != nil {
					t.Fatal(err)
				}
				if got.Metadata.Output["responsesFile"] != file.Name() || got.Metadata.Output["inlinedResponses"] != nil {
					t.Errorf("output = %v; want responsesFile %s only", got.Metadata.Output, file.Name())
				}
				if got.Metadata.BatchStats["requestCount"] != "4" || got.Metadata.BatchStats["failedRequestCount"] != "1" {
					t.Errorf("batchStats = %v", got.Metadata.BatchStats)
				}
			}
		})
	}
}

func TestBatchExpiry(t *testing.T) {
	t.Parallel()
	// A job longer than the expiry: the runner wakes at the expiry, not after the job.
	m := newMachine(t, lro.Config{SimJobDuration: 3 * time.Hour, BatchExpiry: time.Hour})
	op := newBatch(t, m, inlineBody)
	c, err := m.StepBatch(op, lro.BatchInput{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	running := updated(t, c, op, t0)
	if !running.NextStepTime.Equal(t0.Add(time.Hour)) {
		t.Fatalf("NextStepTime = %v, want the expiry %v", running.NextStepTime, t0.Add(time.Hour))
	}
	for _, tt := range []struct {
		name string
		op   *webhookd.Operation
		at   time.Time
	}{
		{"running at the expiry", running, t0.Add(time.Hour)},
		{"pending past the expiry", op, t0.Add(2 * time.Hour)},
	} {
		c, err := m.StepBatch(tt.op, lro.BatchInput{}, tt.at)
		if err != nil {
			t.Fatal(err)
		}
		n := updated(t, c, tt.op, tt.at)
		if n.State != webhookd.BatchExpired || n.ErrorCode != "DEADLINE_EXCEEDED" || len(c.Files) != 0 {
			t.Errorf("%s: state %s code %s files %d", tt.name, n.State, n.ErrorCode, len(c.Files))
		}
		ev := oneEvent(t, c)
		if ev.Type != webhookd.EventBatchExpired {
			t.Errorf("%s: event %s", tt.name, ev.Type)
		}
		jsonEqual(t, ev.Data, `{"id":"`+op.ID+`","user_metadata":{"job":"nightly","n":1}}`)
	}
}

func TestCancelBatch(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{BatchExpiry: time.Hour})
	pending := newBatch(t, m, inlineBody)
	c, err := m.StepBatch(pending, lro.BatchInput{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	running := c.Update[0]
	succeeded := runToEnd(t, m, pending, lro.BatchInput{}).Update[0]

	for _, tt := range []struct {
		name  string
		op    *webhookd.Operation
		at    time.Time
		state webhookd.OperationState
		event string
	}{
		{"pending", pending, t0.Add(time.Second), webhookd.BatchCancelled, webhookd.EventBatchCancelled},
		{"running", running, t0.Add(time.Second), webhookd.BatchCancelled, webhookd.EventBatchCancelled},
		{"running past its expiry expires instead", running, t0.Add(time.Hour), webhookd.BatchExpired, webhookd.EventBatchExpired},
	} {
		c, err := m.CancelBatch(tt.op, tt.at)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		n := updated(t, c, tt.op, tt.at)
		ev := oneEvent(t, c)
		if n.State != tt.state || ev.Type != tt.event {
			t.Errorf("%s: state %s event %s; want %s %s", tt.name, n.State, ev.Type, tt.state, tt.event)
		}
		jsonEqual(t, ev.Data, `{"id":"`+pending.ID+`","user_metadata":{"job":"nightly","n":1}}`)
	}

	cancelled, _ := m.CancelBatch(running, t0.Add(time.Second))
	if c, err := m.CancelBatch(cancelled.Update[0], t0.Add(2*time.Second)); err != nil || !c.Empty() {
		t.Errorf("cancelling a cancelled batch: change %+v, err %v; want nothing, no error", c, err)
	}
	if _, err := m.CancelBatch(succeeded, t0.Add(time.Minute)); webhookd.ErrorCode(err) != webhookd.EPRECONDITION {
		t.Errorf("cancelling a succeeded batch: err %v; want precondition", err)
	}
	// A cancelled batch that the runner still had claimed only loses its step.
	c, err = m.StepBatch(cancelled.Update[0], lro.BatchInput{}, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Update[0]; n.State != webhookd.BatchCancelled || n.NextStepTime != nil || len(c.Events) != 0 {
		t.Errorf("step of a cancelled batch: %+v, %d events", n, len(c.Events))
	}
}

func TestRenderBatchPending(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	op := newBatch(t, m, inlineBody)
	raw, err := m.RenderBatch(op)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, raw, `{"name":"batches/`+op.ID+`","metadata":{"@type":"type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
		"name":"batches/`+op.ID+`","model":"models/gemini-2.5-flash","displayName":"nightly","state":"BATCH_STATE_PENDING",
		"createTime":"2026-11-20T10:00:00Z","updateTime":"2026-11-20T10:00:00Z",
		"batchStats":{"requestCount":"3","pendingRequestCount":"3"}}}`)
	// RenderOperation renders a batch exactly as its own route does.
	same, err := m.RenderOperation(op)
	if err != nil || string(same) != string(raw) {
		t.Errorf("RenderOperation = %s, %v; want %s", same, err, raw)
	}
	fileOp := newBatch(t, m, fileBody)
	raw, err = m.RenderBatch(fileOp)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "batchStats") {
		t.Errorf("a file batch that has not run cannot know its request count: %s", raw)
	}
}
