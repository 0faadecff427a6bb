package webhookd

import (
	"net/netip"
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

// SetDefaults fills what a new webhook leaves empty, as a store creates it
// at now: its ID, its times, State enabled, an empty subscription list, and
// its secrets' defaults (see SigningSecret.SetDefaults), created with it.
func (w *Webhook) SetDefaults(now time.Time) {
	if w.ID == "" {
		w.ID = NewID(PrefixWebhook)
	}
	if w.CreateTime.IsZero() {
		w.CreateTime = now
	}
	if w.UpdateTime.IsZero() {
		w.UpdateTime = w.CreateTime
	}
	if w.State == "" {
		w.State = WebhookEnabled
	}
	if w.SubscribedEvents == nil {
		w.SubscribedEvents = []string{}
	}
	for i := range w.Secrets {
		w.Secrets[i].SetDefaults(w.ID, w.CreateTime)
	}
}

// SetDefaults makes s a secret of webhookID and fills what it leaves
// empty: its ID, and created as its CreateTime.
func (s *SigningSecret) SetDefaults(webhookID string, created time.Time) {
	s.WebhookID = webhookID
	if s.ID == "" {
		s.ID = NewID(PrefixSecret)
	}
	if s.CreateTime.IsZero() {
		s.CreateTime = created
	}
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

// Subscribes reports whether w receives events of type typ: one of its
// subscriptions is typ or a prefix wildcard that covers it.
func (w *Webhook) Subscribes(typ string) bool {
	return slices.ContainsFunc(w.SubscribedEvents, func(sub string) bool { return SubscriptionMatches(sub, typ) })
}

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

// URIPolicy says which destination URIs are acceptable. It is the one check
// of a destination URI, for static webhooks and webhook_config alike. The
// dial-time guard (package netguard) is the real guard against internal
// addresses, because only at dial time is a host name's address known; this
// check refuses what is wrong on its face, including an IP literal that the
// guard would refuse at every attempt.
type URIPolicy struct {
	// AllowHTTP permits http:// URIs (development mode).
	AllowHTTP bool
	// CheckAddr is the dial guard's verdict on an address (wired to
	// netguard's Guard.Check): a URI whose host is an IP literal it refuses
	// is refused here, at once. Nil checks no address.
	CheckAddr func(netip.Addr) error
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
	return p.checkHost(field, u.Hostname())
}

// checkHost refuses an IP literal that CheckAddr refuses, and a host that
// some resolvers read as an IPv4 address in a non-standard notation
// (2130706433, 0x7f000001, 127.1), which the guard could then only refuse
// at dial time, attempt after attempt. The message says no more than that
// the destination is not allowed: why is the operator's business.
func (p URIPolicy) checkHost(field, host string) error {
	if addr, err := netip.ParseAddr(host); err == nil {
		if p.CheckAddr != nil && p.CheckAddr(addr) != nil {
			return FieldErrorf(field, "%s is not an allowed destination.", field)
		}
		return nil
	}
	if numericHost(host) {
		return FieldErrorf(field, "%s host %q is neither a host name nor an IP address in standard notation.", field, host)
	}
	return nil
}

// numericHost reports whether host's last label is a number (decimal, or hex
// with 0x), as in the inet_aton notations of an IPv4 address. No top-level
// domain is numeric, so such a host is an address or nothing.
func numericHost(host string) bool {
	host = strings.TrimSuffix(host, ".")
	last := host[strings.LastIndexByte(host, '.')+1:]
	if len(last) > 2 && (last[:2] == "0x" || last[:2] == "0X") {
		last = last[2:]
		return strings.Trim(last, "0123456789abcdefABCDEF") == ""
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
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
