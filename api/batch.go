package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

// Batches on the wire: the two create shapes (the SDKs' and the source
// document's) read into an lro.BatchRequest, and a batch rendered as the
// camelCase google.longrunning.Operation the legacy SDK stack reads.

// The objects of a batch create request. They are open: the SDKs send what
// their callers wrote (an output config, a priority), which the simulator
// does not read.
var (
	batchGenerateContentSchema = schema{fields: []string{"batch"}, open: true}
	batchSchema                = schema{fields: []string{"input_config", "display_name", "webhook_config"}, open: true}
	inputConfigSchema          = schema{fields: []string{"requests", "file_name"}, open: true}
	inlinedRequestsSchema      = schema{fields: []string{"requests"}, open: true}
	inlinedRequestSchema       = schema{fields: []string{"request", "metadata"}, open: true}
	batchCreateSchema          = schema{fields: []string{"src", "config"}, open: true}
	batchSourceSchema          = schema{fields: []string{"file_name", "inlined_requests"}, open: true}
	batchConfigSchema          = schema{fields: []string{"display_name", "webhook_config"}, open: true}
)

// parseBatchGenerateContent reads the SDK's create shape,
// POST /models/{model}:batchGenerateContent with
// {"batch":{"inputConfig":{"requests":{"requests":[{"request","metadata"}]}} |
// {"fileName":"files/…"}},"displayName","webhookConfig"}}. file is where the
// request named its input file, for the error of a file that does not exist.
func (s *Server) parseBatchGenerateContent(model string, root *object) (req *lro.BatchRequest, file fieldRef, err error) {
	req = &lro.BatchRequest{}
	if req.Model, err = parseModel(model); err != nil {
		return nil, file, err
	}
	b, ok, err := root.object("batch", batchSchema)
	if err != nil {
		return nil, file, err
	}
	if !ok {
		return nil, file, webhookd.FieldErrorf("batch", "batch is required.")
	}
	if req.DisplayName, err = displayName(b); err != nil {
		return nil, file, err
	}
	in, ok, err := b.object("input_config", inputConfigSchema)
	if err != nil {
		return nil, file, err
	}
	if !ok {
		return nil, file, b.at("input_config").errorf("is required: inline requests or a fileName.")
	}
	switch hasReqs, hasFile := in.has("requests"), in.has("file_name"); {
	case hasReqs && hasFile:
		return nil, file, in.errorf("must set either requests or fileName, not both.")
	case hasFile:
		file = in.at("file_name")
		if req.FileName, err = fileName(in, "file_name"); err != nil {
			return nil, file, err
		}
	case hasReqs:
		// {"requests":{"requests":[…]}} is the proto shape; a bare list is
		// accepted too, as hand-written clients send it.
		list, name := in, "requests"
		if raw, _ := in.raw("requests"); raw[0] != '[' {
			if list, _, err = in.object("requests", inlinedRequestsSchema); err != nil {
				return nil, file, err
			}
		}
		if req.Requests, err = inlinedRequests(list, name); err != nil {
			return nil, file, err
		}
	default:
		return nil, file, in.errorf("must set requests or fileName.")
	}
	if req.WebhookConfig, err = s.webhookConfig(b); err != nil {
		return nil, file, err
	}
	return req, file, nil
}

