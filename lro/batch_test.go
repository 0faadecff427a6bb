package lro_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

// newBatch creates the batch req asks for at t0.
func newBatch(t *testing.T, m *lro.Machine, req *lro.BatchRequest) *webhookd.Operation {
	t.Helper()
	op, err := m.NewBatch("prj_1", req, t0)
	if err != nil {
		t.Fatalf("NewBatch: %v", err)
	}
	return op
}

// The requests of these tests: three inline requests (one answered, one
// without contents, one without text) with a dynamic webhook config; two
// inline requests that both fail; and one over an uploaded file.
var (
	inlineReq = &lro.BatchRequest{Model: "gemini-2.5-flash", DisplayName: "nightly", Requests: []lro.InlinedRequest{
		{Request: json.RawMessage(`{"contents":[{"role":"user","parts":[{"text":"hello"},{"text":"world"}]}]}`), Metadata: json.RawMessage(`{"key":"r1"}`)},
		{Request: json.RawMessage(`{"contents":[]}`), Metadata: json.RawMessage(`{"key":"r2"}`)},
		{Request: json.RawMessage(`{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":"AA=="}}]}]}`)},
	}, WebhookConfig: &webhookd.WebhookConfig{URIs: []string{"https://example.test/hook"}, UserMetadata: json.RawMessage(`{"job":"nightly","n":1}`)}}
	allFailReq = &lro.BatchRequest{Model: "gemini-2.5-flash", Requests: []lro.InlinedRequest{
		{Request: json.RawMessage(`{}`)}, {Request: json.RawMessage(`{"contents":[{"parts":[]}]}`)},
	}, WebhookConfig: &webhookd.WebhookConfig{UserMetadata: json.RawMessage(`{"t":"x"}`)}}
	fileReq = &lro.BatchRequest{Model: "gemini-2.5-flash", FileName: "files/input1"}
)

func TestNewBatchChecksTheRequest(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	many := make([]lro.InlinedRequest, lro.MaxBatchRequests+1)
	for _, tt := range []struct {
		name string
		req  *lro.BatchRequest
	}{
		{"no input", &lro.BatchRequest{Model: "g"}},
		{"both inputs", &lro.BatchRequest{Model: "g", FileName: "files/a", Requests: inlineReq.Requests}},
		{"too many requests", &lro.BatchRequest{Model: "g", Requests: many}},
		{"a URI the policy refuses", &lro.BatchRequest{Model: "g", FileName: "files/a", WebhookConfig: &webhookd.WebhookConfig{URIs: []string{"http://a.test"}}}},
	} {
		if _, err := m.NewBatch("prj_1", tt.req, t0); webhookd.ErrorCode(err) != webhookd.EINVALID {
			t.Errorf("%s: err %v; want invalid", tt.name, err)
		}
	}
}

func TestNewBatch(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{BatchExpiry: 2 * time.Hour})
	op := newBatch(t, m, inlineReq)
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
	op := newBatch(t, m, inlineReq)
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

	res := mustBatchResult(t, done)
	if res.ResponsesFile != f.Name() || res.Stats != (lro.BatchStats{RequestCount: 3, SuccessfulCount: 1, FailedCount: 2}) || len(res.Inlined) != 3 {
		t.Errorf("result = %+v", res)
	}
	for i, line := range res.Inlined {
		jsonEqual(t, line, lines[i])
	}
}

// mustBatchResult returns the result of a batch that ran.
func mustBatchResult(t *testing.T, op *webhookd.Operation) *lro.BatchResult {
	t.Helper()
	_, res, err := lro.BatchOf(op)
	if err != nil || res == nil {
		t.Fatalf("BatchOf = %+v, %v; want a result", res, err)
	}
	return res
}

func TestBatchAllLinesFail(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	op := newBatch(t, m, allFailReq)
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
	if done.ErrorMessage != msg || mustBatchResult(t, done).Stats.FailedCount != 2 {
		t.Errorf("error %q, result %+v", done.ErrorMessage, mustBatchResult(t, done))
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
			op := newBatch(t, m, fileReq)
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
				res := mustBatchResult(t, c.Update[0])
				if res.ResponsesFile != file.Name() || res.Inlined != nil || res.Stats.RequestCount != 4 || res.Stats.FailedCount != 1 {
					t.Errorf("result = %+v; want the responses file and 4 requests, 1 failed", res)
				}
			}
		})
	}
}

func TestBatchExpiry(t *testing.T) {
	t.Parallel()
	// A job longer than the expiry: the runner wakes at the expiry, not after the job.
	m := newMachine(t, lro.Config{SimJobDuration: 3 * time.Hour, BatchExpiry: time.Hour})
	op := newBatch(t, m, inlineReq)
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
	pending := newBatch(t, m, inlineReq)
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
