package receiver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxTokenLen bounds the JWT accepted in webhook-signature; a delivery
// token is well under 1 KiB.
const maxTokenLen = 8 << 10

// jwtLeeway absorbs clock skew between sender and receiver in the exp and
// iat checks: without it a sender whose clock runs a second ahead would
// have every token rejected as issued in the future.
const jwtLeeway = time.Minute

// deliveryClaims are the claims of a webhookd delivery token.
type deliveryClaims struct {
	jwt.RegisteredClaims
	WebhookID  string `json:"webhook_id"`
	EventType  string `json:"event_type"`
	BodySHA256 string `json:"body_sha256"`
}

// verifyJWT checks an RS256 delivery token: signature with the JWKS key
// named by kid, aud, iss (if configured), exp and iat, then that it is bound
// to this message: webhook_id equals the webhook-id header and body_sha256
// is the hash of body.
func (v *Verifier) verifyJWT(ctx context.Context, token, id string, body []byte) (*deliveryClaims, string, error) {
	if v.jwks == nil {
		return nil, "", fmt.Errorf("%w: JWT received but no JWKS URL is configured", ErrBadSignature)
	}
	if len(token) > maxTokenLen {
		return nil, "", fmt.Errorf("%w: token longer than %d bytes", ErrMalformedHeader, maxTokenLen)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithAudience(v.cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(jwtLeeway),
		jwt.WithTimeFunc(v.cfg.Now),
		// Strict base64: one token, one spelling.
		jwt.WithStrictDecoding(),
	}
	if v.cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.cfg.Issuer))
	}
	var claims deliveryClaims
	var kid string
	_, err := jwt.NewParser(opts...).ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		kid, _ = t.Header["kid"].(string)
		if kid == "" {
			return nil, fmt.Errorf("%w: token has no kid", ErrUnknownKey)
		}
		return v.jwks.key(ctx, kid)
	})
	if err != nil {
		return nil, kid, mapJWTError(err)
	}
	if claims.WebhookID != id {
		return nil, kid, fmt.Errorf("%w: header %q, token %q", ErrIDMismatch, id, claims.WebhookID)
	}
	sum := sha256.Sum256(body)
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(claims.BodySHA256), []byte(want)) != 1 {
		return nil, kid, fmt.Errorf("%w: body_sha256 differs from the body's hash", ErrBodyMismatch)
	}
	return &claims, kid, nil
}

// mapJWTError turns the JWT library's errors into the package's sentinels,
// keeping the library's message as detail.
func mapJWTError(err error) error {
	for _, ours := range []error{ErrUnknownKey, ErrJWKSUnavailable} {
		if errors.Is(err, ours) {
			return err
		}
	}
	var sentinel error
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		sentinel = ErrMalformedHeader
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		sentinel = ErrBadSignature
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		sentinel = ErrWrongAudience
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		sentinel = ErrWrongIssuer
	case errors.Is(err, jwt.ErrTokenExpired):
		sentinel = ErrTooOld
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued), errors.Is(err, jwt.ErrTokenNotValidYet):
		sentinel = ErrTooNew
	default: // a required claim missing, a claim of the wrong type
		sentinel = ErrMalformedHeader
	}
	return fmt.Errorf("%w: %w", sentinel, err)
}
