package api

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
	s, _ := jobServer(t)
	tests := []struct {
		name string
		body string
		want string // the request as lro stores it
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
			name: "contents and steps, tools, fields the echo model ignores",
			body: `{"model":"gemini-2.5-flash","generation_config":{"temperature":0},"input":[{"type":"text","text":"a"},{"type":"image","data":"AA=="},{"type":"user_input","content":[{"type":"text","text":"b"}]}],` +
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
			got, err := parseOrErr(tt.body, interactionSchema, s.parseInteraction)
			if err != nil {
				t.Fatalf("parseInteraction: %v", err)
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
	s, _ := jobServer(t)
	tests := []struct {
		name, body, field, text string
	}{
		{"neither model nor agent", `{"input":"x"}`, "model", "model or agent is required"},
		{"both", `{"model":"gemini-2.5-flash","agent":"deep-research-x","input":"x"}`, "agent", "not both"},
		{"model wrong type", `{"model":1,"input":"x"}`, "model", "model must be a string"},
		{"agent with a slash", `{"agent":"a/b","input":"x"}`, "agent", "agent name"},
		{"no input", `{"model":"gemini-2.5-flash"}`, "input", "input is required"},
		{"null input", `{"model":"gemini-2.5-flash","input":null}`, "input", "input is required"},
		{"number input", `{"model":"gemini-2.5-flash","input":3}`, "input", "a string, a content object"},
		{"input element without type", `{"model":"gemini-2.5-flash","input":[{"text":"x"}]}`, "input[0].type", "input[0].type is required."},
		{"input element number", `{"model":"gemini-2.5-flash","input":["a",4]}`, "input[1]", "must be a JSON object"},
		{"text not a string", `{"model":"gemini-2.5-flash","input":{"type":"text","text":4}}`, "input.text", "input.text must be a string."},
		{"function_result without call_id", `{"model":"gemini-2.5-flash","input":[{"type":"function_result","result":"x"}]}`, "input[0].call_id", "is required"},
		{"function_result camel call_id wrong type", `{"model":"gemini-2.5-flash","input":[{"type":"function_result","callId":1,"result":"x"}]}`, "input[0].call_id", "(sent as input[0].callId)"},
		{"function_result without result", `{"model":"gemini-2.5-flash","input":[{"type":"function_result","call_id":"c"}]}`, "input[0].result", "is required"},
		{"user_input content not a list", `{"model":"gemini-2.5-flash","input":[{"type":"user_input","content":"x"}]}`, "input[0].content", "must be a list"},
		{"background wrong type", `{"model":"gemini-2.5-flash","input":"x","background":"yes"}`, "background", "true or false"},
		{"tools not a list", `{"model":"gemini-2.5-flash","input":"x","tools":{}}`, "tools", "must be a list"},
		{"tool without type", `{"model":"gemini-2.5-flash","input":"x","tools":[{"name":"f"}]}`, "tools[0].type", "is required"},
		{"function without name", `{"model":"gemini-2.5-flash","input":"x","tools":[{"type":"function"}]}`, "tools[0].name", "is required for a function tool"},
		{"previous id wrong type", `{"model":"gemini-2.5-flash","input":"x","previous_interaction_id":5}`, "previous_interaction_id", "must be a string"},
		{"previous id bad", `{"model":"gemini-2.5-flash","input":"x","previousInteractionId":"../x"}`, "previous_interaction_id", "(sent as previousInteractionId)"},
		{"webhook uri", `{"model":"gemini-2.5-flash","input":"x","webhook_config":{"uris":["ftp://a.test"]}}`, "webhook_config.uris[0]", "must use https"},
		{"webhook metadata", `{"model":"gemini-2.5-flash","input":"x","webhook_config":{"user_metadata":"x"}}`, "webhook_config.user_metadata", "must be a JSON object"},
		{"input too deep", `{"model":"gemini-2.5-flash","input":` + deepJSON(MaxJSONDepth) + `}`, "input", "deeper than 64 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseOrErr(tt.body, interactionSchema, s.parseInteraction)
			requireFieldError(t, err, tt.field, tt.text)
		})
	}
	_, err := parseOrErr(`{"model":"gemini-2.5-flash","input":"x","stream":true}`, interactionSchema, s.parseInteraction)
	if webhookd.ErrorCode(err) != webhookd.ENOTIMPLEMENTED {
		t.Errorf("stream: err %v; want not implemented", err)
	}
}

