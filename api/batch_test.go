package api

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

func (s *Server) parseGenerate(model string) func(*object) (*lro.BatchRequest, error) {
	return func(o *object) (*lro.BatchRequest, error) {
		req, _, err := s.parseBatchGenerateContent(model, o)
		return req, err
	}
}

func (s *Server) parseCreate(model string) func(*object) (*lro.BatchRequest, error) {
	return func(o *object) (*lro.BatchRequest, error) {
		req, _, err := s.parseBatchCreate(model, o)
		return req, err
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

func TestParseBatchGenerateContent(t *testing.T) {
	t.Parallel()
	s, _ := jobServer(t)
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
			name:  "fields the simulator does not read are dropped",
			model: "gemini-2.5-flash",
			body:  `{"batch":{"model":"x","outputConfig":{},"inputConfig":{"fileName":"files/a","priority":1}},"extra":true}`,
			want:  lro.BatchRequest{Model: "gemini-2.5-flash", FileName: "files/a"},
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
			got, err := parseOrErr(tt.body, batchGenerateContentSchema, s.parseGenerate(tt.model))
			if err != nil {
				t.Fatalf("parseBatchGenerateContent: %v", err)
			}
			checkBatchRequest(t, got, tt.want, tt.wc)
		})
	}
}

func TestParseBatchCreate(t *testing.T) {
	t.Parallel()
	s, _ := jobServer(t)
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
			got, err := parseOrErr(tt.body, batchCreateSchema, s.parseCreate("gemini-3-flash-preview"))
			if err != nil {
				t.Fatalf("parseBatchCreate: %v", err)
			}
			checkBatchRequest(t, got, tt.want, tt.wc)
		})
	}
}

