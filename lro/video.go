package lro

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/webhookd/webhookd"
)

// MaxVideoPromptLength bounds a video prompt.
const MaxVideoPromptLength = 16 << 10

// VideoRequest is a parsed POST /models/{model}:predictLongRunning.
type VideoRequest struct {
	Model string `json:"model"`
	// Prompt is the first instance's prompt ("" for an image-only request).
	Prompt string `json:"prompt,omitempty"`
	// Instances and Parameters are kept verbatim.
	Instances  json.RawMessage `json:"instances"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
	// WebhookConfig is carried by the Operation, not stored twice.
	WebhookConfig *webhookd.WebhookConfig `json:"-"`
}

// ParseVideo parses {"instances":[{"prompt":…}],"parameters":{…},
// "webhookConfig":{…}}: the webhook config is top level, in either
// spelling (SDK 2.32 sends webhookConfig with the caller's object verbatim).
func (m *Machine) ParseVideo(model string, body []byte) (*VideoRequest, error) {
	root, err := decodeBody(body)
	if err != nil {
		return nil, err
	}
	req := &VideoRequest{}
	if req.Model, err = parseModel(model); err != nil {
		return nil, err
	}
	list, path, err := root.array("instances")
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, webhookd.FieldErrorf(path, "%s must list one instance with a prompt.", path)
	}
	for i, raw := range list {
		ipath := index(path, i)
		inst, err := asObject(ipath, raw, ipath)
		if err != nil {
			return nil, err
		}
		prompt, err := inst.str("prompt")
		if err != nil {
			return nil, err
		}
		if prompt == "" && !inst.has("image") {
			return nil, webhookd.FieldErrorf(inst.child("prompt"), "%s is required (or an image).", inst.child("prompt"))
		}
		if len(prompt) > MaxVideoPromptLength {
			return nil, webhookd.FieldErrorf(inst.child("prompt"), "%s must be at most %d bytes.", inst.child("prompt"), MaxVideoPromptLength)
		}
		if i == 0 {
			req.Prompt = prompt
		}
	}
	raw, _, _ := root.lookup("instances")
	req.Instances = compact(raw)
	if params, err := root.obj("parameters"); err != nil {
		return nil, err
	} else if params != nil {
		raw, _, _ := root.lookup("parameters")
		req.Parameters = compact(raw)
	}
	if req.WebhookConfig, err = m.parseWebhookConfig(root); err != nil {
		return nil, err
	}
	return req, nil
}

// NewVideo returns the operation of a new video generation: running, due to
// finish after SimJobDuration. Creating it emits no event.
func (m *Machine) NewVideo(projectID string, req *VideoRequest, now time.Time) (*webhookd.Operation, error) {
	raw, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("lro: encode video request: %w", err)
	}
	return &webhookd.Operation{
		ID:            webhookd.NewID(webhookd.PrefixVideo),
		ProjectID:     projectID,
		Kind:          webhookd.OperationVideo,
		Model:         req.Model,
		State:         webhookd.VideoRunning,
		Request:       raw,
		WebhookConfig: req.WebhookConfig,
		CreateTime:    now,
		UpdateTime:    now,
		NextStepTime:  at(now.Add(m.cfg.SimJobDuration)),
		Version:       1,
	}, nil
}

// videoResult is what a finished video operation stores as Result.
type videoResult struct {
	FileID string `json:"file_id"`
}

// VideoMimeType is the type of the generated file.
const VideoMimeType = "video/mp4"

// StepVideo finishes a running video operation: it writes the (small,
// simulated) video file and emits video.generated {id, file_id, video_uri}.
// A step of a finished operation only clears its NextStepTime.
func (m *Machine) StepVideo(op *webhookd.Operation, now time.Time) (webhookd.OperationChange, error) {
	n := advance(op, now)
	if op.State != webhookd.VideoRunning {
		n.NextStepTime = nil
		return webhookd.OperationChange{Update: []*webhookd.Operation{n}}, nil
	}
	var req VideoRequest
	if err := json.Unmarshal(op.Request, &req); err != nil {
		return webhookd.OperationChange{}, fmt.Errorf("lro: video %s request: %w", op.ID, err)
	}
	file := webhookd.NewFile(op.ProjectID, op.ID+".mp4", VideoMimeType, webhookd.FileGenerated, simulatedVideo(req.Prompt), now)
	raw, err := json.Marshal(videoResult{FileID: file.ID})
	if err != nil {
		return webhookd.OperationChange{}, fmt.Errorf("lro: video %s result: %w", op.ID, err)
	}
	n.Result = raw
	finish(n, webhookd.VideoDone, now)
	ev, err := newEvent(n, webhookd.EventVideoGenerated, map[string]any{
		"id":        n.ID,
		"file_id":   file.ID,
		"video_uri": m.DownloadURL(file.ID),
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

// simulatedVideo is the simulator's "video": an ISO BMFF ftyp box, so that
// tools recognise an MP4, followed by a free box holding the prompt. It is
// not playable; it is small, deterministic and downloadable, which is what
// the simulator promises.
func simulatedVideo(prompt string) []byte {
	box := func(typ string, payload []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(8+len(payload)))
		return append(append(b, typ...), payload...)
	}
	ftyp := box("ftyp", []byte("isom\x00\x00\x02\x00isomiso2mp41"))
	return append(ftyp, box("free", []byte("webhookd simulated video: "+prompt))...)
}

// RenderVideo renders a video operation as the SDK's getVideosOperation
// reads it: {name:"models/{model}/operations/{id}", metadata, done,
// response:{generateVideoResponse:{generatedSamples:[{video:{uri}}]}}}.
func (m *Machine) RenderVideo(op *webhookd.Operation) (json.RawMessage, error) {
	md := struct {
		Type       string `json:"@type"`
		CreateTime string `json:"createTime"`
		UpdateTime string `json:"updateTime"`
		EndTime    string `json:"endTime,omitempty"`
	}{Type: typeVideoMetadata, CreateTime: protoTime(op.CreateTime), UpdateTime: protoTime(op.UpdateTime)}
	if op.EndTime != nil {
		md.EndTime = protoTime(*op.EndTime)
	}
	out := operationJSON{Name: op.Name(), Metadata: md, Done: op.State.Terminal(), Error: errorStatus(op)}
	if op.State == webhookd.VideoDone && len(op.Result) > 0 {
		var res videoResult
		if err := json.Unmarshal(op.Result, &res); err != nil {
			return nil, fmt.Errorf("lro: video %s result: %w", op.ID, err)
		}
		out.Response = videoResponse{
			Type: typeVideoResponse,
			GenerateVideoResponse: generateVideoResponse{GeneratedSamples: []generatedSample{
				{Video: videoJSON{URI: m.DownloadURL(res.FileID), Encoding: VideoMimeType}},
			}},
		}
	}
	return marshal(out)
}

// videoResponse is PredictLongRunningResponse as the Gemini API renders it.
type videoResponse struct {
	Type                  string                `json:"@type"`
	GenerateVideoResponse generateVideoResponse `json:"generateVideoResponse"`
}

type generateVideoResponse struct {
	GeneratedSamples []generatedSample `json:"generatedSamples"`
}

type generatedSample struct {
	Video videoJSON `json:"video"`
}

type videoJSON struct {
	URI      string `json:"uri"`
	Encoding string `json:"encoding"`
}
