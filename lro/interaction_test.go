package lro_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

func TestParseInteraction(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	tests := []struct {
		name string
		body string
		want string // the canonical request JSON
		wc   string
	}{
		{
			name: "model, background, webhook_config (captured #30)",
			body: `{"model":"gemini-2.5-flash","input":"Say hi","background":true,"webhook_config":{"uris":["https://example.test/int-hook"],"user_metadata":{"ticket":"T-1"}}}`,
			want: `{"model":"gemini-2.5-flash","input":"Say hi","input_texts":["Say hi"],"background":true,"store":true}`,
			wc:   `{"uris":["https://example.test/int-hook"],"user_metadata":{"ticket":"T-1"}}`,
		},
		{
			name: "agent (captured #31)",
			body: `{"agent":"deep-research-pro-preview-12-2025","input":"Research X","background":true,"webhook_config":{"user_metadata":{"ticket":"T-2"}}}`,
			want: `{"agent":"deep-research-pro-preview-12-2025","input":"Research X","input_texts":["Research X"],"background":true,"store":true}`,
			wc:   `{"user_metadata":{"ticket":"T-2"}}`,
		},
		{
			name: "camelCase spellings, content object input, store false",
			body: `{"model":"models/gemini-2.5-flash","input":{"type":"text","text":"hi"},"systemInstruction":"be brief","store":false,"webhookConfig":{"userMetadata":{"a":1}}}`,
			want: `{"model":"gemini-2.5-flash","input":{"type":"text","text":"hi"},"input_texts":["hi"],"system_instruction":"be brief","store":false}`,
			wc:   `{"user_metadata":{"a":1}}`,
		},
		{
			name: "contents and steps, tools",
			body: `{"model":"gemini-2.5-flash","input":[{"type":"text","text":"a"},{"type":"image","data":"AA=="},{"type":"user_input","content":[{"type":"text","text":"b"}]}],` +
				`"tools":[{"type":"google_search"},{"type":"function","name":"get_weather","parameters":{"type":"object"}},{"type":"function","name":"second"}]}`,
			want: `{"model":"gemini-2.5-flash","input":[{"type":"text","text":"a"},{"type":"image","data":"AA=="},{"type":"user_input","content":[{"type":"text","text":"b"}]}],"input_texts":["a","b"],` +
				`"tools":[{"type":"google_search"},{"type":"function","name":"get_weather","parameters":{"type":"object"}},{"type":"function","name":"second"}],"functions":["get_weather","second"],"store":true}`,
		},
		{
			name: "function result follow-up",
			body: `{"model":"gemini-2.5-flash","previous_interaction_id":"int_abc","input":[{"type":"function_result","call_id":"call_abc","name":"get_weather","result":"sunny"}]}`,
			want: `{"model":"gemini-2.5-flash","previous_interaction_id":"int_abc","input":[{"type":"function_result","call_id":"call_abc","name":"get_weather","result":"sunny"}],` +
				`"function_results":[{"call_id":"call_abc","name":"get_weather","result":"sunny"}],"store":true}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := m.ParseInteraction([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseInteraction: %v", err)
			}
			b, _ := json.Marshal(got)
			jsonEqual(t, b, tt.want)
			if tt.wc == "" {
				if got.WebhookConfig != nil {
					t.Errorf("WebhookConfig = %+v, want nil", got.WebhookConfig)
				}
				return
			}
			b, _ = json.Marshal(got.WebhookConfig)
			jsonEqual(t, b, tt.wc)
		})
	}
}

func TestParseInteractionErrors(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	tests := []struct {
		name  string
		body  string
		field string
	}{
		{"neither model nor agent", `{"input":"x"}`, "model"},
		{"both", `{"model":"gemini-2.5-flash","agent":"deep-research-x","input":"x"}`, "agent"},
		{"model wrong type", `{"model":1,"input":"x"}`, "model"},
		{"agent with a slash", `{"agent":"a/b","input":"x"}`, "agent"},
		{"no input", `{"model":"gemini-2.5-flash"}`, "input"},
		{"null input", `{"model":"gemini-2.5-flash","input":null}`, "input"},
		{"number input", `{"model":"gemini-2.5-flash","input":3}`, "input"},
		{"input element without type", `{"model":"gemini-2.5-flash","input":[{"text":"x"}]}`, "input[0].type"},
		{"input element number", `{"model":"gemini-2.5-flash","input":["a",4]}`, "input[1]"},
		{"text not a string", `{"model":"gemini-2.5-flash","input":{"type":"text","text":4}}`, "input"},
		{"function_result without call_id", `{"model":"gemini-2.5-flash","input":[{"type":"function_result","result":"x"}]}`, "input[0].call_id"},
		{"function_result without result", `{"model":"gemini-2.5-flash","input":[{"type":"function_result","call_id":"c"}]}`, "input[0].result"},
		{"user_input content not array", `{"model":"gemini-2.5-flash","input":[{"type":"user_input","content":"x"}]}`, "input[0].content"},
		{"background wrong type", `{"model":"gemini-2.5-flash","input":"x","background":"yes"}`, "background"},
		{"tools not array", `{"model":"gemini-2.5-flash","input":"x","tools":{}}`, "tools"},
		{"tool without type", `{"model":"gemini-2.5-flash","input":"x","tools":[{"name":"f"}]}`, "tools[0].type"},
		{"function without name", `{"model":"gemini-2.5-flash","input":"x","tools":[{"type":"function"}]}`, "tools[0].name"},
		{"previous id wrong type", `{"model":"gemini-2.5-flash","input":"x","previous_interaction_id":5}`, "previous_interaction_id"},
		{"previous id bad", `{"model":"gemini-2.5-flash","input":"x","previousInteractionId":"../x"}`, "previous_interaction_id"},
		{"webhook uri", `{"model":"gemini-2.5-flash","input":"x","webhook_config":{"uris":["ftp://a.test"]}}`, "webhook_config.uris[0]"},
		{"webhook metadata", `{"model":"gemini-2.5-flash","input":"x","webhook_config":{"user_metadata":"x"}}`, "webhook_config.user_metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := m.ParseInteraction([]byte(tt.body))
			wantField(t, err, tt.field)
		})
	}
	_, err := m.ParseInteraction([]byte(`{"model":"gemini-2.5-flash","input":"x","stream":true}`))
	if webhookd.ErrorCode(err) != webhookd.ENOTIMPLEMENTED {
		t.Errorf("stream: err %v; want not implemented", err)
	}
}

// newInteraction parses body and creates it at t0 (no previous interaction).
func newInteraction(t *testing.T, m *lro.Machine, body string) *webhookd.Operation {
	t.Helper()
	req, err := m.ParseInteraction([]byte(body))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	c, op, err := m.NewInteraction("prj_1", req, nil, t0)
	if err != nil {
		t.Fatalf("NewInteraction: %v", err)
	}
	if len(c.Create) != 1 || c.Create[0] != op || len(c.Update) != 0 || len(c.Events) != 0 {
		t.Fatalf("create change = %+v", c)
	}
	if !strings.HasPrefix(op.ID, webhookd.PrefixInteraction) || op.Version != 1 || !op.CreateTime.Equal(t0) {
		t.Fatalf("new interaction = %+v", op)
	}
	return op
}

// runInteraction steps a background interaction queued → in_progress → its
// outcome and returns the last change.
func runInteraction(t *testing.T, m *lro.Machine, op *webhookd.Operation) webhookd.OperationChange {
	t.Helper()
	start := op.CreateTime
	if op.State != webhookd.InteractionQueued || !op.NextStepTime.Equal(start) {
		t.Fatalf("background interaction starts %s due %v; want queued due at once", op.State, op.NextStepTime)
	}
	c, err := m.StepInteraction(op, start)
	if err != nil {
		t.Fatal(err)
	}
	ip := updated(t, c, op, start)
	end := start.Add(m.Config().SimJobDuration)
	if ip.State != webhookd.InteractionInProgress || len(c.Events) != 0 || !ip.NextStepTime.Equal(end) {
		t.Fatalf("after queued: %s, %d events, next %v", ip.State, len(c.Events), ip.NextStepTime)
	}
	c, err = m.StepInteraction(ip, end)
	if err != nil {
		t.Fatal(err)
	}
	updated(t, c, ip, end)
	return c
}

func render(t *testing.T, m *lro.Machine, op *webhookd.Operation, includeInput bool) []byte {
	t.Helper()
	raw, err := m.RenderInteraction(op, includeInput)
	if err != nil {
		t.Fatalf("RenderInteraction: %v", err)
	}
	return raw
}

func TestBackgroundInteractionOutcomes(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{SimJobDuration: time.Minute})
	const meta = `"webhook_config":{"uris":["https://example.test/int-hook"],"user_metadata":{"ticket":"T-1"}}`
	tests := []struct {
		name   string
		body   string
		state  webhookd.OperationState
		event  string
		data   func(id string) string
		render func(id string) string
	}{
		{
			name: "completed", body: `{"model":"gemini-2.5-flash","input":"Say hi","background":true,` + meta + `}`,
			state: webhookd.InteractionCompleted, event: webhookd.EventInteractionCompleted,
			data: func(id string) string { return `{"id":"` + id + `","user_metadata":{"ticket":"T-1"}}` },
			render: func(id string) string {
				return `{"id":"` + id + `","status":"completed","created":"2026-11-20T10:00:00Z","updated":"2026-11-20T10:01:00Z","model":"gemini-2.5-flash",` +
					`"steps":[{"type":"model_output","content":[{"type":"text","text":"Say hi"}]}],` +
					`"usage":{"total_input_tokens":2,"total_output_tokens":2,"total_tokens":4},` + meta + `}`
			},
		},
		{
			name: "requires_action", body: `{"model":"gemini-2.5-flash","input":"Weather?","background":true,"tools":[{"type":"function","name":"get_weather"}]}`,
			state: webhookd.InteractionRequiresAction, event: webhookd.EventInteractionRequiresAction,
			data: func(id string) string { return `{"id":"` + id + `"}` },
			render: func(id string) string {
				return `{"id":"` + id + `","status":"requires_action","created":"2026-11-20T10:00:00Z","updated":"2026-11-20T10:01:00Z","model":"gemini-2.5-flash",` +
					`"tools":[{"type":"function","name":"get_weather"}],` +
					`"steps":[{"type":"function_call","id":"call_` + strings.TrimPrefix(id, "int_") + `","name":"get_weather","arguments":{}}]}`
			},
		},
		{
			name: "unknown model", body: `{"model":"no-such-model","input":"x","background":true,` + meta + `}`,
			state: webhookd.InteractionFailed, event: webhookd.EventInteractionFailed,
			data: func(id string) string {
				return `{"id":"` + id + `","error_code":"NOT_FOUND","error_message":"Model \"no-such-model\" is not found or does not support interactions.","user_metadata":{"ticket":"T-1"}}`
			},
			render: func(id string) string {
				return `{"id":"` + id + `","status":"failed","created":"2026-11-20T10:00:00Z","updated":"2026-11-20T10:01:00Z","model":"no-such-model","steps":[],` +
					`"errors":[{"code":"NOT_FOUND","message":"Model \"no-such-model\" is not found or does not support interactions."}],` + meta + `}`
			},
		},
		{
			name: "unknown agent", body: `{"agent":"nobody","input":"x","background":true}`,
			state: webhookd.InteractionFailed, event: webhookd.EventInteractionFailed,
			data: func(id string) string {
				return `{"id":"` + id + `","error_code":"NOT_FOUND","error_message":"Agent \"nobody\" is not found."}`
			},
			render: func(id string) string {
				return `{"id":"` + id + `","status":"failed","created":"2026-11-20T10:00:00Z","updated":"2026-11-20T10:01:00Z","agent":"nobody","steps":[],` +
					`"errors":[{"code":"NOT_FOUND","message":"Agent \"nobody\" is not found."}]}`
			},
		},
		{
			name: "known agent", body: `{"agent":"deep-research-pro-preview-12-2025","input":"Research X","background":true}`,
			state: webhookd.InteractionCompleted, event: webhookd.EventInteractionCompleted,
			data: func(id string) string { return `{"id":"` + id + `"}` },
			render: func(id string) string {
				return `{"id":"` + id + `","status":"completed","created":"2026-11-20T10:00:00Z","updated":"2026-11-20T10:01:00Z","agent":"deep-research-pro-preview-12-2025",` +
					`"steps":[{"type":"model_output","content":[{"type":"text","text":"Research X"}]}],"usage":{"total_input_tokens":2,"total_output_tokens":2,"total_tokens":4}}`
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op := newInteraction(t, m, tt.body)
			c := runInteraction(t, m, op)
			n := c.Update[0]
			if n.State != tt.state {
				t.Fatalf("state = %s, want %s", n.State, tt.state)
			}
			if tt.state == webhookd.InteractionRequiresAction && (n.EndTime != nil || n.NextStepTime != nil) {
				t.Errorf("requires_action waits for the caller: EndTime %v NextStepTime %v", n.EndTime, n.NextStepTime)
			}
			ev := oneEvent(t, c)
			if ev.Type != tt.event || ev.Source != "operation:interactions/"+op.ID {
				t.Errorf("event %s from %s", ev.Type, ev.Source)
			}
			jsonEqual(t, ev.Data, tt.data(op.ID))
			jsonEqual(t, render(t, m, n, false), tt.render(op.ID))
		})
	}
}

func TestSynchronousInteractionAnswersInlineAndEmitsNothing(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	tests := []struct {
		body  string
		state webhookd.OperationState
	}{
		{`{"model":"gemini-2.5-flash","input":"hi","webhook_config":{"uris":["https://a.test/h"]}}`, webhookd.InteractionCompleted},
		{`{"model":"nope","input":"hi"}`, webhookd.InteractionFailed},
		{`{"model":"gemini-2.5-flash","input":"hi","tools":[{"type":"function","name":"f"}]}`, webhookd.InteractionRequiresAction},
	}
	for _, tt := range tests {
		op := newInteraction(t, m, tt.body) // checks that the create emits nothing
		if op.State != tt.state || op.NextStepTime != nil {
			t.Errorf("%s: state %s next %v; want %s and nothing for the runner", tt.body, op.State, op.NextStepTime, tt.state)
		}
		if op.State.Terminal() && (op.EndTime == nil || !op.EndTime.Equal(t0)) {
			t.Errorf("%s: EndTime = %v", tt.body, op.EndTime)
		}
		if op.State == webhookd.InteractionRequiresAction {
			c, err := m.CancelInteraction(op, t0.Add(time.Second))
			if err != nil || len(c.Events) != 0 || c.Update[0].State != webhookd.InteractionCancelled {
				t.Errorf("cancel synchronous: %+v %v; want cancelled without event", c, err)
			}
		}
	}
}

func TestFunctionCallFollowUp(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{SimJobDuration: time.Minute})
	const tools = `"tools":[{"type":"function","name":"get_weather"}]`
	for _, background := range []bool{true, false} {
		bg := "false"
		if background {
			bg = "true"
		}
		first := newInteraction(t, m, `{"model":"gemini-2.5-flash","input":"Weather?","background":`+bg+`,`+tools+`,"webhook_config":{"user_metadata":{"u":1}}}`)
		waiting := first
		if background {
			waiting = runInteraction(t, m, first).Update[0]
		}
		if waiting.State != webhookd.InteractionRequiresAction {
			t.Fatalf("background=%v: state %s", background, waiting.State)
		}
		callID := "call_" + strings.TrimPrefix(first.ID, "int_")
		later := t0.Add(time.Hour)

		wrong, err := m.ParseInteraction([]byte(`{"model":"gemini-2.5-flash","previous_interaction_id":"` + first.ID + `","input":[{"type":"function_result","call_id":"other","result":"x"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := m.NewInteraction("prj_1", wrong, waiting, later); webhookd.ErrorCode(err) != webhookd.EINVALID {
			t.Errorf("a result for another call: err %v; want invalid", err)
		}
		if _, _, err := m.NewInteraction("prj_1", wrong, nil, later); webhookd.ErrorCode(err) != webhookd.EINVALID {
			t.Errorf("an unknown previous interaction: err %v; want invalid", err)
		}

		req, err := m.ParseInteraction([]byte(`{"model":"gemini-2.5-flash","background":` + bg + `,"previous_interaction_id":"` + first.ID + `",` + tools +
			`,"input":[{"type":"function_result","call_id":"` + callID + `","result":"sunny"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		c, follow, err := m.NewInteraction("prj_1", req, waiting, later)
		if err != nil {
			t.Fatalf("background=%v: follow-up: %v", background, err)
		}
		if len(c.Create) != 1 || c.Create[0] != follow {
			t.Fatalf("follow-up creates %+v", c.Create)
		}
		done := updated(t, webhookd.OperationChange{Update: c.Update}, waiting, later)
		if done.State != webhookd.InteractionCompleted {
			t.Errorf("previous interaction: %s, want completed", done.State)
		}
		jsonEqual(t, render(t, m, done, false), `{"id":"`+first.ID+`","status":"completed","created":"2026-11-20T10:00:00Z","updated":"2026-11-20T11:00:00Z",`+
			`"model":"gemini-2.5-flash",`+tools+`,"webhook_config":{"user_metadata":{"u":1}},`+
			`"steps":[{"type":"function_call","id":"`+callID+`","name":"get_weather","arguments":{}},`+
			`{"type":"function_result","call_id":"`+callID+`","name":"get_weather","result":"sunny"},`+
			`{"type":"model_output","content":[{"type":"text","text":"get_weather: sunny"}]}],`+
			`"usage":{"total_input_tokens":2,"total_output_tokens":2,"total_tokens":4}}`)
		if background {
			ev := oneEvent(t, c)
			if ev.Type != webhookd.EventInteractionCompleted {
				t.Errorf("event %s", ev.Type)
			}
			jsonEqual(t, ev.Data, `{"id":"`+first.ID+`","user_metadata":{"u":1}}`)
			// The follow-up itself carries a result, so it does not ask again.
			c = runInteraction(t, m, follow)
			if n := c.Update[0]; n.State != webhookd.InteractionCompleted {
				t.Errorf("follow-up ended %s", n.State)
			}
		} else {
			if len(c.Events) != 0 {
				t.Errorf("synchronous follow-up emitted %+v", c.Events)
			}
			if follow.State != webhookd.InteractionCompleted {
				t.Errorf("follow-up ended %s", follow.State)
			}
			var got struct{ Steps []json.RawMessage }
			_ = json.Unmarshal(render(t, m, follow, true), &got)
			if len(got.Steps) != 1 || !strings.Contains(string(got.Steps[0]), "get_weather: sunny") {
				t.Errorf("follow-up steps %s", got.Steps)
			}
		}
	}
}

func TestCancelInteraction(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	queued := newInteraction(t, m, `{"model":"gemini-2.5-flash","input":"x","background":true,"webhook_config":{"user_metadata":{"k":"v"}}}`)
	c, _ := m.StepInteraction(queued, t0)
	inProgress := c.Update[0]
	waiting := runInteraction(t, m, newInteraction(t, m, `{"model":"gemini-2.5-flash","input":"x","background":true,"tools":[{"type":"function","name":"f"}]}`)).Update[0]
	completed := runInteraction(t, m, queued).Update[0]

	for _, op := range []*webhookd.Operation{queued, inProgress, waiting} {
		at := t0.Add(time.Hour)
		c, err := m.CancelInteraction(op, at)
		if err != nil {
			t.Fatalf("cancel %s: %v", op.State, err)
		}
		n := updated(t, c, op, at)
		ev := oneEvent(t, c)
		if n.State != webhookd.InteractionCancelled || ev.Type != webhookd.EventInteractionCancelled {
			t.Errorf("cancel %s: %s, event %s", op.State, n.State, ev.Type)
		}
		want := `{"id":"` + op.ID + `"}`
		if op.WebhookConfig != nil {
			want = `{"id":"` + op.ID + `","user_metadata":{"k":"v"}}`
		}
		jsonEqual(t, ev.Data, want)
		if !strings.Contains(string(render(t, m, n, false)), `"status":"cancelled"`) {
			t.Errorf("rendered %s", render(t, m, n, false))
		}
		again, err := m.CancelInteraction(n, at)
		if err != nil || !again.Empty() {
			t.Errorf("cancel twice: %+v %v", again, err)
		}
		// The runner's claim of a cancelled interaction only clears its step.
		step, err := m.StepInteraction(n, at)
		if err != nil || len(step.Events) != 0 || step.Update[0].NextStepTime != nil || step.Update[0].State != webhookd.InteractionCancelled {
			t.Errorf("step after cancel: %+v %v", step, err)
		}
	}
	if _, err := m.CancelInteraction(completed, t0.Add(time.Hour)); webhookd.ErrorCode(err) != webhookd.EPRECONDITION {
		t.Errorf("cancel completed: %v; want precondition", err)
	}
}

func TestRenderInteractionIncludeInput(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	prev := newInteraction(t, m, `{"model":"gemini-2.5-flash","input":"first"}`)
	req, err := m.ParseInteraction([]byte(`{"model":"gemini-2.5-flash","input":[{"type":"text","text":"hi"}],"background":true,"system_instruction":"s","previous_interaction_id":"` + prev.ID + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	c, op, err := m.NewInteraction("prj_1", req, prev, t0)
	if err != nil || len(c.Update) != 0 {
		t.Fatalf("continuing a completed interaction: %+v, %v; want only the new one", c, err)
	}
	jsonEqual(t, render(t, m, op, true), `{"id":"`+op.ID+`","status":"queued","created":"2026-11-20T10:00:00Z","updated":"2026-11-20T10:00:00Z",`+
		`"model":"gemini-2.5-flash","previous_interaction_id":"`+prev.ID+`","system_instruction":"s","input":[{"type":"text","text":"hi"}],"steps":[]}`)
	if strings.Contains(string(render(t, m, op, false)), `"input"`) {
		t.Error("input rendered without include_input")
	}
	raw, err := m.RenderOperation(op)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, raw, `{"name":"interactions/`+op.ID+`","metadata":{"@type":"type.googleapis.com/webhookd.v1.InteractionMetadata","state":"queued",`+
		`"model":"gemini-2.5-flash","createTime":"2026-11-20T10:00:00Z","updateTime":"2026-11-20T10:00:00Z"}}`)
}
