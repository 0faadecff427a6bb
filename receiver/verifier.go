// Package receiver verifies webhooks sent by webhookd (and by any sender of
// Standard Webhooks), for services that receive them.
//
// One call, [Verifier.Verify], takes the request headers and the raw body and
// handles both kinds of delivery:
//
//   - static webhooks, signed with HMAC-SHA256 under a "whsec_…" secret in the
//     Standard Webhooks format (webhook-signature: "v1,<base64> …");
//   - dynamic webhooks (a job's webhook_config), whose webhook-signature is an
//     RS256 JWT checked against the sender's JWKS, its audience, issuer,
//     expiry, body hash and message id.
//
// It rejects messages whose webhook-timestamp is outside a tolerance (5
// minutes by default), optionally drops duplicates by webhook-id, and
// returns the parsed envelope. [NewHandler] wraps it in an http.Handler that
// answers at once and hands verified events on.
//
// The package depends on the standard library and github.com/golang-jwt/jwt/v5
// only, so that receivers can import it without pulling in the service.
package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far webhook-timestamp may be from now, either way:
// the replay window that Standard Webhooks and the Gemini documentation
// recommend.
const DefaultTolerance = 5 * time.Minute

// Kind tells how a message was signed.
type Kind string

// Kinds.
const (
	// KindHMAC is a static webhook: Standard Webhooks v1 HMAC-SHA256.
	KindHMAC Kind = "hmac"
	// KindJWT is a dynamic webhook: an RS256 JWT verified with a JWKS.
	KindJWT Kind = "jwt"
)

// Config configures a Verifier. Give Secrets, JWKSURL (with Audience), or
// both.
type Config struct {
	// Secrets are the "whsec_…" signing secrets accepted for HMAC messages.
	// During a rotation give both the new and the old secret.
	Secrets []string

	// JWKSURL is where the sender publishes its public keys, e.g.
	// https://webhookd.example/.well-known/jwks.json.
	JWKSURL string
	// Audience is the expected aud claim: the URL this receiver is reached
	// at, or the audience configured on the sender. Required with JWKSURL.
	Audience string
	// Issuer, if set, is the expected iss claim.
	Issuer string
	// HTTPClient fetches the JWKS. The default has a 10 s timeout.
	HTTPClient *http.Client
	// JWKSMinRefresh is the least time between two fetches of the JWKS
	// caused by unknown kids, so that forged tokens cannot make the receiver
	// hammer the sender. Default 30 s.
	JWKSMinRefresh time.Duration

	// Tolerance bounds |now - webhook-timestamp|. Default DefaultTolerance.
	Tolerance time.Duration
	// Duplicates, if set, makes Verify report a webhook-id it has seen
	// before with ErrDuplicate. See NewMemoryFilter.
	Duplicates DuplicateFilter
	// Now is the clock; default time.Now. Tests set it.
	Now func() time.Time
}

// Verifier checks webhook messages. It is safe for concurrent use.
type Verifier struct {
	cfg  Config
	keys [][]byte
	jwks *jwksCache
}

// NewVerifier checks cfg and returns a Verifier.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.Secrets) == 0 && cfg.JWKSURL == "" {
		return nil, errors.New("receiver: configure at least one secret or a JWKS URL")
	}
	v := &Verifier{cfg: cfg}
	for i, s := range cfg.Secrets {
		key, err := parseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("receiver: secret %d: %w", i+1, err)
		}
		v.keys = append(v.keys, key)
	}
	if cfg.JWKSURL != "" {
		if cfg.Audience == "" {
			return nil, errors.New("receiver: Audience is required with JWKSURL")
		}
		if !strings.HasPrefix(cfg.JWKSURL, "https://") && !strings.HasPrefix(cfg.JWKSURL, "http://") {
			return nil, fmt.Errorf("receiver: JWKSURL %q is not an http(s) URL", cfg.JWKSURL)
		}
		v.jwks = newJWKSCache(cfg.JWKSURL, cfg.HTTPClient, cfg.JWKSMinRefresh, cfg.Now)
	}
	return v, nil
}

// Event is a verified webhook message.
type Event struct {
	// ID is the webhook-id header: the same on every retry of a message,
	// hence the key to deduplicate on.
	ID   string
	Kind Kind
	// SentAt is the webhook-timestamp header: when this attempt was sent.
	SentAt time.Time
	// KeyID is the JWT's kid (KindJWT only).
	KeyID string

	// The envelope: {"type","version","timestamp","data"}.
	Type      string
	Version   string
	Timestamp time.Time
	Data      json.RawMessage
	// UserMetadata is data.user_metadata, which the sender echoes from the
	// job's webhook_config; nil when absent.
	UserMetadata json.RawMessage

	// Body is the exact body that was verified.
	Body []byte
}