// TestParseBatchErrorsNameTheField: errors name the field by its
// snake_case path and, when the caller spelled it otherwise, as sent.
func TestParseBatchErrorsNameTheField(t *testing.T) {
	t.Parallel()
	s, _ := jobServer(t)
	gen := func(model, body string) error {
		_, err := parseOrErr(body, batchGenerateContentSchema, s.parseGenerate(model))
		return err
	}
	create := func(model, body string) error {
		_, err := parseOrErr(body, batchCreateSchema, s.parseCreate(model))
		return err
	}
	tests := []struct {
		name  string
		parse func(model, body string) error
		model string
		body  string
		field string
		text  string // a part of the message
	}{
		{"no batch", gen, "g", `{}`, "batch", "batch is required"},
		{"batch not an object", gen, "g", `{"batch":[]}`, "batch", "batch must be a JSON object."},
		{"no inputConfig", gen, "g", `{"batch":{}}`, "batch.input_config", "batch.input_config is required"},
		{"empty inputConfig", gen, "g", `{"batch":{"inputConfig":{}}}`, "batch.input_config", "(sent as batch.inputConfig)"},
		{"both sources", gen, "g", `{"batch":{"inputConfig":{"fileName":"files/a","requests":[]}}}`, "batch.input_config", "not both"},
		{"empty requests", gen, "g", `{"batch":{"inputConfig":{"requests":{"requests":[]}}}}`, "batch.input_config.requests.requests", "(sent as batch.inputConfig.requests.requests)"},
		{"request not an object", gen, "g", `{"batch":{"inputConfig":{"requests":{"requests":[{"request":"hi"}]}}}}`, "batch.input_config.requests.requests[0].request", "must be a JSON object"},
		{"element not an object", gen, "g", `{"batch":{"inputConfig":{"requests":{"requests":[1]}}}}`, "batch.input_config.requests.requests[0]", "must be a JSON object"},
		{"requests wrong type", gen, "g", `{"batch":{"inputConfig":{"requests":"x"}}}`, "batch.input_config.requests", "must be a JSON object"},
		{"fileName not files/", gen, "g", `{"batch":{"inputConfig":{"fileName":"gs://b/x"}}}`, "batch.input_config.file_name", `(sent as batch.inputConfig.fileName)`},
		{"snake file_name wrong type", gen, "g", `{"batch":{"input_config":{"file_name":7}}}`, "batch.input_config.file_name", "batch.input_config.file_name must be a string."},
		{"displayName wrong type", gen, "g", `{"batch":{"displayName":1,"inputConfig":{"fileName":"files/a"}}}`, "batch.display_name", "must be a string (sent as batch.displayName)."},
		{"display_name control char", gen, "g", `{"batch":{"display_name":"a\u0001","inputConfig":{"fileName":"files/a"}}}`, "batch.display_name", "control characters"},
		{"bad model", gen, "a b", `{"batch":{"inputConfig":{"fileName":"files/a"}}}`, "model", "model name"},
		{"empty model", gen, "models/", `{"batch":{"inputConfig":{"fileName":"files/a"}}}`, "model", "model name"},
		{"webhookConfig not an object", gen, "g", `{"batch":{"inputConfig":{"fileName":"files/a"},"webhookConfig":"x"}}`, "batch.webhook_config", "(sent as batch.webhookConfig)"},
		{"uris not a list", gen, "g", `{"batch":{"inputConfig":{"fileName":"files/a"},"webhookConfig":{"uris":"https://a.test"}}}`, "batch.webhook_config.uris", "(sent as batch.webhookConfig.uris)"},
		{"uri not https", gen, "g", `{"batch":{"inputConfig":{"fileName":"files/a"},"webhookConfig":{"uris":["http://a.test"]}}}`, "batch.webhook_config.uris[0]", "must use https (sent as batch.webhookConfig.uris[0])."},
		{"uri not a string", gen, "g", `{"batch":{"inputConfig":{"fileName":"files/a"},"webhook_config":{"uris":[1]}}}`, "batch.webhook_config.uris", "element 0 is not a string"},
		{"a URI over the limit", gen, "g", `{"batch":{"inputConfig":{"fileName":"files/a"},"webhookConfig":{"uris":["https://a.test/` + strings.Repeat(`","https://a.test/`, webhookd.MaxWebhookConfigURIs) + `"]}}}`, "batch.webhook_config.uris", "at most 20 URIs"},
		{"user_metadata not an object", gen, "g", `{"batch":{"inputConfig":{"fileName":"files/a"},"webhookConfig":{"user_metadata":[1]}}}`, "batch.webhook_config.user_metadata", "(sent as batch.webhookConfig.user_metadata)"},
		{"user_metadata too big", gen, "g", `{"batch":{"inputConfig":{"fileName":"files/a"},"webhookConfig":{"userMetadata":{"k":"` + strings.Repeat("x", webhookd.MaxUserMetadataBytes) + `"}}}}`, "batch.webhook_config.user_metadata", "(sent as batch.webhookConfig.userMetadata)"},
		{"unknown webhook_config field", gen, "g", `{"batch":{"inputConfig":{"fileName":"files/a"},"webhookConfig":{"uri":"https://a.test"}}}`, "batch.webhook_config.uri", `Unknown field "uri"`},
		{"both spellings", gen, "g", `{"batch":{"inputConfig":{"fileName":"files/a"},"webhookConfig":{},"webhook_config":{}}}`, "batch.webhook_config", "given more than once"},
		{"no src", create, "g", `{"config":{}}`, "src", "src is required"},
		{"src number", create, "g", `{"src":1}`, "src", "src must be"},
		{"src bad file", create, "g", `{"src":"uploaded_file_id"}`, "src", "files/{id}"},
		{"src file with slash", create, "g", `{"src":"files/a/b"}`, "src", "files/{id}"},
		{"src empty list", create, "g", `{"src":[]}`, "src", "at least one request"},
		{"src empty object", create, "g", `{"src":{}}`, "src", "src must set fileName or inlinedRequests."},
		{"src object both", create, "g", `{"src":{"fileName":"files/a","inlinedRequests":[]}}`, "src", "not both"},
		{"config not an object", create, "g", `{"src":"files/a","config":[]}`, "config", "config must be a JSON object"},
		{"config webhook uri", create, "g", `{"src":"files/a","config":{"webhook_config":{"uris":["not a url"]}}}`, "config.webhook_config.uris[0]", "absolute URL"},
		{"config display_name", create, "g", `{"src":"files/a","config":{"display_name":false}}`, "config.display_name", "must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			requireFieldError(t, tt.parse(tt.model, tt.body), tt.field, tt.text)
		})
	}
}

