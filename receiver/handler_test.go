package receiver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/receiver"
)

type handlerBundle struct {
	clock *fakeclock.Clock
	srv   *httptest.Server
	mu    sync.Mutex
	got   []*receiver.Event
	fail  error
}

func setupHandler(t *testing.T, cfg receiver.HandlerConfig) *handlerBundle {
	t.Helper()
	b := &handlerBundle{clock: fakeclock.New(epoch)}
	v, err := receiver.NewVerifier(receiver.Config{
		Secrets:    []string{testSecret},
		Duplicates: receiver.NewMemoryFilter(0, b.clock.Now),
		Now:        b.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OnEvent == nil && cfg.Events == nil {
		cfg.OnEvent = func(_ context.Context, ev *receiver.Event) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.fail != nil {
				return b.fail
			}
			b.got = append(b.got, ev)
			return nil
		}
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	b.srv = httptest.NewServer(receiver.NewHandler(v, cfg))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *handlerBundle) post(t *testing.T, h http.Header, body []byte) (int, map[string]string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, b.srv.URL+"/hook", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var out map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func (b *handlerBundle) events() []*receiver.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*receiver.Event(nil), b.got...)
}

func TestHandlerSynchronous(t *testing.T) {
	t.Parallel()
	b := setupHandler(t, receiver.HandlerConfig{})
	body := []byte(testBody)
	h := signedHMAC(t, testSecret, "msg_1", epoch, body)

	if status, out := b.post(t, h, body); status != http.StatusOK || out["status"] != "received" {
		t.Fatalf("first delivery: %d %v", status, out)
	}
	if evs := b.events(); len(evs) != 1 || evs[0].ID != "msg_1" || evs[0].Type != "batch.succeeded" {
		t.Fatalf("handed on: %v", evs)
	}
	// A retry of the same message is acknowledged but not handed on again.
	b.clock.Advance(10 * time.Second)
	if status, out := b.post(t, signedHMAC(t, testSecret, "msg_1", b.clock.Now(), body), body); status != http.StatusOK || out["status"] != "duplicate" {
		t.Fatalf("retry: %d %v", status, out)
	}
	if n := len(b.events()); n != 1 {
		t.Fatalf("duplicate handed on: %d events", n)
	}
}

func TestHandlerFailureForgetsID(t *testing.T) {
	t.Parallel()
	b := setupHandler(t, receiver.HandlerConfig{})
	body := []byte(testBody)
	b.fail = errors.New("database down")
	if status, _ := b.post(t, signedHMAC(t, testSecret, "msg_1", epoch, body), body); status != http.StatusInternalServerError {
		t.Fatalf("failing handler: status %d, want 500", status)
	}
	// The sender retries; this time the handler succeeds, and the retry is
	// processed rather than dropped as a duplicate.
	b.mu.Lock()
	b.fail = nil
	b.mu.Unlock()
	if status, out := b.post(t, signedHMAC(t, testSecret, "msg_1", epoch, body), body); status != http.StatusOK || out["status"] != "received" {
		t.Fatalf("retry: %d %v", status, out)
	}
	if n := len(b.events()); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}
}

func TestHandlerQueue(t *testing.T) {
	t.Parallel()
	events := make(chan *receiver.Event, 1)
	b := setupHandler(t, receiver.HandlerConfig{Events: events})
	body := []byte(testBody)
	if status, _ := b.post(t, signedHMAC(t, testSecret, "msg_1", epoch, body), body); status != http.StatusAccepted {
		t.Fatalf("status %d, want 202", status)
	}
	// The queue is full: 503, so the sender retries later, and the id is
	// forgotten so that the retry is not taken for a duplicate.
	if status, _ := b.post(t, signedHMAC(t, testSecret, "msg_2", epoch, body), body); status != http.StatusServiceUnavailable {
		t.Fatalf("full queue: status %d, want 503", status)
	}
	if ev := <-events; ev.ID != "msg_1" {
		t.Fatalf("queued %q", ev.ID)
	}
	if status, _ := b.post(t, signedHMAC(t, testSecret, "msg_2", epoch, body), body); status != http.StatusAccepted {
		t.Fatalf("retry after the queue drained: status %d", status)
	}
	if ev := <-events; ev.ID != "msg_2" {
		t.Fatalf("queued %q", ev.ID)
	}
}

func TestHandlerRejects(t *testing.T) {
	t.Parallel()
	b := setupHandler(t, receiver.HandlerConfig{MaxBodyBytes: 1024})
	body := []byte(testBody)
	valid := func() http.Header { return signedHMAC(t, testSecret, "msg_r", epoch, body) }
	big := bytes.Repeat([]byte("x"), 2048)
	tests := []struct {
		name     string
		header   http.Header
		body     []byte
		status   int
		contains string
	}{
		{"bad signature", signedHMAC(t, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_r", epoch, body), body, http.StatusUnauthorized, "invalid webhook signature"},
		{"tampered body", valid(), bytes.Replace(body, []byte("b1"), []byte("b2"), 1), http.StatusUnauthorized, "invalid webhook signature"},
		{"missing header", http.Header{}, body, http.StatusBadRequest, "missing webhook header: webhook-id"},
		{"replay", signedHMAC(t, testSecret, "msg_r", epoch.Add(-time.Hour), body), body, http.StatusUnauthorized, "too old"},
		{"too large", signedHMAC(t, testSecret, "msg_r", epoch, big), big, http.StatusRequestEntityTooLarge, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, out := b.post(t, tt.header, tt.body)
			if status != tt.status || !strings.Contains(out["error"], tt.contains) {
				t.Fatalf("got %d %v, want %d containing %q", status, out, tt.status, tt.contains)
			}
		})
	}
	if n := len(b.events()); n != 0 {
		t.Fatalf("rejected requests handed on %d events", n)
	}

	resp, err := b.srv.Client().Get(b.srv.URL + "/hook")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET: %d Allow=%q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestStatusCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want int
	}{
		{nil, 200},
		{receiver.ErrDuplicate, 200},
		{receiver.ErrMissingHeader, 400},
		{receiver.ErrMalformedHeader, 400},
		{receiver.ErrBadPayload, 400},
		{receiver.ErrBadSignature, 401},
		{receiver.ErrTooOld, 401},
		{receiver.ErrTooNew, 401},
		{receiver.ErrUnknownKey, 401},
		{receiver.ErrWrongAudience, 401},
		{receiver.ErrWrongIssuer, 401},
		{receiver.ErrBodyMismatch, 401},
		{receiver.ErrIDMismatch, 401},
		{receiver.ErrJWKSUnavailable, 503},
		{errors.New("redis: connection refused"), 503},
	}
	for _, tt := range tests {
		if got := receiver.StatusCode(tt.err); got != tt.want {
			t.Errorf("StatusCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
