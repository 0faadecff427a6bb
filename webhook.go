package webhookd

import (
	"net/url"
	"slices"
	"strings"
	"time"
)

// WebhookState is the delivery state of a static webhook.
type WebhookState string

// Webhook states as the SDK spells them.
const (
	WebhookEnabled                       WebhookState = "enabled"
	WebhookDisabled                      WebhookState = "disabled"
	WebhookDisabledDueToFailedDeliveries WebhookState = "disabled_due_to_failed_deliveries"
)

// ParseWebhookState accepts the lower-case SDK spelling and the upper-case
// proto enum spelling (ENABLED, STATE_ENABLED are not used by any client we
// know, so only case is folded).
func ParseWebhookState(s string) (WebhookState, bool) {
	switch st := WebhookState(trimLower(s)); st {
	case WebhookEnabled, WebhookDisabled, WebhookDisabledDueToFailedDeliveries:
		return st, true
	}
	return "", false
}

// Webhook is a static, project-level destination subscribed to event types.
type Webhook struct {
	ID               string
	ProjectID        string
	Name             string
	URI              string
	SubscribedEvents []string
	State            WebhookState
	// Secrets are the live signing secrets, newest first. During a rotation
	// grace more than one is live and every one of them signs.
	Secrets    []SigningSecret
	CreateTime time.Time
	UpdateTime time.Time
	// FailingSince is the time of the first failed attempt of an unbroken run
	// of failures; nil after any success. It drives auto-disable.
	FailingSince *time.Time
}

// LiveSecrets returns the secrets that have not expired at now.
func (w *Webhook) LiveSecrets(now time.Time) []SigningSecret {
	out := make([]SigningSecret, 0, len(w.Secrets))
	for _, s := range w.Secrets {
		if s.ExpireTime == nil || s.ExpireTime.After(now) {
			out = append(out, s)
		}
	}
	return out
}

// Subscribes reports whether w receives events of type typ.
func (w *Webhook) Subscribes(typ string) bool { return slices.Contains(w.SubscribedEvents, typ) }

// SigningSecret is one HMAC secret of a webhook. The secret itself is stored
// sealed (AES-256-GCM under the master key); Sealed is opaque to stores.
type SigningSecret struct {
	ID        string
	WebhookID string
	Sealed    []byte
	// Truncated is what listings show, e.g. "whsec_AbC1...".
	Truncated  string
	CreateTime time.Time
	// ExpireTime is nil for the current secret, and set when a rotation
	// scheduled (or performed) its revocation.
	ExpireTime *time.Time
}

// RevocationBehavior says what a rotation does with the previous secrets.
type RevocationBehavior string

// Revocation behaviours as the SDK spells them. The source document spells
// them in upper case; ParseRevocationBehavior accepts both.
const (
	RevokeAfterH24    RevocationBehavior = "revoke_previous_secrets_after_h24"
	RevokeImmediately RevocationBehavior = "revoke_previous_secrets_immediately"
)

// RotationGrace is how long previous secrets keep signing after a rotation
// with RevokeAfterH24.
const RotationGrace = 24 * time.Hour

// ParseRevocationBehavior maps any spelling to a behaviour; "" means the
// default, RevokeAfterH24.
func ParseRevocationBehavior(s string) (RevocationBehavior, bool) {
	switch b := RevocationBehavior(trimLower(s)); b {
	case "", "revocation_behavior_unspecified":
		return RevokeAfterH24, true
	case RevokeAfterH24, RevokeImmediately:
		return b, true
	}
	return "", false
}

// Limits on webhook fields.
const (
	MaxURILength        = 2048
	MaxNameLength       = 256
	MaxSubscribedEvents = 64
)

// URIPolicy says which destination URIs are acceptable. The dial-time check in
// package netguard is the real guard against internal addresses; this one
// rejects what is wrong on its face.
type URIPolicy struct {
	// AllowHTTP permits http:// URIs (development mode).
	AllowHTTP bool
}

// ValidateURI checks a destination URI and returns an EINVALID error naming
// field when it is not acceptable.
func (p URIPolicy) ValidateURI(field, raw string) error {
	if raw == "" {
		return FieldErrorf(field, "%s is required.", field)
	}
	if len(raw) > MaxURILength {
		return FieldErrorf(field, "%s must be at most %d characters.", field, MaxURILength)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return FieldErrorf(field, "%s must be an absolute URL, got %q.", field, raw)
	}
	switch {
	case u.Scheme == "https", u.Scheme == "http" && p.AllowHTTP:
	case p.AllowHTTP:
		return FieldErrorf(field, "%s must use http or https, got scheme %q.", field, u.Scheme)
	case u.Scheme == "http":
		return FieldErrorf(field, "%s must use https.", field)
	default:
		return FieldErrorf(field, "%s must use https, got scheme %q.", field, u.Scheme)
	}
	if u.User != nil {
		return FieldErrorf(field, "%s must not contain user information.", field)
	}
	if u.Fragment != "" {
		return FieldErrorf(field, "%s must not contain a fragment.", field)
	}
	if strings.ContainsAny(raw, " \t\r\n") {
		return FieldErrorf(field, "%s must not contain white space.", field)
	}
	return nil
}

// ValidateName checks a webhook's user-given name.
func ValidateName(field, name string) error {
	if len(name) > MaxNameLength {
		return FieldErrorf(field, "%s must be at most %d characters.", field, MaxNameLength)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return FieldErrorf(field, "%s must not contain control characters.", field)
		}
	}
	return nil
}