func TestParseBatchRejectsBadJSON(t *testing.T) {
	t.Parallel()
	s, _ := jobServer(t)
	for _, body := range []string{`{`, `[]`, `"x"`, `{"batch":}`, `{"batch":` + deepJSON(MaxJSONDepth) + `}`} {
		if _, err := parseOrErr(body, batchGenerateContentSchema, s.parseGenerate("g")); webhookd.ErrorCode(err) != webhookd.EINVALID {
			t.Errorf("batchGenerateContent %.40s: err = %v; want invalid", body, err)
		}
		if _, err := parseOrErr(body, batchCreateSchema, s.parseCreate("g")); webhookd.ErrorCode(err) != webhookd.EINVALID {
			t.Errorf("batchCreate %.40s: err = %v; want invalid", body, err)
		}
	}
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

// newBatch parses body (a :batchGenerateContent request) and creates the
// batch at t0.
func newBatch(t testing.TB, s *Server, m *lro.Machine, body string) *webhookd.Operation {
	t.Helper()
	req, err := parseOrErr(body, batchGenerateContentSchema, s.parseGenerate("gemini-2.5-flash"))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	op, err := m.NewBatch("prj_1", req, t0)
	if err != nil {
		t.Fatalf("NewBatch: %v", err)
	}
	return op
}

// runBatch steps a new batch through PENDING and RUNNING with in and
// returns the finished batch and its results file, if any.
func runBatch(t testing.TB, m *lro.Machine, op *webhookd.Operation, in lro.BatchInput) (*webhookd.Operation, *webhookd.File) {
	t.Helper()
	for range 2 {
		c, err := m.StepBatch(op, in, t0.Add(jobDuration))
		if err != nil {
			t.Fatalf("StepBatch %s: %v", op.State, err)
		}
		op = c.Update[0]
		if len(c.Files) > 0 {
			return op, c.Files[0]
		}
	}
	return op, nil
}

func TestRenderBatchPending(t *testing.T) {
	t.Parallel()
	s, m := jobServer(t)
	op := newBatch(t, s, m, inlineBody)
	raw := rendered(t)(renderBatch(op))
	jsonEqual(t, raw, `{"name":"batches/`+op.ID+`","metadata":{"@type":"type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
		"name":"batches/`+op.ID+`","model":"models/gemini-2.5-flash","displayName":"nightly","state":"BATCH_STATE_PENDING",
		"createTime":"2026-11-20T10:00:00Z","updateTime":"2026-11-20T10:00:00Z",
		"batchStats":{"requestCount":"3","pendingRequestCount":"3"}}}`)
	// renderOperation renders a batch exactly as its own route does.
	if same := rendered(t)(s.renderOperation(op)); !bytes.Equal(same, raw) {
		t.Errorf("renderOperation = %s; want %s", same, raw)
	}
	if raw := rendered(t)(renderBatch(newBatch(t, s, m, fileBody))); strings.Contains(string(raw), "batchStats") {
		t.Errorf("a file batch that has not run cannot know its request count: %s", raw)
	}
}

// TestRenderBatchSucceededWithFailedLines: the SDK reads the outcome from
// metadata: state, output.inlinedResponses.
func TestRenderBatchSucceededWithFailedLines(t *testing.T) {
	t.Parallel()
	s, m := jobServer(t)
	op := newBatch(t, s, m, inlineBody)
	done, f := runBatch(t, m, op, lro.BatchInput{})
	lines := strings.Split(strings.TrimSuffix(string(f.Content), "\n"), "\n")
	end := t0.Add(jobDuration).Format(time.RFC3339Nano)
	jsonEqual(t, rendered(t)(renderBatch(done)), `{"name":"batches/`+op.ID+`","done":true,
		"metadata":{"@type":"type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch","name":"batches/`+op.ID+`",
			"model":"models/gemini-2.5-flash","displayName":"nightly","state":"BATCH_STATE_SUCCEEDED",
			"createTime":"2026-11-20T10:00:00Z","updateTime":"`+end+`","endTime":"`+end+`",
			"output":{"inlinedResponses":{"inlinedResponses":[`+lines[0]+`,`+lines[1]+`,`+lines[2]+`]}},
			"batchStats":{"requestCount":"3","successfulRequestCount":"1","failedRequestCount":"2"}},
		"response":{"@type":"type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput",
			"inlinedResponses":{"inlinedResponses":[`+lines[0]+`,`+lines[1]+`,`+lines[2]+`]}}}`)
}

func TestRenderBatchFailed(t *testing.T) {
	t.Parallel()
	s, m := jobServer(t)
	done, _ := runBatch(t, m, newBatch(t, s, m, allFailBody), lro.BatchInput{})
	var got struct {
		Metadata struct{ State string }
		Done     bool
		Error    struct {
			Code    int
			Message string
		}
	}
	if err := json.Unmarshal(rendered(t)(renderBatch(done)), &got); err != nil {
		t.Fatal(err)
	}
	const msg = "All 2 requests failed; the first failed with: Invalid request: contents is required and must not be empty."
	if got.Metadata.State != "BATCH_STATE_FAILED" || !got.Done || got.Error.Code != 3 || got.Error.Message != msg {
		t.Errorf("rendered %+v", got)
	}
}

func TestRenderBatchFromFile(t *testing.T) {
	t.Parallel()
	s, m := jobServer(t)
	input := `{"key":"a","request":{"contents":[{"parts":[{"text":"one"}]}]}}` + "\nnot json\n"
	done, f := runBatch(t, m, newBatch(t, s, m, fileBody), lro.BatchInput{File: []byte(input)})
	var got struct {
		Metadata struct {
			Output     map[string]any
			BatchStats map[string]string
		}
	}
	if err := json.Unmarshal(rendered(t)(renderBatch(done)), &got); err != nil {
		t.Fatal(err)
	}
	if got.Metadata.Output["responsesFile"] != f.Name() || got.Metadata.Output["inlinedResponses"] != nil {
		t.Errorf("output = %v; want responsesFile %s only", got.Metadata.Output, f.Name())
	}
	if got.Metadata.BatchStats["requestCount"] != "2" || got.Metadata.BatchStats["failedRequestCount"] != "1" {
		t.Errorf("batchStats = %v", got.Metadata.BatchStats)
	}
}

// The batch parsers read untrusted request bodies. Whatever the input, they
// must not panic, must fail only with a caller's error naming a field, and
// whatever they accept must run to the end and render.

func runBatchFuzz(t *testing.T, s *Server, m *lro.Machine, req *lro.BatchRequest, file []byte) {
	op, err := m.NewBatch("prj_1", req, t0)
	if err != nil {
		t.Fatalf("NewBatch of a parsed request: %v", err)
	}
	mustJSON(t, "render pending", rendered(t)(renderBatch(op)))
	for range 2 {
		c, err := m.StepBatch(op, lro.BatchInput{File: file}, t0.Add(jobDuration))
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
	mustJSON(t, "render done", rendered(t)(renderBatch(op)))
}

func mustJSON(t *testing.T, what string, raw []byte) {
	t.Helper()
	if !json.Valid(raw) {
		t.Fatalf("%s: invalid JSON %s", what, raw)
	}
}

func FuzzParseBatchGenerateContent(f *testing.F) {
	f.Add("gemini-2.5-flash", inlineBody)
	f.Add("models/g", fileBody)
	f.Add("g", allFailBody)
	f.Add("g", `{"batch":{"input_config":{"requests":[{"contents":[{"parts":[{"text":"x"}]}]}]},"webhook_config":{"uris":["https://a.test"],"user_metadata":{}}}}`)
	f.Add("g", `{"batch":{"inputConfig":{"requests":{"requests":[null]}}}}`)
	f.Add("g", `{"batch":{"inputConfig":{"fileName":"files/a"},"webhookConfig":{"uris":[]},"webhook_config":{}}}`)
	s, m := jobServer(f)
	f.Fuzz(func(t *testing.T, model, body string) {
		req, err := parseOrErr(body, batchGenerateContentSchema, s.parseGenerate(model))
		if err != nil {
			checkRejection(t, err)
			return
		}
		runBatchFuzz(t, s, m, req, []byte(body))
	})
}

func FuzzParseBatchCreate(f *testing.F) {
	f.Add(`{"src":"files/uploaded_file_id","config":{"display_name":"My Setup","webhook_config":{"uris":["https://my-api.com/gemini-webhook-dynamic"],"user_metadata":{"job_group":"nightly-eval","priority":"high"}}}}`)
	f.Add(`{"src":[{"contents":[{"parts":[{"text":"a"}]}],"metadata":{"k":"1"}},{"request":{"contents":[]}}]}`)
	f.Add(`{"src":{"inlined_requests":[{"contents":[{"parts":[{"text":"a"}]}]}]}}`)
	f.Add(`{"src":{"fileName":"files/a"},"config":null}`)
	s, m := jobServer(f)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := parseOrErr(body, batchCreateSchema, s.parseCreate("gemini-3-flash-preview"))
		if err != nil {
			checkRejection(t, err)
			return
		}
		runBatchFuzz(t, s, m, req, []byte(body))
	})
}
