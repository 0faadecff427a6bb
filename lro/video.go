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

// VideoRequest is what POST /models/{model}:predictLongRunning asks for.
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

// NewVideo returns the operation of a new video generation: running, due to
// finish after SimJobDuration. Creating it emits no event.
func (m *Machine) NewVideo(projectID string, req *VideoRequest, now time.Time) (*webhookd.Operation, error) {
	wc, err := m.webhookConfig(req.WebhookConfig)
	if err != nil {
		return nil, err
	}
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
		WebhookConfig: wc,
		CreateTime:    now,
		UpdateTime:    now,
		NextStepTime:  at(now.Add(m.cfg.SimJobDuration)),
		Version:       1,
	}, nil
}

// VideoResult is what a finished video operation stores as Result: the
// generated file.
type VideoResult struct {
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
	file := m.outputFile(op.ProjectID, op.ID+".mp4", VideoMimeType, simulatedVideo(req.Prompt), now)
	raw, err := json.Marshal(VideoResult{FileID: file.ID})
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

// VideoOf returns the result of a video operation once it finished (nil
// before).
func VideoOf(op *webhookd.Operation) (*VideoResult, error) {
	if len(op.Result) == 0 {
		return nil, nil
	}
	var res VideoResult
	if err := json.Unmarshal(op.Result, &res); err != nil {
		return nil, fmt.Errorf("lro: video %s result: %w", op.ID, err)
	}
	return &res, nil
}
