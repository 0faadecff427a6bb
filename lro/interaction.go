package lro

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/webhookd/webhookd"
)

// InteractionRequest is what POST /interactions asks for. Its JSON is what
// an Operation stores as Request.
type InteractionRequest struct {
	// Exactly one of Model and Agent is set.
	Model string `json:"model,omitempty"`
	Agent string `json:"agent,omitempty"`
	// Input is kept verbatim; InputTexts and FunctionResults are what the
	// echo model reads from it.
	Input           json.RawMessage  `json:"input"`
	InputTexts      []string         `json:"input_texts,omitempty"`
	FunctionResults []FunctionResult `json:"function_results,omitempty"`
	// Background interactions run as operations and emit events;
	// synchronous ones are answered inline and emit nothing.
	Background bool `json:"background,omitempty"`
	// Tools is kept verbatim; Functions names its function tools, in order.
	Tools             json.RawMessage `json:"tools,omitempty"`
	Functions         []string        `json:"functions,omitempty"`
	SystemInstruction string          `json:"system_instruction,omitempty"`
	// PreviousInteractionID continues a conversation; with a function
	// result for its pending call it completes an interaction waiting in
	// requires_action.
	PreviousInteractionID string `json:"previous_interaction_id,omitempty"`
	// Store is false when the caller asked not to keep a synchronous
	// interaction (store: false); the API then need not commit it.
	Store bool `json:"store"`
	// WebhookConfig is carried by the Operation, not stored twice.
	WebhookConfig *webhookd.WebhookConfig `json:"-"`
}

// FunctionResult is a function_result step of an interaction's input.
type FunctionResult struct {
	CallID  string          `json:"call_id"`
	Name    string          `json:"name,omitempty"`
	Result  json.RawMessage `json:"result"`
	IsError bool            `json:"is_error,omitempty"`
}

