package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
)

// DefaultMaxBodyBytes bounds the body the handler reads.
const DefaultMaxBodyBytes = 1 << 20

// HandlerConfig configures NewHandler. Set OnEvent or Events (Events wins
// when both are set); with neither, the handler only verifies and answers.
type HandlerConfig struct {
	// OnEvent, if set, is called with each verified, new event before the
	// handler answers. Keep it short (enqueue, store), since the sender
	// waits: answering late makes it retry. A nil error answers 200; an
	// error answers 500 and forgets the id, so the sender's retry is
	// processed.
	OnEvent func(ctx context.Context, ev *Event) error
	// Events, if set, receives each verified, new event without waiting:
	// the handler answers 202 at once and the caller works through the
	// channel. A full channel answers 503, and the sender retries later.
	// The sender considers an event delivered once it is in the channel, so
	// a crash before it is processed loses it; for at-least-once processing
	// use OnEvent with a durable enqueue instead.
	Events chan<- *Event
	// MaxBodyBytes bounds the body; larger bodies answer 413. Default
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger records rejected requests at Info level (default
	// slog.Default()).
	Logger *slog.Logger
}

// NewHandler returns an http.Handler that verifies each POST with v, drops
// duplicates (answering 200, so the sender stops retrying), hands new events
// on, and answers 400 (malformed), 401 (not verified), 413 (too large) or 503
// (JWKS or queue unavailable: the sender retries) with a short JSON reason.
func NewHandler(v *Verifier, cfg HandlerConfig) http.Handler {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &handler{v: v, cfg: cfg}
}

type handler struct {
	v   *Verifier
	cfg HandlerConfig
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, "error", "method not allowed")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			reply(w, http.StatusRequestEntityTooLarge, "error", "body too large")
			return
		}
		reply(w, http.StatusBadRequest, "error", "cannot read body")
		return
	}
	ctx := r.Context()
	ev, err := h.v.Verify(ctx, r.Header, body)
	switch {
	case errors.Is(err, ErrDuplicate):
		reply(w, http.StatusOK, "status", "duplicate")
		return
	case err != nil:
		status := StatusCode(err)
		h.cfg.Logger.InfoContext(ctx, "webhook rejected", "status", status, "webhook_id", r.Header.Get(HeaderID), "err", err)
		reply(w, status, "error", err.Error())
		return
	}

	if h.cfg.Events != nil {
		select {
		case h.cfg.Events <- ev:
			reply(w, http.StatusAccepted, "status", "received")
		default:
			h.forget(ctx, ev.ID)
			w.Header().Set("Retry-After", "5")
			reply(w, http.StatusServiceUnavailable, "error", "event queue full")
		}
		return
	}
	if h.cfg.OnEvent != nil {
		if err := h.cfg.OnEvent(ctx, ev); err != nil {
			h.forget(ctx, ev.ID)
			h.cfg.Logger.ErrorContext(ctx, "webhook handler failed", "webhook_id", ev.ID, "type", ev.Type, "err", err)
			reply(w, http.StatusInternalServerError, "error", "handler failed")
			return
		}
	}
	reply(w, http.StatusOK, "status", "received")
}

func (h *handler) forget(ctx context.Context, id string) {
	if err := h.v.Forget(ctx, id); err != nil {
		h.cfg.Logger.ErrorContext(ctx, "duplicate filter: forget failed", "webhook_id", id, "err", err)
	}
}

// StatusCode is the HTTP status a receiver should answer for an error of
// Verify: 200 for a duplicate (acknowledge, do not process), 400 for a
// malformed request, 401 for one that is not proof of a message from the
// sender, 503 when verification could not run (the sender retries).
func StatusCode(err error) int {
	switch {
	case err == nil, errors.Is(err, ErrDuplicate):
		return http.StatusOK
	case errors.Is(err, ErrMissingHeader), errors.Is(err, ErrMalformedHeader), errors.Is(err, ErrBadPayload):
		return http.StatusBadRequest
	case errors.Is(err, ErrJWKSUnavailable):
		return http.StatusServiceUnavailable
	}
	for _, e := range errUnverified {
		if errors.Is(err, e) {
			return http.StatusUnauthorized
		}
	}
	return http.StatusServiceUnavailable // the duplicate filter's store failed
}

func reply(w http.ResponseWriter, status int, key, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{key: msg})
}
