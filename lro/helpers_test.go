package lro_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
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

// jsonEqual compares two JSON documents by value, so that key order and
// spacing do not matter.
func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON mismatch\n got: %s\nwant: %s", got, want)
	}
}

// wantField checks that err is an EINVALID domain error naming field.
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var e *webhookd.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v; want a *webhookd.Error naming %q", err, field)
	}
	if e.Code != webhookd.EINVALID || e.Field != field {
		t.Fatalf("err = {code %q field %q message %q}; want code invalid, field %q", e.Code, e.Field, e.Message, field)
	}
}

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