// newInteraction parses body and creates it at t0 (no previous interaction).
func newInteraction(t *testing.T, s *Server, m *lro.Machine, body string) *webhookd.Operation {
	t.Helper()
	req, err := parseOrErr(body, interactionSchema, s.parseInteraction)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	_, op, err := m.NewInteraction("prj_1", req, nil, t0)
	if err != nil {
		t.Fatalf("NewInteraction: %v", err)
	}
	return op
}

// runInteraction steps a background interaction queued → in_progress → its
// outcome, at t0 and one job later.
func runInteraction(t *testing.T, m *lro.Machine, op *webhookd.Operation) *webhookd.Operation {
	t.Helper()
	for _, at := range []time.Time{t0, t0.Add(jobDuration)} {
		c, err := m.StepInteraction(op, at)
		if err != nil {
			t.Fatal(err)
		}
		op = c.Update[0]
	}
	return op
}

func TestRenderInteraction(t *testing.T) {
	t.Parallel()
	s, m := jobServer(t)
	const meta = `"webhook_config":{"uris":["https://example.test/int-hook"],"user_metadata":{"ticket":"T-1"}}`
	tests := []struct {
		name   string
		body   string
		render func(id string) string
	}{
		{
			name: "completed", body: `{"model":"gemini-2.5-flash","input":"Say hi","background":true,` + meta + `}`,
			render: func(id string) string {
				return `{"id":"` + id + `","status":"completed","created":"2026-11-20T10:00:00Z","updated":"2026-11-20T10:00:05Z","model":"gemini-2.5-flash",` +
					`"steps":[{"type":"model_output","content":[{"type":"text","text":"Say hi"}]}],` +
					`"usage":{"total_input_tokens":2,"total_output_tokens":2,"total_tokens":4},` + meta + `}`
			},
		},
		{
			name: "requires_action", body: `{"model":"gemini-2.5-flash","input":"Weather?","background":true,"tools":[{"type":"function","name":"get_weather"}]}`,
			render: func(id string) string {
				return `{"id":"` + id + `","status":"requires_action","created":"2026-11-20T10:00:00Z","updated":"2026-11-20T10:00:05Z","model":"gemini-2.5-flash",` +
					`"tools":[{"type":"function","name":"get_weather"}],` +
					`"steps":[{"type":"function_call","id":"call_` + strings.TrimPrefix(id, "int_") + `","name":"get_weather","arguments":{}}]}`
			},
		},
		{
			name: "unknown model", body: `{"model":"no-such-model","input":"x","background":true,` + meta + `}`,
			render: func(id string) string {
				return `{"id":"` + id + `","status":"failed","created":"2026-11-20T10:00:00Z","updated":"2026-11-20T10:00:05Z","model":"no-such-model","steps":[],` +
					`"errors":[{"code":"NOT_FOUND","message":"Model \"no-such-model\" is not found or does not support interactions."}],` + meta + `}`
			},
		},
		{
			name: "known agent", body: `{"agent":"deep-research-pro-preview-12-2025","input":"Research X","background":true}`,
			render: func(id string) string {
				return `{"id":"` + id + `","status":"completed","created":"2026-11-20T10:00:00Z","updated":"2026-11-20T10:00:05Z","agent":"deep-research-pro-preview-12-2025",` +
					`"steps":[{"type":"model_output","content":[{"type":"text","text":"Research X"}]}],"usage":{"total_input_tokens":2,"total_output_tokens":2,"total_tokens":4}}`
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op := newInteraction(t, s, m, tt.body)
			done := runInteraction(t, m, op)
			jsonEqual(t, rendered(t)(renderInteraction(done, false)), tt.render(op.ID))
		})
	}
}

