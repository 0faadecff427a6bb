package lro_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

// ask returns the request of an interaction with model (or, named
// "agent:…", an agent) whose input is text.
func ask(model, text string, background bool) *lro.InteractionRequest {
	req := &lro.InteractionRequest{Model: model, Input: mustMarshal(text), InputTexts: []string{text}, Background: background, Store: true}
	if agent, ok := strings.CutPrefix(model, "agent:"); ok {
		req.Model, req.Agent = "", agent
	}
	return req
}

// withTool adds a function tool to req.
func withTool(req *lro.InteractionRequest, name string) *lro.InteractionRequest {
	req.Tools = json.RawMessage(`[{"type":"function","name":"` + name + `"}]`)
	req.Functions = append(req.Functions, name)
	return req
}

// withMetadata adds a webhook config to req.
func withMetadata(req *lro.InteractionRequest, uris []string, meta string) *lro.InteractionRequest {
	req.WebhookConfig = &webhookd.WebhookConfig{URIs: uris, UserMetadata: json.RawMessage(meta)}
	return req
}

func mustMarshal(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// stepsOf returns the steps of an interaction's result, as JSON.
func stepsOf(t *testing.T, op *webhookd.Operation) []byte {
	t.Helper()
	_, res, err := lro.InteractionOf(op)
	if err != nil {
		t.Fatal(err)
	}
	if res == nil {
		return []byte(`[]`)
	}
	return mustMarshal(res.Steps)
}

// newInteraction creates req at t0 (no previous interaction).
func newInteraction(t *testing.T, m *lro.Machine, req *lro.InteractionRequest) *webhookd.Operation {
	t.Helper()
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

func TestBackgroundInteractionOutcomes(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{SimJobDuration: time.Minute})
	hook := []string{"https://example.test/int-hook"}
	const ticket = `{"ticket":"T-1"}`
	tests := []struct {
		name  string
		req   *lro.InteractionRequest
		state webhookd.OperationState
		event string
		data  func(id string) string
		steps func(id string) string
	}{
		{
			name: "completed", req: withMetadata(ask("gemini-2.5-flash", "Say hi", true), hook, ticket),
			state: webhookd.InteractionCompleted, event: webhookd.EventInteractionCompleted,
			data:  func(id string) string { return `{"id":"` + id + `","user_metadata":{"ticket":"T-1"}}` },
			steps: func(string) string { return `[{"type":"model_output","content":[{"type":"text","text":"Say hi"}]}]` },
		},
		{
			name: "requires_action", req: withTool(ask("gemini-2.5-flash", "Weather?", true), "get_weather"),
			state: webhookd.InteractionRequiresAction, event: webhookd.EventInteractionRequiresAction,
			data: func(id string) string { return `{"id":"` + id + `"}` },
			steps: func(id string) string {
				return `[{"type":"function_call","id":"call_` + strings.TrimPrefix(id, "int_") + `","name":"get_weather","arguments":{}}]`
			},
		},
		{
			name: "unknown model", req: withMetadata(ask("no-such-model", "x", true), hook, ticket),
			state: webhookd.InteractionFailed, event: webhookd.EventInteractionFailed,
			data: func(id string) string {
				return `{"id":"` + id + `","error_code":"NOT_FOUND","error_message":"Model \"no-such-model\" is not found or does not support interactions.","user_metadata":{"ticket":"T-1"}}`
			},
			steps: func(string) string { return `[]` },
		},
		{
			name: "unknown agent", req: ask("agent:nobody", "x", true),
			state: webhookd.InteractionFailed, event: webhookd.EventInteractionFailed,
			data: func(id string) string {
				return `{"id":"` + id + `","error_code":"NOT_FOUND","error_message":"Agent \"nobody\" is not found."}`
			},
			steps: func(string) string { return `[]` },
		},
		{
			name: "known agent", req: ask("agent:deep-research-pro-preview-12-2025", "Research X", true),
			state: webhookd.InteractionCompleted, event: webhookd.EventInteractionCompleted,
			data: func(id string) string { return `{"id":"` + id + `"}` },
			steps: func(string) string {
				return `[{"type":"model_output","content":[{"type":"text","text":"Research X"}]}]`
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op := newInteraction(t, m, tt.req)
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
			jsonEqual(t, stepsOf(t, n), tt.steps(op.ID))
		})
	}
}

func TestSynchronousInteractionAnswersInlineAndEmitsNothing(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	tests := []struct {
		req   *lro.InteractionRequest
		state webhookd.OperationState
	}{
		{withMetadata(ask("gemini-2.5-flash", "hi", false), []string{"https://a.test/h"}, ""), webhookd.InteractionCompleted},
		{ask("nope", "hi", false), webhookd.InteractionFailed},
		{withTool(ask("gemini-2.5-flash", "hi", false), "f"), webhookd.InteractionRequiresAction},
	}
	for _, tt := range tests {
		op := newInteraction(t, m, tt.req) // checks that the create emits nothing
		if op.State != tt.state || op.NextStepTime != nil {
			t.Errorf("%+v: state %s next %v; want %s and nothing for the runner", tt.req, op.State, op.NextStepTime, tt.state)
		}
		if op.State.Terminal() && (op.EndTime == nil || !op.EndTime.Equal(t0)) {
			t.Errorf("%+v: EndTime = %v", tt.req, op.EndTime)
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
	// answer is a follow-up of prev with the result of call.
	answer := func(prev, call string, background bool) *lro.InteractionRequest {
		req := withTool(ask("gemini-2.5-flash", "", background), "get_weather")
		req.InputTexts, req.PreviousInteractionID = nil, prev
		req.Input = json.RawMessage(`[{"type":"function_result","call_id":"` + call + `","result":"sunny"}]`)
		req.FunctionResults = []lro.FunctionResult{{CallID: call, Result: json.RawMessage(`"sunny"`)}}
		return req
	}
	for _, background := range []bool{true, false} {
		first := newInteraction(t, m, withMetadata(withTool(ask("gemini-2.5-flash", "Weather?", background), "get_weather"), nil, `{"u":1}`))
		waiting := first
		if background {
			waiting = runInteraction(t, m, first).Update[0]
		}
		if waiting.State != webhookd.InteractionRequiresAction {
			t.Fatalf("background=%v: state %s", background, waiting.State)
		}
		callID := "call_" + strings.TrimPrefix(first.ID, "int_")
		later := t0.Add(time.Hour)

		wrong := answer(first.ID, "other", false)
		if _, _, err := m.NewInteraction("prj_1", wrong, waiting, later); webhookd.ErrorCode(err) != webhookd.EINVALID {
			t.Errorf("a result for another call: err %v; want invalid", err)
		}
		if _, _, err := m.NewInteraction("prj_1", wrong, nil, later); webhookd.ErrorCode(err) != webhookd.EINVALID {
			t.Errorf("an unknown previous interaction: err %v; want invalid", err)
		}

		c, follow, err := m.NewInteraction("prj_1", answer(first.ID, callID, background), waiting, later)
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
		jsonEqual(t, stepsOf(t, done), `[{"type":"function_call","id":"`+callID+`","name":"get_weather","arguments":{}},`+
			`{"type":"function_result","call_id":"`+callID+`","name":"get_weather","result":"sunny"},`+
			`{"type":"model_output","content":[{"type":"text","text":"get_weather: sunny"}]}]`)
		if _, res, _ := lro.InteractionOf(done); res.Usage == nil || *res.Usage != (lro.Usage{TotalInputTokens: 2, TotalOutputTokens: 2, TotalTokens: 4}) {
			t.Errorf("usage %+v", res.Usage)
		}
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
			var steps []json.RawMessage
			_ = json.Unmarshal(stepsOf(t, follow), &steps)
			if len(steps) != 1 || !strings.Contains(string(steps[0]), "get_weather: sunny") {
				t.Errorf("follow-up steps %s", steps)
			}
		}
	}
}

func TestCancelInteraction(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	queued := newInteraction(t, m, withMetadata(ask("gemini-2.5-flash", "x", true), nil, `{"k":"v"}`))
	c, _ := m.StepInteraction(queued, t0)
	inProgress := c.Update[0]
	waiting := runInteraction(t, m, newInteraction(t, m, withTool(ask("gemini-2.5-flash", "x", true), "f"))).Update[0]
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

// TestContinueACompletedInteraction: a follow-up of an interaction that
// waits for nothing creates only the new one.
func TestContinueACompletedInteraction(t *testing.T) {
	t.Parallel()
	m := newMachine(t, lro.Config{})
	prev := newInteraction(t, m, ask("gemini-2.5-flash", "first", false))
	req := ask("gemini-2.5-flash", "hi", true)
	req.PreviousInteractionID = prev.ID
	c, op, err := m.NewInteraction("prj_1", req, prev, t0)
	if err != nil || len(c.Update) != 0 || len(c.Create) != 1 || c.Create[0] != op || op.State != webhookd.InteractionQueued {
		t.Fatalf("continuing a completed interaction: %+v, %v; want only the new one", c, err)
	}
	got, _, err := lro.InteractionOf(op)
	if err != nil || got.PreviousInteractionID != prev.ID {
		t.Errorf("stored request %+v, %v", got, err)
	}
}