// Verify checks one message: header holds its webhook-id, webhook-timestamp
// and webhook-signature headers, body its exact raw bytes (read it before
// any JSON decoding: re-encoding changes the bytes and breaks the
// signature). The kind of signature is detected from the header.
//
// On success it returns the event. A message whose webhook-id the duplicate
// filter has seen before returns the event and an error wrapping
// ErrDuplicate. Every other failure returns nil and an error wrapping one of
// the package's sentinel errors.
func (v *Verifier) Verify(ctx context.Context, header http.Header, body []byte) (*Event, error) {
	id := headerValue(header, HeaderID)
	ts := headerValue(header, HeaderTimestamp)
	sig := headerValue(header, HeaderSignature)
	switch {
	case id == "":
		return nil, fmt.Errorf("%w: %s", ErrMissingHeader, HeaderID)
	case ts == "":
		return nil, fmt.Errorf("%w: %s", ErrMissingHeader, HeaderTimestamp)
	case sig == "":
		return nil, fmt.Errorf("%w: %s", ErrMissingHeader, HeaderSignature)
	}
	sentAt, err := parseTimestamp(ts)
	if err != nil {
		return nil, err
	}

	ev := &Event{ID: id, SentAt: sentAt, Body: body}
	var claimedType string
	if looksLikeJWT(sig) {
		ev.Kind = KindJWT
		claims, kid, err := v.verifyJWT(ctx, sig, id, body)
		if err != nil {
			return nil, err
		}
		ev.KeyID, claimedType = kid, claims.EventType
	} else {
		ev.Kind = KindHMAC
		if err := v.verifyHMAC(sig, id, ts, body); err != nil {
			return nil, err
		}
	}

	// The timestamp is checked after the signature, so that a forged
	// message is reported as forged, and a genuine but late one as a replay.
	now := v.cfg.Now()
	if d := now.Sub(sentAt); d > v.cfg.Tolerance {
		return nil, fmt.Errorf("%w: sent %s ago, tolerance %s", ErrTooOld, d.Truncate(time.Second), v.cfg.Tolerance)
	}
	if d := sentAt.Sub(now); d > v.cfg.Tolerance {
		return nil, fmt.Errorf("%w: sent %s in the future, tolerance %s", ErrTooNew, d.Truncate(time.Second), v.cfg.Tolerance)
	}

	if err := parseEnvelope(ev, body); err != nil {
		return nil, err
	}
	if claimedType != "" && claimedType != ev.Type {
		return nil, fmt.Errorf("%w: body type %q, token event_type %q", ErrBadPayload, ev.Type, claimedType)
	}

	if v.cfg.Duplicates != nil {
		seen, err := v.cfg.Duplicates.Seen(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("duplicate filter: %w", err)
		}
		if seen {
			return ev, fmt.Errorf("%w: %s", ErrDuplicate, id)
		}
	}
	return ev, nil
}

// Forget removes id from the duplicate filter, so that the sender's retry
// of a message the caller accepted but failed to process is processed.
func (v *Verifier) Forget(ctx context.Context, id string) error {
	if v.cfg.Duplicates == nil {
		return nil
	}
	return v.cfg.Duplicates.Forget(ctx, id)
}

// headerValue reads a header by canonical name and, for maps built by hand
// with lower-case keys (as other frameworks spell them), case-insensitively.
func headerValue(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, vs := range h {
		if len(vs) > 0 && strings.EqualFold(k, name) {
			return vs[0]
		}
	}
	return ""
}

// parseTimestamp parses webhook-timestamp: Unix seconds, digits only.
func parseTimestamp(s string) (time.Time, error) {
	if s == "" || len(s) > 19 || strings.TrimLeft(s, "0123456789") != "" {
		return time.Time{}, fmt.Errorf("%w: %s is not Unix seconds", ErrMalformedHeader, HeaderTimestamp)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s: %w", ErrMalformedHeader, HeaderTimestamp, err)
	}
	return time.Unix(n, 0), nil
}

// envelope is the thin payload every delivery carries. Other Standard
// Webhooks senders may omit fields, so only "a JSON object" is required.
type envelope struct {
	Type      string          `json:"type"`
	Version   string          `json:"version"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

func parseEnvelope(ev *Event, body []byte) error {
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		return fmt.Errorf("%w: body is not a JSON object: %w", ErrBadPayload, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: data after the JSON object", ErrBadPayload)
	}
	ev.Type, ev.Version, ev.Data = env.Type, env.Version, env.Data
	if env.Timestamp != "" {
		t, err := time.Parse(time.RFC3339, env.Timestamp)
		if err != nil {
			return fmt.Errorf("%w: timestamp %q is not RFC 3339", ErrBadPayload, env.Timestamp)
		}
		ev.Timestamp = t
	}
	if len(env.Data) > 0 && env.Data[0] == '{' {
		var data struct {
			UserMetadata json.RawMessage `json:"user_metadata"`
		}
		if err := json.Unmarshal(env.Data, &data); err == nil && len(data.UserMetadata) > 0 && string(data.UserMetadata) != "null" {
			ev.UserMetadata = data.UserMetadata
		}
	}
	return nil
}
