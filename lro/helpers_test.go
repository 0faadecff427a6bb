package lro_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/jsontest"
	"github.com/webhookd/webhookd/lro"
)

// t0 is the creation time of every operation in these tests.
var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

const baseURL = "https://hooks.example.test/gemini"

func newMachine(t *testing.T, cfg lro.Config) *lro.Machine {
	t.Helper()
	if cfg.PublicBaseURL == "" {
		cfg.PublicBaseURL = baseURL
	}
	m, err := lro.New(cfg)
	if err != nil {
		t.Fatalf("lro.New: %v", err)
	}
	return m
}

// jsonEqual compares two JSON documents by value.
var jsonEqual = jsontest.Equal

// oneEvent returns the only event of c, failing otherwise.
func oneEvent(t *testing.T, c webhookd.OperationChange) webhookd.NewEvent {
	t.Helper()
	if len(c.Events) != 1 {
		t.Fatalf("change has %d events, want 1: %+v", len(c.Events), c.Events)
	}
	return c.Events[0]
}

// updated returns the only updated operation of c, checking the version and
// time bookkeeping every transition must do.
func updated(t *testing.T, c webhookd.OperationChange, from *webhookd.Operation, now time.Time) *webhookd.Operation {
	t.Helper()
	if len(c.Update) != 1 || len(c.Create) != 0 {
		t.Fatalf("change has %d updates and %d creates, want 1 update", len(c.Update), len(c.Create))
	}
	n := c.Update[0]
	if n.Version != from.Version+1 {
		t.Errorf("Version = %d, want %d", n.Version, from.Version+1)
	}
	if !n.UpdateTime.Equal(now) {
		t.Errorf("UpdateTime = %s, want %s", n.UpdateTime, now)
	}
	if n.State.Terminal() && (n.EndTime == nil || !n.EndTime.Equal(now) || n.NextStepTime != nil) {
		t.Errorf("terminal %s: EndTime = %v, NextStepTime = %v; want %s and nil", n.State, n.EndTime, n.NextStepTime, now)
	}
	return n
}

// sayHi is an interaction request answered by the echo model.
func sayHi(background bool) *lro.InteractionRequest {
	return &lro.InteractionRequest{Model: "gemini-2.5-flash", Input: json.RawMessage(`"Say hi"`), InputTexts: []string{"Say hi"}, Background: background, Store: true}
}

// aCat is a video request.
var aCat = &lro.VideoRequest{Model: "veo-3.0-generate-001", Prompt: "a cat", Instances: json.RawMessage(`[{"prompt":"a cat"}]`)}