// knownModel and knownAgent decide which names the echo model answers to: the
// model families and agents of the Interactions API. Any other name fails
// the interaction (interaction.failed), as an unknown model does upstream.
func knownModel(name string) bool {
	for _, p := range []string{"gemini-", "gemma-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func knownAgent(name string) bool {
	for _, p := range []string{"deep-research-", "antigravity-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// InteractionResult is what an interaction Operation stores as Result once
// the model answered: its steps, as the Interactions API lists them.
type InteractionResult struct {
	Steps []json.RawMessage `json:"steps,omitempty"`
	// PendingCall is the function call a requires_action interaction waits for.
	PendingCall *FunctionCall `json:"pending_call,omitempty"`
	Usage       *Usage        `json:"usage,omitempty"`
}

// FunctionCall is a function_call step.
type FunctionCall struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

type functionResultStep struct {
	Type string `json:"type"`
	FunctionResult
}

type textContent struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type modelOutputStep struct {
	Type    string        `json:"type"`
	Content []textContent `json:"content"`
}

// Usage counts an interaction's tokens; the echo model counts words, as
// the batch echo does.
type Usage struct {
	TotalInputTokens  int `json:"total_input_tokens"`
	TotalOutputTokens int `json:"total_output_tokens"`
	TotalTokens       int `json:"total_tokens"`
}

// NewInteraction returns the change that creates the interaction req asks
// for, and that interaction. prev is the interaction named by
// req.PreviousInteractionID, as the caller read it (nil when there is none
// or it was not found).
//
// A background interaction starts queued and is left to the runner. A
// synchronous one is answered at once — completed, requires_action or
// failed — and emits nothing. A follow-up whose input carries the result of
// prev's pending function call also completes prev (interaction.completed
// for prev when prev ran in the background), in the same change.
func (m *Machine) NewInteraction(projectID string, req *InteractionRequest, prev *webhookd.Operation, now time.Time) (webhookd.OperationChange, *webhookd.Operation, error) {
	var change webhookd.OperationChange
	r := *req // results get the pending call's name below; the caller's req stays as parsed
	r.FunctionResults = slices.Clone(req.FunctionResults)
	req = &r
	if req.PreviousInteractionID != "" {
		if prev == nil || prev.Kind != webhookd.OperationInteraction || prev.ID != req.PreviousInteractionID {
			return change, nil, webhookd.FieldErrorf("previous_interaction_id", "Interaction %q not found.", req.PreviousInteractionID)
		}
		if prev.State == webhookd.InteractionRequiresAction {
			done, err := m.completeWithResults(prev, req.FunctionResults, now)
			if err != nil {
				return change, nil, err
			}
			change.Update = append(change.Update, done)
			if background(done) {
				ev, err := newEvent(done, webhookd.EventInteractionCompleted, map[string]any{"id": done.ID})
				if err != nil {
					return change, nil, err
				}
				change.Events = append(change.Events, ev)
			}
		}
	}
	wc, err := m.webhookConfig(req.WebhookConfig)
	if err != nil {
		return change, nil, err
	}
	raw, err := json.Marshal(req)
	if err != nil {
		return change, nil, fmt.Errorf("lro: encode interaction request: %w", err)
	}
	op := &webhookd.Operation{
		ID:            webhookd.NewID(webhookd.PrefixInteraction),
		ProjectID:     projectID,
		Kind:          webhookd.OperationInteraction,
		Model:         req.Model,
		Agent:         req.Agent,
		State:         webhookd.InteractionQueued,
		Request:       raw,
		WebhookConfig: wc,
		CreateTime:    now,
		UpdateTime:    now,
		Version:       1,
	}
	if req.Background {
		op.NextStepTime = at(now)
	} else if err := m.answerInteraction(op, req, now); err != nil {
		return change, nil, err
	}
	change.Create = []*webhookd.Operation{op}
	return change, op, nil
}

// completeWithResults completes prev, waiting in requires_action, with the
// function results of a follow-up: they must answer its pending call. The
// answer takes the call's name when it has none, so that both interactions
// read it the same way.
func (m *Machine) completeWithResults(prev *webhookd.Operation, results []FunctionResult, now time.Time) (*webhookd.Operation, error) {
	var res InteractionResult
	if err := json.Unmarshal(prev.Result, &res); err != nil {
		return nil, fmt.Errorf("lro: interaction %s result: %w", prev.ID, err)
	}
	var answer *FunctionResult
	for i := range results {
		if res.PendingCall != nil && results[i].CallID == res.PendingCall.ID {
			if results[i].Name == "" {
				results[i].Name = res.PendingCall.Name
			}
			answer = &results[i]
		}
	}
	if answer == nil {
		call := "its function call"
		if res.PendingCall != nil {
			call = fmt.Sprintf("function call %s (%s)", res.PendingCall.ID, res.PendingCall.Name)
		}
		return nil, webhookd.FieldErrorf("input", "Interaction %s is waiting for the result of %s: send a function_result step with its call_id.", prev.ID, call)
	}
	n := advance(prev, now)
	frs := functionResultStep{Type: "function_result", FunctionResult: *answer}
	text := resultText(frs.FunctionResult)
	res.Steps = append(res.Steps, mustJSON(frs), mustJSON(modelOutputStep{Type: "model_output", Content: []textContent{{Type: "text", Text: text}}}))
	res.PendingCall = nil
	res.Usage = usage([]string{text}, text)
	n.Result = mustJSON(res)
	finish(n, webhookd.InteractionCompleted, now)
	return n, nil
}

// answerInteraction is the echo model's turn: it sets op's outcome —
// failed for an unknown model or agent, requires_action with a function
// call when function tools are declared and the input answers none,
// completed with the echo of the input otherwise.
func (m *Machine) answerInteraction(op *webhookd.Operation, req *InteractionRequest, now time.Time) error {
	switch {
	case req.Model != "" && !knownModel(req.Model):
		finish(op, webhookd.InteractionFailed, now)
		op.ErrorCode, op.ErrorMessage = CodeNotFound, fmt.Sprintf("Model %q is not found or does not support interactions.", req.Model)
		return nil
	case req.Agent != "" && !knownAgent(req.Agent):
		finish(op, webhookd.InteractionFailed, now)
		op.ErrorCode, op.ErrorMessage = CodeNotFound, fmt.Sprintf("Agent %q is not found.", req.Agent)
		return nil
	case len(req.Functions) > 0 && len(req.FunctionResults) == 0:
		call := &FunctionCall{
			Type:      "function_call",
			ID:        "call_" + strings.TrimPrefix(op.ID, webhookd.PrefixInteraction),
			Name:      req.Functions[0],
			Arguments: json.RawMessage(`{}`),
		}
		op.Result = mustJSON(InteractionResult{Steps: []json.RawMessage{mustJSON(call)}, PendingCall: call})
		op.State = webhookd.InteractionRequiresAction
		op.NextStepTime = nil
		return nil
	}
	texts := append([]string(nil), req.InputTexts...)
	for _, fr := range req.FunctionResults {
		texts = append(texts, resultText(fr))
	}
	out := Echo(texts)
	op.Result = mustJSON(InteractionResult{
		Steps: []json.RawMessage{mustJSON(modelOutputStep{Type: "model_output", Content: []textContent{{Type: "text", Text: out}}})},
		Usage: usage(texts, out),
	})
	finish(op, webhookd.InteractionCompleted, now)
	return nil
}

// resultText is how the echo model reads a function result: "name: result",
// the result as text when it is a string or text contents, else its JSON.
func resultText(fr FunctionResult) string {
	var s string
	if json.Unmarshal(fr.Result, &s) != nil {
		var parts []textContent
		if json.Unmarshal(fr.Result, &parts) == nil && len(parts) > 0 {
			texts := make([]string, 0, len(parts))
			for _, p := range parts {
				texts = append(texts, p.Text)
			}
			s = strings.Join(texts, "\n")
		} else {
			s = string(fr.Result)
		}
	}
	if fr.Name == "" {
		return s
	}
	return fr.Name + ": " + s
}

func usage(in []string, out string) *Usage {
	u := &Usage{TotalOutputTokens: len(strings.Fields(out))}
	for _, t := range in {
		u.TotalInputTokens += len(strings.Fields(t))
	}
	u.TotalTokens = u.TotalInputTokens + u.TotalOutputTokens
	return u
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("lro: marshal %T: %v", v, err)) // only the plain types above: cannot fail
	}
	return b
}

// background reports whether op was created with background: true: only
// those emit events.
func background(op *webhookd.Operation) bool {
	var req struct {
		Background bool `json:"background"`
	}
	return json.Unmarshal(op.Request, &req) == nil && req.Background
}

// StepInteraction advances a background interaction the runner claimed:
// queued → in_progress (due again after SimJobDuration), in_progress →
// completed, requires_action or failed, with its event. A step of an
// interaction in any other state only clears its NextStepTime.
func (m *Machine) StepInteraction(op *webhookd.Operation, now time.Time) (webhookd.OperationChange, error) {
	n := advance(op, now)
	switch op.State {
	case webhookd.InteractionQueued:
		n.State = webhookd.InteractionInProgress
		n.NextStepTime = at(now.Add(m.cfg.SimJobDuration))
		return webhookd.OperationChange{Update: []*webhookd.Operation{n}}, nil
	case webhookd.InteractionInProgress:
		var req InteractionRequest
		if err := json.Unmarshal(op.Request, &req); err != nil {
			return webhookd.OperationChange{}, fmt.Errorf("lro: interaction %s request: %w", op.ID, err)
		}
		if err := m.answerInteraction(n, &req, now); err != nil {
			return webhookd.OperationChange{}, err
		}
		c := webhookd.OperationChange{Update: []*webhookd.Operation{n}}
		if !req.Background {
			return c, nil
		}
		var (
			ev  webhookd.NewEvent
			err error
		)
		switch n.State {
		case webhookd.InteractionCompleted:
			ev, err = newEvent(n, webhookd.EventInteractionCompleted, map[string]any{"id": n.ID})
		case webhookd.InteractionRequiresAction:
			ev, err = newEvent(n, webhookd.EventInteractionRequiresAction, map[string]any{"id": n.ID})
		case webhookd.InteractionFailed:
			ev, err = newEvent(n, webhookd.EventInteractionFailed, map[string]any{"id": n.ID, "error_code": n.ErrorCode, "error_message": n.ErrorMessage})
		}
		if err != nil {
			return webhookd.OperationChange{}, err
		}
		c.Events = []webhookd.NewEvent{ev}
		return c, nil
	}
	n.NextStepTime = nil
	return webhookd.OperationChange{Update: []*webhookd.Operation{n}}, nil
}

// CancelInteraction cancels a queued, in_progress or requires_action
// interaction (interaction.cancelled, for background ones). Cancelling a
// cancelled interaction changes nothing; cancelling another finished one is
// an EPRECONDITION error.
func (m *Machine) CancelInteraction(op *webhookd.Operation, now time.Time) (webhookd.OperationChange, error) {
	switch {
	case op.State == webhookd.InteractionCancelled:
		return webhookd.OperationChange{}, nil
	case op.State.Terminal():
		return webhookd.OperationChange{}, webhookd.Errorf(webhookd.EPRECONDITION, "Interaction %s has already finished (%s) and cannot be cancelled.", op.ID, op.State)
	}
	n := advance(op, now)
	finish(n, webhookd.InteractionCancelled, now)
	c := webhookd.OperationChange{Update: []*webhookd.Operation{n}}
	if background(n) {
		ev, err := newEvent(n, webhookd.EventInteractionCancelled, map[string]any{"id": n.ID})
		if err != nil {
			return webhookd.OperationChange{}, err
		}
		c.Events = []webhookd.NewEvent{ev}
	}
	return c, nil
}

// InteractionOf returns the request an interaction was created with, and
// its result once the model answered (nil before).
func InteractionOf(op *webhookd.Operation) (*InteractionRequest, *InteractionResult, error) {
	var req InteractionRequest
	if err := json.Unmarshal(op.Request, &req); err != nil {
		return nil, nil, fmt.Errorf("lro: interaction %s request: %w", op.ID, err)
	}
	if len(op.Result) == 0 {
		return &req, nil, nil
	}
	var res InteractionResult
	if err := json.Unmarshal(op.Result, &res); err != nil {
		return nil, nil, fmt.Errorf("lro: interaction %s result: %w", op.ID, err)
	}
	return &req, &res, nil
}
