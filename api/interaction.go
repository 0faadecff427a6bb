package api

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

// Interactions on the wire (the NextGen SDK stack: snake_case, sent and
// read verbatim): POST /interactions read into an lro.InteractionRequest,
// and an interaction rendered as the Interactions API returns it.

// The objects of an interaction request. Open: an interaction carries
// generation configs, response formats and content the echo model ignores.
var (
	interactionSchema = schema{open: true, fields: []string{
		"model", "agent", "input", "background", "stream", "store", "tools",
		"system_instruction", "previous_interaction_id", "webhook_config",
	}}
	inputItemSchema = schema{fields: []string{"type", "text", "content", "call_id", "name", "result", "is_error"}, open: true}
	toolSchema      = schema{fields: []string{"type", "name"}, open: true}
)

// parseInteraction reads POST /interactions:
// {model|agent, input, background, tools, system_instruction,
// previous_interaction_id, store, stream, webhook_config}.
func (s *Server) parseInteraction(root *object) (*lro.InteractionRequest, error) {
	req := &lro.InteractionRequest{Store: true}
	model, _, err := root.string("model")
	if err != nil {
		return nil, err
	}
	if req.Agent, _, err = root.string("agent"); err != nil {
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
			return nil, root.at("agent").errorf("must be an agent name such as \"deep-research-pro-preview-12-2025\", got %q.", req.Agent)
		}
	default:
		return nil, webhookd.FieldErrorf("model", "model or agent is required.")
	}
	if req.Background, _, err = root.bool("background"); err != nil {
		return nil, err
	}
	if stream, _, err := root.bool("stream"); err != nil {
		return nil, err
	} else if stream {
		return nil, &webhookd.Error{Code: webhookd.ENOTIMPLEMENTED, Field: "stream",
			Message: "Streaming interactions are not supported; use background: true and a webhook, or poll GET /interactions/{id}."}
	}
	if store, ok, err := root.bool("store"); err != nil {
		return nil, err
	} else if ok {
		req.Store = store
	}
	if req.SystemInstruction, _, err = root.string("system_instruction"); err != nil {
		return nil, err
	}
	if req.PreviousInteractionID, _, err = root.string("previous_interaction_id"); err != nil {
		return nil, err
	}
	if id := req.PreviousInteractionID; id != "" && !validID(id) {
		return nil, root.at("previous_interaction_id").errorf("must be an interaction id, got %q.", id)
	}
	raw, ok := root.raw("input")
	if !ok {
		return nil, webhookd.FieldErrorf("input", "input is required.")
	}
	req.Input = compactJSON(raw)
	if err := readInput(root, req); err != nil {
		return nil, err
	}
	if err := readTools(root, req); err != nil {
		return nil, err
	}
	if req.WebhookConfig, err = s.webhookConfig(root); err != nil {
		return nil, err
	}
	return req, nil
}

// readInput reads the texts and function results of root's input: a
// string, a content object, or a list of contents and steps
// (InteractionsInput). Contents other than text (images, audio…) are
// accepted and ignored by the echo model.
func readInput(root *object, req *lro.InteractionRequest) error {
	raw, _ := root.raw("input")
	switch raw[0] {
	case '"':
		s, _, err := root.string("input")
		req.InputTexts = append(req.InputTexts, s)
		return err
	case '[':
		return readInputItems(root, "input", req)
	case '{':
		item, _, err := root.object("input", inputItemSchema)
		if err != nil {
			return err
		}
		return readInputItem(item, req)
	}
	return root.at("input").errorf("must be a string, a content object, or a list of contents or steps.")
}

// readInputItems reads the list field name of o: contents or steps, each
// a string or an object.
func readInputItems(o *object, name string, req *lro.InteractionRequest) error {
	list, _, err := o.list(name)
	if err != nil {
		return err
	}
	for i, raw := range list {
		if raw[0] == '"' {
			var s string
			_ = json.Unmarshal(raw, &s) // a valid JSON string
			req.InputTexts = append(req.InputTexts, s)
			continue
		}
		item, err := o.element(name, i, raw, inputItemSchema)
		if err != nil {
			return err
		}
		if err := readInputItem(item, req); err != nil {
			return err
		}
	}
	return nil
}

