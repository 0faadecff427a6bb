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

// BatchRequest is what a batch create request asks for, whichever shape it
// came in. Its JSON is what an Operation stores as Request.
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

// NewBatch returns the operation of a new batch: PENDING, due to start at
// once, expiring BatchExpiry after now. Creating a batch emits no event.
func (m *Machine) NewBatch(projectID string, req *BatchRequest, now time.Time) (*webhookd.Operation, error) {
	switch {
	case req.FileName == "" && len(req.Requests) == 0:
		return nil, webhookd.Errorf(webhookd.EINVALID, "A batch needs inline requests or an input file.")
	case req.FileName != "" && len(req.Requests) > 0:
		return nil, webhookd.Errorf(webhookd.EINVALID, "A batch takes inline requests or an input file, not both.")
	case len(req.Requests) > MaxBatchRequests:
		return nil, webhookd.Errorf(webhookd.EINVALID, "A batch takes at most %d inline requests; use an uploaded file for more.", MaxBatchRequests)
	}
	wc, err := m.webhookConfig(req.WebhookConfig)
	if err != nil {
		return nil, err
	}
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
		WebhookConfig: wc,
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

// BatchResult is what an Operation stores as Result for a batch that ran.
type BatchResult struct {
	// ResponsesFile is the results JSONL, "files/{id}"; written for every
	// batch that ran, so that batch.succeeded always has output_file_uri.
	ResponsesFile string `json:"responses_file"`
	// Inlined holds the result lines of a batch of inline requests, in
	// request order, for output.inlinedResponses.
	Inlined []json.RawMessage `json:"inlined,omitempty"`
	Stats   BatchStats        `json:"stats"`
}

// BatchStats counts the requests of a batch that ran.
type BatchStats struct {
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
	res := BatchResult{Stats: BatchStats{RequestCount: len(lines)}}
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
	file := m.outputFile(n.ProjectID, n.ID+"-results.jsonl", "application/jsonl", out.Bytes(), now)
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
		l.Error = &lineError{Code: RPCCode(rerr.code), Message: rerr.message, Status: rerr.code}
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
			out = append(out, resultLine{Error: &lineError{Code: RPCCode(CodeInvalidArgument), Status: CodeInvalidArgument,
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

// compactOrNil returns raw without insignificant white space, or nil for
// an absent or null value, so that result lines are stable whatever the
// input file's formatting.
func compactOrNil(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if len(raw) == 0 || string(raw) == "null" || json.Compact(&b, raw) != nil {
		return nil
	}
	return b.Bytes()
}

// BatchOf returns the request a batch was created with, and its result
// once it has run (nil before).
func BatchOf(op *webhookd.Operation) (*BatchRequest, *BatchResult, error) {
	var req BatchRequest
	if err := json.Unmarshal(op.Request, &req); err != nil {
		return nil, nil, fmt.Errorf("lro: batch %s request: %w", op.ID, err)
	}
	if len(op.Result) == 0 {
		return &req, nil, nil
	}
	var res BatchResult
	if err := json.Unmarshal(op.Result, &res); err != nil {
		return nil, nil, fmt.Errorf("lro: batch %s result: %w", op.ID, err)
	}
	return &req, &res, nil
}
