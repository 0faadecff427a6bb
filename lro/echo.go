package lro

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The echo model is the simulator's stand-in for a language model: its answer
// to a request is the request's text parts, in order, joined by newlines. It
// is deterministic, so tests and demos can predict every output.

// Echo returns the echo model's answer to texts.
func Echo(texts []string) string { return strings.Join(texts, "\n") }

// requestError is why a batch request cannot be answered; it fails that
// line only.
type requestError struct {
	code    string
	message string
}

// generateContentTexts returns the text parts of a GenerateContentRequest
// ({"contents":[{"role","parts":[{"text"}…]}…]}). A request fails when it
// has no contents, or no text part in them.
func generateContentTexts(raw json.RawMessage) ([]string, *requestError) {
	var req struct {
		Contents []struct {
			Parts []map[string]json.RawMessage `json:"parts"`
		} `json:"contents"`
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, &requestError{CodeInvalidArgument, "Invalid request: contents must be an array of Content objects with parts."}
	}
	if len(req.Contents) == 0 {
		return nil, &requestError{CodeInvalidArgument, "Invalid request: contents is required and must not be empty."}
	}
	var texts []string
	for _, c := range req.Contents {
		for _, p := range c.Parts {
			var t string
			if raw, ok := p["text"]; ok && json.Unmarshal(raw, &t) == nil {
				texts = append(texts, t)
			}
		}
	}
	if len(texts) == 0 {
		return nil, &requestError{CodeInvalidArgument, "Invalid request: contents has no text part."}
	}
	return texts, nil
}

// echoResponse is the echo model's GenerateContentResponse, in the camelCase
// the batch API returns. Token counts are words: deterministic, and
// plausible enough for clients that add them up.
func echoResponse(model string, texts []string) json.RawMessage {
	answer := Echo(texts)
	in, out := 0, len(strings.Fields(answer))
	for _, t := range texts {
		in += len(strings.Fields(t))
	}
	type part struct {
		Text string `json:"text"`
	}
	type content struct {
		Role  string `json:"role"`
		Parts []part `json:"parts"`
	}
	type candidate struct {
		Content      content `json:"content"`
		FinishReason string  `json:"finishReason"`
		Index        int     `json:"index"`
	}
	type usage struct {
		PromptTokenCount     int `json:"promptTokenCount"`
		CandidatesTokenCount int `json:"candidatesTokenCount"`
		TotalTokenCount      int `json:"totalTokenCount"`
	}
	resp := struct {
		Candidates    []candidate `json:"candidates"`
		UsageMetadata usage       `json:"usageMetadata"`
		ModelVersion  string      `json:"modelVersion"`
	}{
		Candidates:    []candidate{{Content: content{Role: "model", Parts: []part{{Text: answer}}}, FinishReason: "STOP"}},
		UsageMetadata: usage{in, out, in + out},
		ModelVersion:  model,
	}
	b, err := json.Marshal(resp)
	if err != nil {
		panic(fmt.Sprintf("lro: marshal echo response: %v", err)) // only strings and ints: cannot fail
	}
	return b
}