// parseBatchCreate reads the source document's create shape,
// POST /models/{model}:batchCreate with {"src","config":{"display_name",
// "webhook_config"}}. src is "files/…", a list of inline requests, or an
// object with fileName or inlinedRequests (the Python SDK's
// BatchJobSource). file is as parseBatchGenerateContent returns it.
func (s *Server) parseBatchCreate(model string, root *object) (req *lro.BatchRequest, file fieldRef, err error) {
	req = &lro.BatchRequest{}
	if req.Model, err = parseModel(model); err != nil {
		return nil, file, err
	}
	raw, ok := root.raw("src")
	if !ok {
		return nil, file, webhookd.FieldErrorf("src", "src is required: \"files/…\" or a list of inline requests.")
	}
	switch raw[0] {
	case '"':
		file = root.at("src")
		if req.FileName, err = fileName(root, "src"); err != nil {
			return nil, file, err
		}
	case '[':
		if req.Requests, err = inlinedRequests(root, "src"); err != nil {
			return nil, file, err
		}
	case '{':
		src, _, err := root.object("src", batchSourceSchema)
		if err != nil {
			return nil, file, err
		}
		switch {
		case src.has("file_name") && src.has("inlined_requests"):
			return nil, file, src.errorf("must set either fileName or inlinedRequests, not both.")
		case src.has("file_name"):
			file = src.at("file_name")
			if req.FileName, err = fileName(src, "file_name"); err != nil {
				return nil, file, err
			}
		case src.has("inlined_requests"):
			if req.Requests, err = inlinedRequests(src, "inlined_requests"); err != nil {
				return nil, file, err
			}
		default:
			return nil, file, src.errorf("must set fileName or inlinedRequests.")
		}
	default:
		return nil, file, root.at("src").errorf("must be \"files/…\", a list of inline requests, or an object with fileName or inlinedRequests.")
	}
	cfg, ok, err := root.object("config", batchConfigSchema)
	if err != nil || !ok {
		return req, file, err
	}
	if req.DisplayName, err = displayName(cfg); err != nil {
		return nil, file, err
	}
	if req.WebhookConfig, err = s.webhookConfig(cfg); err != nil {
		return nil, file, err
	}
	return req, file, nil
}

// inlinedRequests reads the list field name of o: inline requests, each an
// object, either {"request":{…},"metadata":…} or the request itself (with
// "metadata" beside its contents, as the Python SDK's InlinedRequest has it).
// Whether a request can be answered (has contents with text) is decided when
// the batch runs: such a request fails its line, not the batch creation.
func inlinedRequests(o *object, name string) ([]lro.InlinedRequest, error) {
	list, _, err := o.list(name)
	switch {
	case err != nil:
		return nil, err
	case len(list) == 0:
		return nil, o.at(name).errorf("must list at least one request.")
	case len(list) > lro.MaxBatchRequests:
		return nil, o.at(name).errorf("must list at most %d requests; use an uploaded file for more.", lro.MaxBatchRequests)
	}
	out := make([]lro.InlinedRequest, len(list))
	for i, raw := range list {
		el, err := o.element(name, i, raw, inlinedRequestSchema)
		if err != nil {
			return nil, err
		}
		if meta, ok := el.raw("metadata"); ok {
			out[i].Metadata = compactJSON(meta)
		}
		if r, ok, err := el.rawObject("request"); err != nil {
			return nil, err
		} else if ok {
			out[i].Request = compactJSON(r)
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("api: inline request %d: %w", i, err) // el decoded it: cannot fail
		}
		delete(m, "metadata")
		if out[i].Request, err = json.Marshal(m); err != nil {
			return nil, fmt.Errorf("api: re-encode inline request %d: %w", i, err)
		}
	}
	return out, nil
}

