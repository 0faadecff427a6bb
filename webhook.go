package webhookd

import (
	"maps"
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
	// Headers are sent with every attempt, as the user wrote them (see
	// ValidateHeaders); nil or empty for none. They are not secrets.
	Headers map[string]string
	// Filter is a CEL expression over the event that a delivery must
	// satisfy (see FilterCompiler); "" delivers every subscribed event.
	Filter string
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
	if w.Headers == nil {
		w.Headers = map[string]string{}
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

// Limits on a webhook's custom headers.
const (
	MaxHeaders = 20
	// MaxHeaderBytes bounds the names and values of a webhook's headers
	// together, so that they never crowd out what a receiver's server
	// accepts of a request's header (8 KiB at most of them).
	MaxHeaderBytes = 4096
)

// ValidateHeaders checks a webhook's custom headers, reported under field
// ("headers"): names are HTTP tokens, given once whatever their case, and
// none is one the service sets or a proxy consumes (see ReservedHeader);
// values hold no control characters, so that a value cannot end its line
// and start another header.
func ValidateHeaders(field string, h map[string]string) error {
	if len(h) > MaxHeaders {
		return FieldErrorf(field, "%s must have at most %d entries, got %d.", field, MaxHeaders, len(h))
	}
	size := 0
	seen := make(map[string]string, len(h))
	for _, name := range slices.Sorted(maps.Keys(h)) {
		value := h[name]
		at := field + "." + name
		if !isToken(name) {
			return FieldErrorf(at, "%s: %q is not a valid HTTP header name (letters, digits and !#$%%&'*+-.^_`|~ only).", field, name)
		}
		lower := strings.ToLower(name)
		if first, ok := seen[lower]; ok {
			return FieldErrorf(at, "%s: %q and %q are the same header; give it once.", field, first, name)
		}
		seen[lower] = name
		if ReservedHeader(name) {
			return FieldErrorf(at, "%s: %q is set by the service or consumed by proxies and cannot be a custom header "+
				"(reserved: webhook-*, content-type, content-length, host, connection, keep-alive, proxy-*, te, trailer, transfer-encoding, upgrade).", field, name)
		}
		for _, r := range value {
			if (r < 0x20 && r != '\t') || r == 0x7f {
				return FieldErrorf(at, "%s: the value of %q must not contain control characters.", field, name)
			}
		}
		size += len(name) + len(value)
	}
	if size > MaxHeaderBytes {
		return FieldErrorf(field, "%s must total at most %d bytes of names and values, got %d.", field, MaxHeaderBytes, size)
	}
	return nil
}

// ReservedHeader reports whether a custom header may not be named name,
// whatever its case: the Standard Webhooks headers (webhook-*), those that
// describe the body the service sends (content-type, content-length), the
// host, and the hop-by-hop headers a proxy consumes (RFC 9110 section 7.6.1).
func ReservedHeader(name string) bool {
	n := strings.ToLower(name)
	if strings.HasPrefix(n, "webhook-") || strings.HasPrefix(n, "proxy-") {
		return true
	}
	switch n {
	case "content-type", "content-length", "host", "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade":
		return true
	}
	return false
}

// isToken reports whether s is an HTTP token (RFC 9110 section 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
