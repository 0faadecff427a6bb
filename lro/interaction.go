package lro

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/webhookd/webhookd"
)

// InteractionRequest is a parsed POST /interactions (the NextGen stack:
// snake_case, sent verbatim; camelCase is accepted too). Its JSON is what an
// Operation stores as Request.
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

// ParseInteraction parses POST /interactions:
// {model|agent, input, background, tools, system_instruction,
// previous_interaction_id, store, stream, webhook_config}.
func (m *Machine) ParseInteraction(body []byte) (*InteractionRequest, error) {
	root, err := decodeBody(body)
	if err != nil {
		return nil, err
	}
	req := &InteractionRequest{Store: true}
	model, err := root.str("model")
	if err != nil {
		return nil, err
	}
	if req.Agent, err = root.str("agent"); err != nil {
		return nil, err
	}
	switch {
	case model != "" && req.Agent != "":
		return nil, webhookd.FieldErrorf("agent", "Set model or agent, not both.")
	case model != "":
		if req.Model, err = parseModel(model); err != nil {
			return nil, err
		}
	case req.Agent != "":
		if strings.ContainsAny(req.Agent, " \t\r\n/:?#") || len(req.Agent) > 256 {
			return nil, webhookd.FieldErrorf("agent", "agent must be an agent name such as \"deep-research-pro-preview-12-2025\", got %q.", req.Agent)
		}
	default:
		return nil, webhookd.FieldErrorf("model", "model or agent is required.")
	}
	if req.Background, err = root.boolean("background"); err != nil {
		return nil, err
	}
	if stream, err := root.boolean("stream"); err != nil {
		return nil, err
	} else if stream {
		return nil, &webhookd.Error{Code: webhookd.ENOTIMPLEMENTED, Field: "stream",
			Message: "Streaming interactions are not supported; use background: true and a webhook, or poll GET /interactions/{id}."}
	}
	if root.has("store") {
		if req.Store, err = root.boolean("store"); err != nil {
			return nil, err
		}
	}
	if req.SystemInstruction, err = root.str("systemInstruction"); err != nil {
		return nil, err
	}
	if req.PreviousInteractionID, err = root.str("previousInteractionId"); err != nil {
		return nil, err
	}
	if id := req.PreviousInteractionID; id != "" && !validID(id) {
		return nil, webhookd.FieldErrorf("previous_interaction_id", "previous_interaction_id must be an interaction id, got %q.", id)
	}
	raw, path, ok := root.lookup("input")
	if !ok {
		return nil, webhookd.FieldErrorf("input", "input is required.")
	}
	req.Input = compact(raw)
	if err := parseInteractionInput(path, raw, req); err != nil {
		return nil, err
	}
	if err := parseTools(root, req); err != nil {
		return nil, err
	}
	if req.WebhookConfig, err = m.parseWebhookConfig(root); err != nil {
		return nil, err
	}
	return req, nil
}

// parseInteractionInput reads the texts and function results of input: a
// string, a content object, or an array of contents and steps
// (InteractionsInput). Contents other than text (images, audio…) are
// accepted and ignored by the echo model.
func parseInteractionInput(path string, raw json.RawMessage, req *InteractionRequest) error {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		req.InputTexts = append(req.InputTexts, s)
		return nil
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		for i, el := range list {
			if err := parseInputItem(index(path, i), el, req); err != nil {
				return err
			}
		}
		return nil
	}
	if err := parseInputItem(path, raw, req); err != nil {
		return webhookd.FieldErrorf(path, "%s must be a string, a content object, or an array of contents or steps.", path)
	}
	return nil
}

// parseInputItem reads one content or step of an input.
func parseInputItem(path string, raw json.RawMessage, req *InteractionRequest) error {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		req.InputTexts = append(req.InputTexts, s)
		return nil
	}
	o, err := asObject(path, raw, path)
	if err != nil {
		return err
	}
	typ, err := o.str("type")
	if err != nil {
		return err
	}
	switch typ {
	case "text":
		t, err := o.str("text")
		if err != nil {
			return err
		}
		req.InputTexts = append(req.InputTexts, t)
	case "user_input":
		list, cpath, err := o.array("content")
		if err != nil {
			return err
		}
		for i, el := range list {
			if err := parseInputItem(index(cpath, i), el, req); err != nil {
				return err
			}
		}
	case "function_result":
		var fr FunctionResult
		if fr.CallID, err = o.str("callId"); err != nil {
			return err
		}
		if fr.CallID == "" {
			return webhookd.FieldErrorf(o.child("call_id"), "%s is required.", o.child("call_id"))
		}
		if fr.Name, err = o.str("name"); err != nil {
			return err
		}
		if fr.IsError, err = o.boolean("isError"); err != nil {
			return err
		}
		res, rpath, ok := o.lookup("result")
		if !ok {
			return webhookd.FieldErrorf(rpath, "%s is required.", rpath)
		}
		fr.Result = compact(res)
		req.FunctionResults = append(req.FunctionResults, fr)
	case "":
		return webhookd.FieldErrorf(o.child("type"), "%s is required.", o.child("type"))
	}
	return nil
}