// readInputItem reads one content or step of an input.
func readInputItem(o *object, req *lro.InteractionRequest) error {
	typ, _, err := o.string("type")
	if err != nil {
		return err
	}
	switch typ {
	case "text":
		t, _, err := o.string("text")
		if err != nil {
			return err
		}
		req.InputTexts = append(req.InputTexts, t)
	case "user_input":
		return readInputItems(o, "content", req)
	case "function_result":
		var fr lro.FunctionResult
		if fr.CallID, _, err = o.string("call_id"); err != nil {
			return err
		}
		if fr.CallID == "" {
			return o.at("call_id").errorf("is required.")
		}
		if fr.Name, _, err = o.string("name"); err != nil {
			return err
		}
		if fr.IsError, _, err = o.bool("is_error"); err != nil {
			return err
		}
		res, ok := o.raw("result")
		if !ok {
			return o.at("result").errorf("is required.")
		}
		fr.Result = compactJSON(res)
		req.FunctionResults = append(req.FunctionResults, fr)
	case "":
		return o.at("type").errorf("is required.")
	}
	return nil
}

// readTools checks tools ([{type, …}]) and collects the function names.
func readTools(root *object, req *lro.InteractionRequest) error {
	list, ok, err := root.list("tools")
	if err != nil || !ok {
		return err
	}
	for i, raw := range list {
		t, err := root.element("tools", i, raw, toolSchema)
		if err != nil {
			return err
		}
		typ, _, err := t.string("type")
		if err != nil {
			return err
		}
		if typ == "" {
			return t.at("type").errorf("is required.")
		}
		if typ != "function" {
			continue
		}
		name, _, err := t.string("name")
		if err != nil {
			return err
		}
		if name == "" {
			return t.at("name").errorf("is required for a function tool.")
		}
		req.Functions = append(req.Functions, name)
	}
	raw, _ := root.raw("tools")
	req.Tools = compactJSON(raw)
	return nil
}

// interactionJSON is the Interaction the NextGen SDK reads (snake_case,
// passed to the caller unchanged).
type interactionJSON struct {
	ID                    string             `json:"id"`
	Status                string             `json:"status"`
	Created               string             `json:"created"`
	Updated               string             `json:"updated"`
	Model                 string             `json:"model,omitempty"`
	Agent                 string             `json:"agent,omitempty"`
	PreviousInteractionID string             `json:"previous_interaction_id,omitempty"`
	SystemInstruction     string             `json:"system_instruction,omitempty"`
	Tools                 json.RawMessage    `json:"tools,omitempty"`
	Input                 json.RawMessage    `json:"input,omitempty"`
	Steps                 []json.RawMessage  `json:"steps"`
	Errors                []errorT           `json:"errors,omitempty"`
	Usage                 *usageJSON         `json:"usage,omitempty"`
	WebhookConfig         *webhookConfigJSON `json:"webhook_config,omitempty"`
}

// errorT is the Interactions API's error entry.
type errorT struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// usageJSON is an interaction's token usage.
type usageJSON struct {
	TotalInputTokens  int `json:"total_input_tokens"`
	TotalOutputTokens int `json:"total_output_tokens"`
	TotalTokens       int `json:"total_tokens"`
}

// renderInteraction renders an interaction as the Interactions API does:
// {id, status, created, updated (ISO 8601 in seconds), model|agent, steps,
// errors, usage, webhook_config, previous_interaction_id, tools, …}; input
// only when includeInput (GET ?include_input=true).
func renderInteraction(op *webhookd.Operation, includeInput bool) (*interactionJSON, error) {
	req, res, err := lro.InteractionOf(op)
	if err != nil {
		return nil, err
	}
	out := &interactionJSON{
		ID: op.ID, Status: string(op.State),
		Created: formatTime(op.CreateTime.Truncate(time.Second)), Updated: formatTime(op.UpdateTime.Truncate(time.Second)),
		Model: op.Model, Agent: op.Agent,
		PreviousInteractionID: req.PreviousInteractionID, SystemInstruction: req.SystemInstruction,
		Tools: req.Tools, Steps: []json.RawMessage{}, WebhookConfig: webhookConfigToJSON(op.WebhookConfig),
	}
	if includeInput {
		out.Input = req.Input
	}
	if res != nil {
		if res.Steps != nil {
			out.Steps = res.Steps
		}
		if u := res.Usage; u != nil {
			out.Usage = &usageJSON{TotalInputTokens: u.TotalInputTokens, TotalOutputTokens: u.TotalOutputTokens, TotalTokens: u.TotalTokens}
		}
	}
	if op.ErrorCode != "" {
		out.Errors = []errorT{{Code: op.ErrorCode, Message: op.ErrorMessage}}
	}
	return out, nil
}
