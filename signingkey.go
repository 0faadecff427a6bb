package webhookd

import (
	"context"
	"time"
)

// SigningKey is one RSA key of the service-wide key ring that signs dynamic
// deliveries (RS256 JWTs). The private key is stored sealed under the master
// key; its public half is served at /.well-known/jwks.json until ExpireTime.
type SigningKey struct {
	// ID is the JWT "kid".
	ID        string
	Algorithm string // "RS256"
	// SealedPrivateKey is the PKCS#8 DER private key, sealed (opaque to stores).
	SealedPrivateKey []byte
	CreateTime       time.Time
	// RetireTime, when set, is when the key stopped (or stops) signing.
	RetireTime *time.Time
	// ExpireTime, when set, is when the public key leaves the JWKS: after
	// every token it signed has expired and every JWKS cache has refreshed.
	ExpireTime *time.Time
}

// KeyStore persists the key ring. Both store adapters implement it.
type KeyStore interface {
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// ListSigningKeys returns every stored key, newest first.
	ListSigningKeys(ctx context.Context) ([]*SigningKey, error)
	// UpdateSigningKey writes RetireTime and ExpireTime.
	UpdateSigningKey(ctx context.Context, k *SigningKey) error
	DeleteSigningKey(ctx context.Context, id string) error
}