// TestRenderInteractionTimesInSeconds: the Interactions API writes its
// times in whole seconds.
func TestRenderInteractionTimesInSeconds(t *testing.T) {
	t.Parallel()
	s, m := jobServer(t)
	req, err := parseOrErr(`{"model":"gemini-2.5-flash","input":"x"}`, interactionSchema, s.parseInteraction)
	if err != nil {
		t.Fatal(err)
	}
	_, op, err := m.NewInteraction("prj_1", req, nil, t0.Add(1500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if raw := string(rendered(t)(renderInteraction(op, false))); !strings.Contains(raw, `"created":"2026-11-20T10:00:01Z"`) {
		t.Errorf("rendered %s", raw)
	}
}

func TestRenderInteractionIncludeInput(t *testing.T) {
	t.Parallel()
	s, m := jobServer(t)
	prev := newInteraction(t, s, m, `{"model":"gemini-2.5-flash","input":"first"}`)
	req, err := parseOrErr(`{"model":"gemini-2.5-flash","input":[{"type":"text","text":"hi"}],"background":true,"system_instruction":"s","previous_interaction_id":"`+prev.ID+`"}`,
		interactionSchema, s.parseInteraction)
	if err != nil {
		t.Fatal(err)
	}
	_, op, err := m.NewInteraction("prj_1", req, prev, t0)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, rendered(t)(renderInteraction(op, true)), `{"id":"`+op.ID+`","status":"queued","created":"2026-11-20T10:00:00Z","updated":"2026-11-20T10:00:00Z",`+
		`"model":"gemini-2.5-flash","previous_interaction_id":"`+prev.ID+`","system_instruction":"s","input":[{"type":"text","text":"hi"}],"steps":[]}`)
	if strings.Contains(string(rendered(t)(renderInteraction(op, false))), `"input"`) {
		t.Error("input rendered without include_input")
	}
	jsonEqual(t, rendered(t)(s.renderOperation(op)), `{"name":"interactions/`+op.ID+`","metadata":{"@type":"type.googleapis.com/webhookd.v1.InteractionMetadata","state":"queued",`+
		`"model":"gemini-2.5-flash","createTime":"2026-11-20T10:00:00Z","updateTime":"2026-11-20T10:00:00Z"}}`)
}

func FuzzParseInteraction(f *testing.F) {
	f.Add(`{"model":"gemini-2.5-flash","input":"Say hi","background":true,"webhook_config":{"uris":["https://example.test/int-hook"],"user_metadata":{"ticket":"T-1"}}}`)
	f.Add(`{"agent":"deep-research-pro-preview-12-2025","input":"Research X","background":true}`)
	f.Add(`{"model":"gemini-2.5-flash","input":[{"type":"user_input","content":[{"type":"text","text":"b"}]}],"tools":[{"type":"function","name":"f"}],"background":true}`)
	f.Add(`{"model":"x","input":[{"type":"function_result","call_id":"c","result":[{"type":"text","text":"r"}]}],"store":false}`)
	f.Add(`{"model":"x","input":{"type":"function_result","callId":"c","result":1,"isError":true},"webhookConfig":{}}`)
	s, m := jobServer(f)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := parseOrErr(body, interactionSchema, s.parseInteraction)
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
		raw := rendered(t)(renderInteraction(op, true))
		mustJSON(t, "render", raw)
		if op.State == webhookd.InteractionRequiresAction && !strings.Contains(string(raw), `"function_call"`) {
			t.Fatalf("requires_action without a function call: %s", raw)
		}
	})
}