// parseTools checks tools ([{type, …}]) and collects the function names.
func parseTools(root *object, req *InteractionRequest) error {
	list, path, err := root.array("tools")
	if err != nil || list == nil {
		return err
	}
	for i, raw := range list {
		tpath := index(path, i)
		t, err := asObject(tpath, raw, tpath)
		if err != nil {
			return err
		}
		typ, err := t.str("type")
		if err != nil {
			return err
		}
		if typ == "" {
			return webhookd.FieldErrorf(t.child("type"), "%s is required.", t.child("type"))
		}
		if typ != "function" {
			continue
		}
		name, err := t.str("name")
		if err != nil {
			return err
		}
		if name == "" {
			return webhookd.FieldErrorf(t.child("name"), "%s is required for a function tool.", t.child("name"))
		}
		req.Functions = append(req.Functions, name)
	}
	raw, _, _ := root.lookup("tools")
	req.Tools = compact(raw)
	return nil
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

// interactionResult is what an interaction Operation stores as Result.
type interactionResult struct {
	Steps []json.RawMessage `json:"steps,omitempty"`
	// PendingCall is the function call a requires_action interaction waits for.
	PendingCall *functionCall `json:"pending_call,omitempty"`
	Usage       *usageJSON    `json:"usage,omitempty"`
}

// functionCall is a function_call step.
type functionCall struct {
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

// usageJSON counts words as tokens, like the batch echo.
type usageJSON struct {
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
		WebhookConfig: req.WebhookConfig,
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
	var res interactionResult
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
		call := &functionCall{
			Type:      "function_call",
			ID:        "call_" + strings.TrimPrefix(op.ID, webhookd.PrefixInteraction),
			Name:      req.Functions[0],
			Arguments: json.RawMessage(`{}`),
		}
		op.Result = mustJSON(interactionResult{Steps: []json.RawMessage{mustJSON(call)}, PendingCall: call})
		op.State = webhookd.InteractionRequiresAction
		op.NextStepTime = nil
		return nil
	}
	texts := append([]string(nil), req.InputTexts...)
	for _, fr := range req.FunctionResults {
		texts = append(texts, resultText(fr))
	}
	out := Echo(texts)
	op.Result = mustJSON(interactionResult{
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

func usage(in []string, out string) *usageJSON {
	u := &usageJSON{TotalOutputTokens: len(strings.Fields(out))}
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

// interactionJSON is the Interaction the NextGen SDK reads (snake_case,
// passed to the caller unchanged).
type interactionJSON struct {
	ID                    string                  `json:"id"`
	Status                string                  `json:"status"`
	Created               string                  `json:"created"`
	Updated               string                  `json:"updated"`
	Model                 string                  `json:"model,omitempty"`
	Agent                 string                  `json:"agent,omitempty"`
	PreviousInteractionID string                  `json:"previous_interaction_id,omitempty"`
	SystemInstruction     string                  `json:"system_instruction,omitempty"`
	Tools                 json.RawMessage         `json:"tools,omitempty"`
	Input                 json.RawMessage         `json:"input,omitempty"`
	Steps                 []json.RawMessage       `json:"steps"`
	Errors                []errorT                `json:"errors,omitempty"`
	Usage                 *usageJSON              `json:"usage,omitempty"`
	WebhookConfig         *webhookd.WebhookConfig `json:"webhook_config,omitempty"`
}

// errorT is the Interactions API's error entry.
type errorT struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// RenderInteraction renders an interaction as the Interactions API does:
// {id, status, created, updated, model|agent, steps, errors, usage,
// webhook_config, previous_interaction_id, tools, …}; input only when
// includeInput (GET ?include_input=true).
func (m *Machine) RenderInteraction(op *webhookd.Operation, includeInput bool) (json.RawMessage, error) {
	var req InteractionRequest
	if err := json.Unmarshal(op.Request, &req); err != nil {
		return nil, fmt.Errorf("lro: interaction %s request: %w", op.ID, err)
	}
	out := interactionJSON{
		ID: op.ID, Status: string(op.State),
		Created: op.CreateTime.UTC().Format(interactionTimeFmt), Updated: op.UpdateTime.UTC().Format(interactionTimeFmt),
		Model: op.Model, Agent: op.Agent,
		PreviousInteractionID: req.PreviousInteractionID, SystemInstruction: req.SystemInstruction,
		Tools: req.Tools, Steps: []json.RawMessage{}, WebhookConfig: op.WebhookConfig,
	}
	if includeInput {
		out.Input = req.Input
	}
	if len(op.Result) > 0 {
		var res interactionResult
		if err := json.Unmarshal(op.Result, &res); err != nil {
			return nil, fmt.Errorf("lro: interaction %s result: %w", op.ID, err)
		}
		if res.Steps != nil {
			out.Steps = res.Steps
		}
		out.Usage = res.Usage
	}
	if op.ErrorCode != "" {
		out.Errors = []errorT{{Code: op.ErrorCode, Message: op.ErrorMessage}}
	}
	return marshal(out)
}
