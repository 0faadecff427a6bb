package api

import (
	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

// Video generation on the wire: POST /models/{model}:predictLongRunning read
// into an lro.VideoRequest, and the operation rendered as the SDK's
// getVideosOperation reads it.

// The objects of a video request. Open: a request carries parameters and
// instance fields (an image, a negative prompt) the simulator ignores.
var (
	videoSchema         = schema{fields: []string{"instances", "parameters", "webhook_config"}, open: true}
	videoInstanceSchema = schema{fields: []string{"prompt", "image"}, open: true}
)

// parseVideo reads {"instances":[{"prompt":…}],"parameters":{…},
// "webhookConfig":{…}}: the webhook config is top level, in either
// spelling (SDK 2.32 sends webhookConfig with the caller's object verbatim).
func (s *Server) parseVideo(model string, root *object) (*lro.VideoRequest, error) {
	req := &lro.VideoRequest{}
	var err error
	if req.Model, err = parseModel(model); err != nil {
		return nil, err
	}
	list, _, err := root.list("instances")
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, root.at("instances").errorf("must list one instance with a prompt.")
	}
	for i, raw := range list {
		inst, err := root.element("instances", i, raw, videoInstanceSchema)
		if err != nil {
			return nil, err
		}
		prompt, _, err := inst.string("prompt")
		if err != nil {
			return nil, err
		}
		if prompt == "" && !inst.has("image") {
			return nil, inst.at("prompt").errorf("is required (or an image).")
		}
		if len(prompt) > lro.MaxVideoPromptLength {
			return nil, inst.at("prompt").errorf("must be at most %d bytes.", lro.MaxVideoPromptLength)
		}
		if i == 0 {
			req.Prompt = prompt
		}
	}
	raw, _ := root.raw("instances")
	req.Instances = compactJSON(raw)
	if raw, ok, err := root.rawObject("parameters"); err != nil {
		return nil, err
	} else if ok {
		req.Parameters = compactJSON(raw)
	}
	if req.WebhookConfig, err = s.webhookConfig(root); err != nil {
		return nil, err
	}
	return req, nil
}

// Type URLs of a rendered video operation.
const (
	typeVideoResponse = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
	typeVideoMetadata = "type.googleapis.com/webhookd.v1.VideoMetadata"
)

// videoMetadata is the metadata of a rendered video operation.
type videoMetadata struct {
	Type       string `json:"@type"`
	CreateTime string `json:"createTime"`
	UpdateTime string `json:"updateTime"`
	EndTime    string `json:"endTime,omitempty"`
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

// renderVideo renders a video operation as the SDK's getVideosOperation
// reads it: {name:"models/{model}/operations/{id}", metadata, done,
// response:{generateVideoResponse:{generatedSamples:[{video:{uri}}]}}}.
func (s *Server) renderVideo(op *webhookd.Operation) (*operationJSON, error) {
	md := videoMetadata{Type: typeVideoMetadata, CreateTime: formatTime(op.CreateTime), UpdateTime: formatTime(op.UpdateTime), EndTime: formatTimePtr(op.EndTime)}
	out := &operationJSON{Name: op.Name(), Metadata: md, Done: op.State.Terminal(), Error: errorStatus(op)}
	if op.State != webhookd.VideoDone {
		return out, nil
	}
	res, err := lro.VideoOf(op)
	if err != nil || res == nil {
		return out, err
	}
	out.Response = videoResponse{
		Type: typeVideoResponse,
		GenerateVideoResponse: generateVideoResponse{GeneratedSamples: []generatedSample{
			{Video: videoJSON{URI: s.cfg.Operations.Machine().DownloadURL(res.FileID), Encoding: lro.VideoMimeType}},
		}},
	}
	return out, nil
}
