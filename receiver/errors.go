package receiver

import "errors"

// Sentinel errors returned (wrapped, with detail) by Verify. Tell them apart
// with errors.Is; the wrapped message says what exactly was wrong and never
// contains a secret.
var (
	// ErrMissingHeader: webhook-id, webhook-timestamp or webhook-signature
	// is absent or empty.
	ErrMissingHeader = errors.New("missing webhook header")
	// ErrMalformedHeader: a header is present but cannot be parsed (a
	// timestamp that is not Unix seconds, a signature that is neither a
	// Standard Webhooks list nor a JWT, a JWT without required claims).
	ErrMalformedHeader = errors.New("malformed webhook header")
	// ErrBadSignature: no signature matches any configured secret or key,
	// or the kind of signature received is not configured.
	ErrBadSignature = errors.New("invalid webhook signature")
	// ErrTooOld: webhook-timestamp is older than the tolerance, or the JWT
	// has expired: a replay, or a message held up too long.
	ErrTooOld = errors.New("webhook message too old")
	// ErrTooNew: webhook-timestamp (or the JWT's iat) is further in the
	// future than the tolerance allows.
	ErrTooNew = errors.New("webhook message timestamp too new")
	// ErrUnknownKey: the JWT's kid is not in the JWKS, even after a refetch.
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrWrongAudience: the JWT's aud is not the configured audience.
	ErrWrongAudience = errors.New("token audience mismatch")
	// ErrWrongIssuer: the JWT's iss is not the configured issuer.
	ErrWrongIssuer = errors.New("token issuer mismatch")
	// ErrBodyMismatch: the JWT's body_sha256 is not the hash of the body
	// received.
	ErrBodyMismatch = errors.New("body does not match the signed hash")
	// ErrIDMismatch: the JWT's webhook_id is not the webhook-id header.
	ErrIDMismatch = errors.New("webhook-id does not match the signed id")
	// ErrBadPayload: the signature is valid but the body is not a webhook
	// envelope: not a single JSON object, a timestamp that is not RFC 3339,
	// or a type other than the JWT's event_type.
	ErrBadPayload = errors.New("invalid webhook payload")
	// ErrJWKSUnavailable: the JWKS could not be fetched and no cached key
	// applies. The sender should retry later; the handler answers 503.
	ErrJWKSUnavailable = errors.New("JWKS unavailable")
	// ErrDuplicate: the message verified, but its webhook-id was seen
	// before. Verify returns the event along with this error; a receiver
	// should acknowledge it (2xx) and not process it again.
	ErrDuplicate = errors.New("duplicate webhook-id")
)

// errUnverified groups the errors that mean "this request is not proof of
// a message from the sender"; the handler answers them with 401.
var errUnverified = []error{
	ErrBadSignature, ErrTooOld, ErrTooNew, ErrUnknownKey, ErrWrongAudience,
	ErrWrongIssuer, ErrBodyMismatch, ErrIDMismatch,
}
