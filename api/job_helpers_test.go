package api

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/jsontest"
	"github.com/webhookd/webhookd/lro"
)

// The helpers of the tests of the job routes' decoding and rendering
// (batch_test.go, interaction_test.go, video_test.go, file_test.go).

// t0 is the creation time of every operation in these tests.
var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

const (
	baseURL     = "https://hooks.example.test/gemini"
	jobDuration = 5 * time.Second
)

// jobServer returns a Server that decodes and renders jobs (no store: the
// tests call the parsers and renderers, and drive lro's machine by hand).
func jobServer(t testing.TB) (*Server, *lro.Machine) {
	t.Helper()
	m, err := lro.New(lro.Config{PublicBaseURL: baseURL, SimJobDuration: jobDuration})
	if err != nil {
		t.Fatal(err)
	}
	return &Server{cfg: Config{Operations: lro.NewService(m, nil, nil, nil)}.withDefaults()}, m
}

// parseOrErr decodes in with sch and runs parse on it: the error is the
// decoder's or the parser's.
func parseOrErr[T any](in string, sch schema, parse func(*object) (T, error)) (T, error) {
	o, err := decodeObject("", []byte(in), sch)
	if err != nil {
		var zero T
		return zero, err
	}
	return parse(o)
}

// jsonEqual compares two JSON documents by value.
var jsonEqual = jsontest.Equal

// rendered returns the function that writes what a renderer returned as
// the API does: rendered(t)(renderBatch(op)).
func rendered(t testing.TB) func(v any, err error) []byte {
	return func(v any, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// checkRejection fails unless err is a domain error meant for the caller
// that names a field.
func checkRejection(t *testing.T, err error) {
	t.Helper()
	var e *webhookd.Error
	if !errors.As(err, &e) || (e.Code != webhookd.EINVALID && e.Code != webhookd.ENOTIMPLEMENTED && e.Code != webhookd.ETOOLARGE) ||
		e.Message == "" || e.Field == "" {
		t.Fatalf("rejection %#v is not a caller's error naming a field", err)
	}
}
