package lro

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/webhookd/webhookd"
)

// Type URLs of the google.protobuf.Any values in rendered Operations, as the
// Gemini API sends them.
const (
	typeBatchMetadata  = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
	typeBatchOutput    = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
	typeVideoResponse  = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
	typeInteractionOp  = "type.googleapis.com/webhookd.v1.InteractionMetadata"
	typeVideoMetadata  = "type.googleapis.com/webhookd.v1.VideoMetadata"
	interactionTimeFmt = "2006-01-02T15:04:05Z" // the Interactions API's ISO 8601, seconds, UTC
)

// operationJSON is a google.longrunning.Operation in camelCase proto JSON.
type operationJSON struct {
	Name     string      `json:"name"`
	Metadata any         `json:"metadata,omitempty"`
	Done     bool        `json:"done,omitempty"`
	Response any         `json:"response,omitempty"`
	Error    *statusJSON `json:"error,omitempty"`
}

// statusJSON is a google.rpc.Status.
type statusJSON struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func protoTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func errorStatus(op *webhookd.Operation) *statusJSON {
	if op.ErrorCode == "" {
		return nil
	}
	return &statusJSON{Code: rpcCode(op.ErrorCode), Message: op.ErrorMessage}
}

// RenderOperation renders any operation as the google.longrunning.Operation
// that GET /operations and GET /operations/{id} list: batches and video
// operations exactly as their own routes render them, interactions as an
// Operation named "interactions/{id}" whose metadata carries their status.
func (m *Machine) RenderOperation(op *webhookd.Operation) (json.RawMessage, error) {
	switch op.Kind {
	case webhookd.OperationBatch:
		return m.RenderBatch(op)
	case webhookd.OperationVideo:
		return m.RenderVideo(op)
	case webhookd.OperationInteraction:
		md := struct {
			Type       string `json:"@type"`
			State      string `json:"state"`
			Model      string `json:"model,omitempty"`
			Agent      string `json:"agent,omitempty"`
			CreateTime string `json:"createTime"`
			UpdateTime string `json:"updateTime"`
			EndTime    string `json:"endTime,omitempty"`
		}{
			Type: typeInteractionOp, State: string(op.State), Model: op.Model, Agent: op.Agent,
			CreateTime: protoTime(op.CreateTime), UpdateTime: protoTime(op.UpdateTime),
		}
		if op.EndTime != nil {
			md.EndTime = protoTime(*op.EndTime)
		}
		return marshal(operationJSON{Name: op.Name(), Metadata: md, Done: op.State.Terminal(), Error: errorStatus(op)})
	}
	return nil, fmt.Errorf("lro: operation %s has unknown kind %q", op.ID, op.Kind)
}

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

// RenderBatch renders a batch as the camelCase Operation the SDK reads:
// {name:"batches/{id}", metadata:{@type, name, model:"models/…",
// displayName, state:"BATCH_STATE_…", createTime, updateTime, endTime,
// output, batchStats}, done, response|error}. The SDK reads the outcome from
// metadata.state and metadata.output only; done, response and error follow
// google.longrunning conventions for other clients.
func (m *Machine) RenderBatch(op *webhookd.Operation) (json.RawMessage, error) {
	var req BatchRequest
	if err := json.Unmarshal(op.Request, &req); err != nil {
		return nil, fmt.Errorf("lro: batch %s request: %w", op.ID, err)
	}
	md := batchMetadata{
		Type: typeBatchMetadata, Name: op.Name(), Model: "models/" + op.Model, DisplayName: op.DisplayName,
		State: string(op.State), CreateTime: protoTime(op.CreateTime), UpdateTime: protoTime(op.UpdateTime),
	}
	if op.EndTime != nil {
		md.EndTime = protoTime(*op.EndTime)
	}
	stats := &statsJSON{}
	if req.FileName == "" {
		stats.RequestCount = strconv.Itoa(len(req.Requests))
	}
	if !op.State.Terminal() {
		stats.PendingRequestCount = stats.RequestCount
	}
	if len(op.Result) > 0 {
		var res batchResult
		if err := json.Unmarshal(op.Result, &res); err != nil {
			return nil, fmt.Errorf("lro: batch %s result: %w", op.ID, err)
		}
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
	out := operationJSON{Name: op.Name(), Metadata: md, Done: op.State.Terminal()}
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
	return marshal(out)
}

func marshal(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("lro: render: %w", err)
	}
	return b, nil
}