// fileName reads the field name of o, a file name "files/{id}".
func fileName(o *object, name string) (string, error) {
	v, _, err := o.string(name)
	if err != nil {
		return "", err
	}
	if id, ok := strings.CutPrefix(v, "files/"); !ok || !validID(id) {
		return "", o.at(name).errorf("must be a file name of the form \"files/{id}\", got %q.", v)
	}
	return v, nil
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

// displayName reads the display_name of o.
func displayName(o *object) (string, error) {
	name, _, err := o.string("display_name")
	if err != nil {
		return "", err
	}
	return name, o.explain(webhookd.ValidateName(o.qualify("display_name"), name))
}

// compactJSON returns raw without insignificant white space, so that stored
// documents and renderings are stable whatever the caller's formatting.
func compactJSON(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

// inputFileError names the field that named a batch's input file in the
// error of a file the project does not have.
func inputFileError(err error, file fieldRef) error {
	var e *webhookd.Error
	if !errors.Is(err, lro.ErrInputFileNotFound) || !errors.As(err, &e) {
		return err
	}
	return spelledAs(&webhookd.Error{Code: e.Code, Field: file.path, Message: e.Message}, file.sent)
}

// Type URLs of the google.protobuf.Any values in rendered Operations, as the
// Gemini API sends them.
const (
	typeBatchMetadata = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
	typeBatchOutput   = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
)

// batchMetadata is the GenerateContentBatch the SDK reads from
// Operation.metadata: name, model, displayName, state, the times and output.
type batchMetadata struct {
	Type        string     `json:"@type"`
	Name        string     `json:"name"`
	Model       string     `json:"model"`
	DisplayName string     `json:"displayName,omitempty"`
	State       string     `json:"state"`
	CreateTime  string     `json:"createTime"`
	UpdateTime  string     `json:"updateTime"`
	EndTime     string     `json:"endTime,omitempty"`
	Output      *batchOut  `json:"output,omitempty"`
	BatchStats  *statsJSON `json:"batchStats,omitempty"`
}

// batchOut is GenerateContentBatchOutput: responsesFile for a batch read
// from a file, inlinedResponses for inline requests (as the Gemini API does).
type batchOut struct {
	Type             string            `json:"@type,omitempty"`
	ResponsesFile    string            `json:"responsesFile,omitempty"`
	InlinedResponses *inlinedResponses `json:"inlinedResponses,omitempty"`
}

type inlinedResponses struct {
	InlinedResponses []json.RawMessage `json:"inlinedResponses"`
}

// statsJSON is BatchStats; int64 fields are strings in proto JSON.
type statsJSON struct {
	RequestCount           string `json:"requestCount"`
	SuccessfulRequestCount string `json:"successfulRequestCount,omitempty"`
	FailedRequestCount     string `json:"failedRequestCount,omitempty"`
	PendingRequestCount    string `json:"pendingRequestCount,omitempty"`
}

// renderBatch renders a batch as the camelCase Operation the SDK reads:
// {name:"batches/{id}", metadata:{@type, name, model:"models/…",
// displayName, state:"BATCH_STATE_…", createTime, updateTime, endTime,
// output, batchStats}, done, response|error}. The SDK reads the outcome from
// metadata.state and metadata.output only; done, response and error follow
// google.longrunning conventions for other clients.
func renderBatch(op *webhookd.Operation) (*operationJSON, error) {
	req, res, err := lro.BatchOf(op)
	if err != nil {
		return nil, err
	}
	md := batchMetadata{
		Type: typeBatchMetadata, Name: op.Name(), Model: "models/" + op.Model, DisplayName: op.DisplayName,
		State: string(op.State), CreateTime: formatTime(op.CreateTime), UpdateTime: formatTime(op.UpdateTime),
		EndTime: formatTimePtr(op.EndTime),
	}
	stats := &statsJSON{}
	if req.FileName == "" {
		stats.RequestCount = strconv.Itoa(len(req.Requests))
	}
	if !op.State.Terminal() {
		stats.PendingRequestCount = stats.RequestCount
	}
	if res != nil {
		stats.RequestCount = strconv.Itoa(res.Stats.RequestCount)
		stats.SuccessfulRequestCount = strconv.Itoa(res.Stats.SuccessfulCount)
		stats.FailedRequestCount = strconv.Itoa(res.Stats.FailedCount)
		if req.FileName == "" {
			md.Output = &batchOut{InlinedResponses: &inlinedResponses{InlinedResponses: res.Inlined}}
		} else {
			md.Output = &batchOut{ResponsesFile: res.ResponsesFile}
		}
	}
	if stats.RequestCount != "" {
		md.BatchStats = stats
	}
	out := &operationJSON{Name: op.Name(), Metadata: md, Done: op.State.Terminal()}
	switch {
	case op.State == webhookd.BatchSucceeded:
		resp := batchOut{Type: typeBatchOutput}
		if md.Output != nil {
			resp.ResponsesFile, resp.InlinedResponses = md.Output.ResponsesFile, md.Output.InlinedResponses
		}
		out.Response = resp
	case op.State.Terminal():
		out.Error = errorStatus(op)
	}
	return out, nil
}
