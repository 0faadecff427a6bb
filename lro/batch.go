package lro

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/webhookd/webhookd"
)

// MaxBatchRequests bounds the inline requests of one batch; larger batches
// belong in an uploaded file.
const MaxBatchRequests = 10000

// BatchRequest is a parsed batch create request, whichever shape it came in.
// Its JSON is what an Operation stores as Request.
type BatchRequest struct {
	Model       string `json:"model"`
	DisplayName string `json:"display_name,omitempty"`
	// Requests are the inline requests; FileName ("files/{id}") names an
	// uploaded JSONL input instead. Exactly one is set.
	Requests []InlinedRequest `json:"requests,omitempty"`
	FileName string           `json:"file_name,omitempty"`
	// WebhookConfig is carried by the Operation, not stored twice.
	WebhookConfig *webhookd.WebhookConfig `json:"-"`
}

// InlinedRequest is one inline request of a batch: a GenerateContentRequest
// kept verbatim, and the caller's metadata echoed with its response.
type InlinedRequest struct {
	Request  json.RawMessage `json:"request"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// InputFileID is the id of the input file (FileName without "files/"), or "".
func (r *BatchRequest) InputFileID() string { return strings.TrimPrefix(r.FileName, "files/") }

// ParseBatchGenerateContent parses the SDK's create shape,
// POST /models/{model}:batchGenerateContent with
// {"batch":{"inputConfig":{"requests":{"requests":[{"request","metadata"}]}} |
// {"fileName":"files/…"}},"displayName","webhookConfig"}}, in either spelling.
func (m *Machine) ParseBatchGenerateContent(model string, body []byte) (*BatchRequest, error) {
	root, err := decodeBody(body)
	if err != nil {
		return nil, err
	}
	b, err := root.obj("batch")
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, webhookd.FieldErrorf("batch", "batch is required.")
	}
	req := &BatchRequest{}
	if req.Model, err = parseModel(model); err != nil {
		return nil, err
	}
	if req.DisplayName, err = parseDisplayName(b); err != nil {
		return nil, err
	}
	in, err := b.obj("inputConfig")
	if err != nil {
		return nil, err
	}
	if in == nil {
		return nil, webhookd.FieldErrorf(b.child("inputConfig"), "%s is required: inline requests or a fileName.", b.child("inputConfig"))
	}
	hasReqs, hasFile := in.has("requests"), in.has("fileName")
	switch {
	case hasReqs && hasFile:
		return nil, webhookd.FieldErrorf(in.path, "%s must set either requests or fileName, not both.", in.path)
	case hasFile:
		if req.FileName, err = parseFileName(in, "fileName"); err != nil {
			return nil, err
		}
	case hasReqs:
		// {"requests":{"requests":[…]}} is the proto shape; a bare array is
		// accepted too, as hand-written clients send it.
		raw, path, _ := in.lookup("requests")
		list, lpath := []json.RawMessage(nil), path
		if json.Unmarshal(raw, &list) != nil {
			inner, err := asObject(path, raw, path)
			if err != nil {
				return nil, err
			}
			if list, lpath, err = inner.array("requests"); err != nil {
				return nil, err
			}
		}
		if req.Requests, err = parseInlinedRequests(lpath, list); err != nil {
			return nil, err
		}
	default:
		return nil, webhookd.FieldErrorf(in.path, "%s must set requests or fileName.", in.path)
	}
	if req.WebhookConfig, err = m.parseWebhookConfig(b); err != nil {
		return nil, err
	}
	return req, nil
}

// ParseBatchCreate parses the source document's create shape,
// POST /models/{model}:batchCreate with {"src","config":{"display_name",
// "webhook_config"}}, in either spelling. src is "files/…", an array of
// inline requests, or an object with fileName or inlinedRequests (the
// Python SDK's BatchJobSource).
func (m *Machine) ParseBatchCreate(model string, body []byte) (*BatchRequest, error) {
	root, err := decodeBody(body)
	if err != nil {
		return nil, err
	}
	req := &BatchRequest{}
	if req.Model, err = parseModel(model); err != nil {
		return nil, err
	}
	raw, path, ok := root.lookup("src")
	if !ok {
		return nil, webhookd.FieldErrorf("src", "src is required: \"files/…\" or a list of inline requests.")
	}
	var s string
	var list []json.RawMessage
	switch {
	case json.Unmarshal(raw, &s) == nil:
		if req.FileName, err = checkFileName(path, s); err != nil {
			return nil, err
		}
	case json.Unmarshal(raw, &list) == nil:
		if req.Requests, err = parseInlinedRequests(path, list); err != nil {
			return nil, err
		}
	default:
		src, err := asObject(path, raw, path)
		if err != nil {
			return nil, webhookd.FieldErrorf(path, "%s must be \"files/…\", a list of inline requests, or an object with fileName or inlinedRequests.", path)
		}
		switch {
		case src.has("fileName") && src.has("inlinedRequests"):
			return nil, webhookd.FieldErrorf(path, "%s must set either fileName or inlinedRequests, not both.", path)
		case src.has("fileName"):
			if req.FileName, err = parseFileName(src, "fileName"); err != nil {
				return nil, err
			}
		case src.has("inlinedRequests"):
			list, lpath, err := src.array("inlinedRequests")
			if err != nil {
				return nil, err
			}
			if req.Requests, err = parseInlinedRequests(lpath, list); err != nil {
				return nil, err
			}
		default:
			return nil, webhookd.FieldErrorf(path, "%s must set fileName or inlinedRequests.", path)
		}
	}
	cfg, err := root.obj("config")
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		if req.DisplayName, err = parseDisplayName(cfg); err != nil {
			return nil, err
		}
		if req.WebhookConfig, err = m.parseWebhookConfig(cfg); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// parseInlinedRequests checks the shape of inline requests: each is an
// object, either {"request":{…},"metadata":…} or the request itself (with
// "metadata" beside its contents, as the Python SDK's InlinedRequest has it).
// Whether a request can be answered (has contents with text) is decided when
// the batch runs: such a request fails its line, not the batch creation.
func parseInlinedRequests(path string, list []json.RawMessage) ([]InlinedRequest, error) {
	if len(list) == 0 {
		return nil, webhookd.FieldErrorf(path, "%s must list at least one request.", path)
	}
	if len(list) > MaxBatchRequests {
		return nil, webhookd.FieldErrorf(path, "%s must list at most %d requests; use an uploaded file for more.", path, MaxBatchRequests)
	}
	out := make([]InlinedRequest, 0, len(list))
	for i, raw := range list {
		ir, err := parseInlinedRequest(index(path, i), raw)
		if err != nil {
			return nil, err
		}
		out = append(out, ir)
	}
	return out, nil
}

func parseInlinedRequest(path string, raw json.RawMessage) (InlinedRequest, error) {
	o, err := asObject(path, raw, path)
	if err != nil {
		return InlinedRequest{}, err
	}
	var ir InlinedRequest
	if meta, _, ok := o.lookup("metadata"); ok {
		ir.Metadata = compact(meta)
	}
	if r, rpath, ok := o.lookup("request"); ok {
		if _, err := asObject(rpath, r, rpath); err != nil {
			return InlinedRequest{}, err
		}
		ir.Request = compact(r)
		return ir, nil
	}
	delete(o.m, "metadata")
	b, err := json.Marshal(o.m)
	if err != nil {
		return InlinedRequest{}, fmt.Errorf("lro: re-encode inline request: %w", err)
	}
	ir.Request = b
	return ir, nil
}

func parseFileName(o *object, camel string) (string, error) {
	s, err := o.str(camel)
	if err != nil {
		return "", err
	}
	_, path, _ := o.lookup(camel)
	return checkFileName(path, s)
}

// checkFileName accepts "files/{id}" with a plain id.
func checkFileName(path, s string) (string, error) {
	id, ok := strings.CutPrefix(s, "files/")
	if !ok || !validID(id) {
		return "", webhookd.FieldErrorf(path, "%s must be a file name of the form \"files/{id}\", got %q.", path, s)
	}
	return s, nil
}

// validID accepts ids made of letters, digits, '-' and '_' (ours and Google's).
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// parseModel takes the {model} of a path, with or without "models/".
func parseModel(model string) (string, error) {
	model = strings.TrimPrefix(strings.TrimSpace(model), "models/")
	if model == "" || len(model) > 256 || strings.ContainsAny(model, "/ \t\r\n:?#") {
		return "", webhookd.FieldErrorf("model", "model must be a model name such as \"gemini-2.5-flash\", got %q.", model)
	}
	return model, nil
}

func parseDisplayName(o *object) (string, error) {
	name, err := o.str("displayName")
	if err != nil {
		return "", err
	}
	_, path, _ := o.lookup("displayName")
	return name, webhookd.ValidateName(path, name)
}

// NewBatch returns the operation of a new batch: PENDING, due to start at
// once, expiring BatchExpiry after now. Creating a batch emits no event.
func (m *Machine) NewBatch(projectID string, req *BatchRequest, now time.Time) (*webhookd.Operation, error) {
	raw, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("lro: encode batch request: %w", err)
	}
	return &webhookd.Operation{
		ID:            webhookd.NewID(webhookd.PrefixBatch),
		ProjectID:     projectID,
		Kind:          webhookd.OperationBatch,
		Model:         req.Model,
		DisplayName:   req.DisplayName,
		State:         webhookd.BatchPending,
		Request:       raw,
		WebhookConfig: req.WebhookConfig,
		CreateTime:    now,
		UpdateTime:    now,
		ExpireTime:    at(now.Add(m.cfg.BatchExpiry)),
		NextStepTime:  at(now),
		Version:       1,
	}, nil
}

// BatchInput is what a running batch reads besides its own request: the
// content of its input file, or why it could not be read (a file deleted
// after the batch was created fails the batch, not the runner).
type BatchInput struct {
	File    []byte
	FileErr error
}

// batchResult is what an Operation stores as Result for a finished batch.
type batchResult struct {
	// ResponsesFile is the results JSONL, "files/{id}"; written for every
	// batch that ran, so that batch.succeeded always has output_file_uri.
	ResponsesFile string `json:"responses_file"`
	// Inlined holds the result lines of a batch of inline requests, in
	// request order, for output.inlinedResponses.
	Inlined []json.RawMessage `json:"inlined,omitempty"`
	Stats   batchStats        `json:"stats"`
}

type batchStats struct {
	RequestCount    int `json:"request_count"`
	SuccessfulCount int `json:"successful_count"`
	FailedCount     int `json:"failed_count"`
}

// StepBatch advances a batch the runner claimed: PENDING → RUNNING (due
// again after SimJobDuration), RUNNING → SUCCEEDED or FAILED with the
// results file; either becomes EXPIRED instead once ExpireTime has passed.
// A step of a terminal batch only clears its NextStepTime.
func (m *Machine) StepBatch(op *webhookd.Operation, in BatchInput, now time.Time) (webhookd.OperationChange, error) {
	n := advance(op, now)
	if op.State.Terminal() {
		n.NextStepTime = nil
		return webhookd.OperationChange{Update: []*webhookd.Operation{n}}, nil
	}
	if op.ExpireTime != nil && !now.Before(*op.ExpireTime) {
		return m.expireBatch(n, now)
	}
	switch op.State {
	case webhookd.BatchPending:
		n.State = webhookd.BatchRunning
		next := now.Add(m.cfg.SimJobDuration)
		if op.ExpireTime != nil && op.ExpireTime.Before(next) {
			next = *op.ExpireTime // wake up to expire it
		}
		n.NextStepTime = &next
		return webhookd.OperationChange{Update: []*webhookd.Operation{n}}, nil
	case webhookd.BatchRunning:
		return m.runBatch(n, in, now)
	}
	return webhookd.OperationChange{}, fmt.Errorf("lro: batch %s in unknown state %q", op.ID, op.State)
}

func (m *Machine) expireBatch(n *webhookd.Operation, now time.Time) (webhookd.OperationChange, error) {
	finish(n, webhookd.BatchExpired, now)
	n.ErrorCode, n.ErrorMessage = CodeDeadlineExceeded, fmt.Sprintf("The batch did not finish within %s.", m.cfg.BatchExpiry)
	ev, err := newEvent(n, webhookd.EventBatchExpired, map[string]any{"id": n.ID})
	if err != nil {
		return webhookd.OperationChange{}, err
	}
	return webhookd.OperationChange{Update: []*webhookd.Operation{n}, Events: []webhookd.NewEvent{ev}}, nil
}

// runBatch answers every request with the echo model, writes the results
// file and finishes the batch: SUCCEEDED with error_count failed lines, or
// FAILED when no line succeeded.
func (m *Machine) runBatch(n *webhookd.Operation, in BatchInput, now time.Time) (webhookd.OperationChange, error) {
	var req BatchRequest
	if err := json.Unmarshal(n.Request, &req); err != nil {
		return webhookd.OperationChange{}, fmt.Errorf("lro: batch %s request: %w", n.ID, err)
	}
	if req.FileName != "" && in.FileErr != nil {
		code := CodeInvalidArgument
		if webhookd.ErrorCode(in.FileErr) == webhookd.ENOTFOUND {
			code = CodeNotFound
		}
		return m.failBatch(n, nil, code, fmt.Sprintf("The input file %s could not be read: %s", req.FileName, webhookd.ErrorMessage(in.FileErr)), now)
	}
	var lines []resultLine
	if req.FileName != "" {
		lines = answerJSONL(n.Model, in.File)
	} else {
		lines = make([]resultLine, 0, len(req.Requests))
		for _, r := range req.Requests {
			lines = append(lines, answer(n.Model, nil, r.Request, r.Metadata))
		}
	}
	var out bytes.Buffer
	res := batchResult{Stats: batchStats{RequestCount: len(lines)}}
	var firstErr *requestError
	for _, l := range lines {
		b, err := json.Marshal(l)
		if err != nil {
			return webhookd.OperationChange{}, fmt.Errorf("lro: batch %s result line: %w", n.ID, err)
		}
		out.Write(b)
		out.WriteByte('\n')
		if req.FileName == "" {
			res.Inlined = append(res.Inlined, b)
		}
		if l.Error != nil {
			res.Stats.FailedCount++
			if firstErr == nil {
				firstErr = &requestError{l.Error.Status, l.Error.Message}
			}
		} else {
			res.Stats.SuccessfulCount++
		}
	}
	file := webhookd.NewFile(n.ProjectID, n.ID+"-results.jsonl", "application/jsonl", webhookd.FileGenerated, out.Bytes(), now)
	res.ResponsesFile = file.Name()
	raw, err := json.Marshal(res)
	if err != nil {
		return webhookd.OperationChange{}, fmt.Errorf("lro: batch %s result: %w", n.ID, err)
	}
	n.Result = raw
	switch {
	case len(lines) == 0:
		return m.failBatch(n, file, CodeInvalidArgument, fmt.Sprintf("The input file %s has no requests.", req.FileName), now)
	case res.Stats.SuccessfulCount == 0:
		return m.failBatch(n, file, CodeInvalidArgument,
			fmt.Sprintf("All %d requests failed; the first failed with: %s", len(lines), firstErr.message), now)
	}
	finish(n, webhookd.BatchSucceeded, now)
	ev, err := newEvent(n, webhookd.EventBatchSucceeded, map[string]any{
		"id":              n.ID,
		"output_file_uri": m.DownloadURL(file.ID),
		"error_count":     res.Stats.FailedCount,
	})
	if err != nil {
		return webhookd.OperationChange{}, err
	}
	return webhookd.OperationChange{
		Update: []*webhookd.Operation{n},
		Files:  []*webhookd.File{file},
		Events: []webhookd.NewEvent{ev},
	}, nil
}

// failBatch finishes n as FAILED; file, when not nil, is the results file
// (kept so that the caller can see why every line failed).
func (m *Machine) failBatch(n *webhookd.Operation, file *webhookd.File, code, msg string, now time.Time) (webhookd.OperationChange, error) {
	finish(n, webhookd.BatchFailed, now)
	n.ErrorCode, n.ErrorMessage = code, msg
	ev, err := newEvent(n, webhookd.EventBatchFailed, map[string]any{"id": n.ID, "error_code": code, "error_message": msg})
	if err != nil {
		return webhookd.OperationChange{}, err
	}
	c := webhookd.OperationChange{Update: []*webhookd.Operation{n}, Events: []webhookd.NewEvent{ev}}
	if file != nil {
		c.Files = []*webhookd.File{file}
	}
	return c, nil
}

// CancelBatch cancels a PENDING or RUNNING batch (batch.cancelled). A
// batch past its ExpireTime that the runner has not yet expired is expired
// instead: it was not finished in time, whatever the caller asks now.
// Cancelling a cancelled batch changes nothing; cancelling another finished
// batch is an EPRECONDITION error.
func (m *Machine) CancelBatch(op *webhookd.Operation, now time.Time) (webhookd.OperationChange, error) {
	switch {
	case op.State == webhookd.BatchCancelled:
		return webhookd.OperationChange{}, nil
	case op.State.Terminal():
		return webhookd.OperationChange{}, webhookd.Errorf(webhookd.EPRECONDITION, "Batch %s has already finished (%s) and cannot be cancelled.", op.ID, op.State)
	}
	n := advance(op, now)
	if op.ExpireTime != nil && !now.Before(*op.ExpireTime) {
		return m.expireBatch(n, now)
	}
	finish(n, webhookd.BatchCancelled, now)
	n.ErrorCode, n.ErrorMessage = CodeCancelled, "The batch was cancelled."
	ev, err := newEvent(n, webhookd.EventBatchCancelled, map[string]any{"id": n.ID})
	if err != nil {
		return webhookd.OperationChange{}, err
	}
	return webhookd.OperationChange{Update: []*webhookd.Operation{n}, Events: []webhookd.NewEvent{ev}}, nil
}

// resultLine is one line of the results JSONL, and one element of
// output.inlinedResponses: the request's key (file input) or metadata
// (inline input), and its response or error.
type resultLine struct {
	Key      json.RawMessage `json:"key,omitempty"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
	Response json.RawMessage `json:"response,omitempty"`
	Error    *lineError      `json:"error,omitempty"`
}

