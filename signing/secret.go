// Package signing produces the signatures of deliveries: Standard Webhooks
// HMAC for static webhooks (SignHMAC), RS256 JWTs for dynamic ones (the
// KeyRing, which also publishes the JWKS and rotates its keys), and the
// encryption that keeps signing secrets and private keys sealed at rest
// (Sealer). It is internal to the service; receivers verify with package
// receiver, and testdata/hmac_vectors.json pins the wire format for both.
package signing

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SecretPrefix starts every static signing secret, as Standard Webhooks does.
const SecretPrefix = "whsec_"

// secretBytes is the size of a signing key: 32 random bytes, the HMAC-SHA256
// block-size-independent recommendation of Standard Webhooks.
const secretBytes = 32

// GenerateSecret returns a new signing secret: "whsec_" followed by the
// standard base64 of 32 random bytes.
func GenerateSecret() string {
	var b [secretBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// ErrBadSecret is returned for a secret that is not "whsec_" + base64.
var ErrBadSecret = errors.New("signing secret must be whsec_ followed by base64")

// ParseSecret returns the HMAC key of a "whsec_…" secret. The prefix is
// optional, as in the official Standard Webhooks libraries.
func ParseSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSecret, err)
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: empty key", ErrBadSecret)
	}
	return key, nil
}

// TruncateSecret returns the form of a secret that listings show: the prefix
// and the first four characters of the key, so a user can tell which secret
// they hold without the listing revealing it.
func TruncateSecret(secret string) string {
	const keep = len(SecretPrefix) + 4
	if len(secret) <= keep {
		return secret
	}
	return secret[:keep] + "..."
}