// lineError is a google.rpc.Status, as the batch API reports a failed request.
type lineError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

func answer(model string, key, request, metadata json.RawMessage) resultLine {
	l := resultLine{Key: key, Metadata: metadata}
	texts, rerr := generateContentTexts(request)
	if rerr != nil {
		l.Error = &lineError{Code: rpcCode(rerr.code), Message: rerr.message, Status: rerr.code}
		return l
	}
	l.Response = echoResponse(model, texts)
	return l
}

// answerJSONL answers a batch input file: one JSON object per non-blank
// line, {"key":…,"request":{…}} (the batch API's input format) or the
// request itself. A line that is not such an object fails on its own.
func answerJSONL(model string, content []byte) []resultLine {
	var out []resultLine
	n := 0
	for line := range bytes.Lines(content) {
		n++
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(line, &m); err != nil || m == nil {
			out = append(out, resultLine{Error: &lineError{Code: rpcCode(CodeInvalidArgument), Status: CodeInvalidArgument,
				Message: fmt.Sprintf("Invalid request: line %d is not a JSON object.", n)}})
			continue
		}
		key, meta := m["key"], m["metadata"]
		req, ok := m["request"]
		if !ok {
			delete(m, "key")
			delete(m, "metadata")
			req, _ = json.Marshal(m)
		}
		out = append(out, answer(model, compactOrNil(key), req, compactOrNil(meta)))
	}
	return out
}

func compactOrNil(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || isNull(raw) {
		return nil
	}
	return compact(raw)
}
