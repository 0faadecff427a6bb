package signing

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/webhookd/webhookd"
)

// Key ring defaults and fixed parameters.
const (
	// DefaultRotateEvery is how long one RSA key signs before the ring
	// replaces it.
	DefaultRotateEvery = 30 * 24 * time.Hour
	// DefaultJWKSMaxAge is the Cache-Control max-age of the JWKS response.
	// Receivers refetch on an unknown kid anyway; the max-age only bounds
	// how long a cache may hold a key set, and so how long a retired key
	// must stay published.
	DefaultJWKSMaxAge = 15 * time.Minute
	// RetireMargin is added to a retired key's publication on top of the
	// token lifetime and the JWKS max-age, to cover clock skew between
	// nodes and a node that has not yet reloaded the ring.
	RetireMargin = time.Hour

	// JWKSPath is where the service publishes the key set.
	JWKSPath = "/.well-known/jwks.json"

	algRS256   = "RS256"
	rsaKeyBits = 2048
	kidBytes   = 16
)

// ErrNoSigningKey is returned by SignDelivery when the ring holds no key that
// may sign (it was never loaded, or every key is retired).
var ErrNoSigningKey = errors.New("key ring has no active signing key")

// KeyRingConfig configures NewKeyRing. Store and Sealer are required.
type KeyRingConfig struct {
	// Store persists the keys, their private halves sealed by Sealer.
	Store  webhookd.KeyStore
	Sealer *Sealer
	// Clock defaults to webhookd.SystemClock.
	Clock webhookd.Clock
	// RotateEvery defaults to DefaultRotateEvery.
	RotateEvery time.Duration
	// JWKSMaxAge defaults to DefaultJWKSMaxAge.
	JWKSMaxAge time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (c KeyRingConfig) withDefaults() KeyRingConfig {
	if c.Clock == nil {
		c.Clock = webhookd.SystemClock{}
	}
	if c.RotateEvery <= 0 {
		c.RotateEvery = DefaultRotateEvery
	}
	if c.JWKSMaxAge <= 0 {
		c.JWKSMaxAge = DefaultJWKSMaxAge
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c KeyRingConfig) validate() error {
	switch {
	case c.Store == nil:
		return errors.New("key ring: Store is required")
	case c.Sealer == nil:
		return errors.New("key ring: Sealer is required")
	}
	return nil
}

// KeyRing holds the RSA keys that sign dynamic deliveries and publishes their
// public halves as a JWKS. Signing reads an immutable snapshot through an
// atomic pointer, so SignDelivery never waits for Rotate, Maintain or Reload
// and never touches the store: the parsed private keys are cached.
//
// Every process of a deployment loads the same ring from the shared store.
// One process (under the singleton lock) runs Maintain; the others call
// Reload periodically, well within RetireMargin, so that they stop signing
// with a key another process retired while it is still published.
type KeyRing struct {
	cfg   KeyRingConfig
	mu    sync.Mutex // serialises Reload, Rotate and Maintain
	state atomic.Pointer[ringState]
}

// ringState is an immutable snapshot of the ring.
type ringState struct {
	keys   []*ringKey // newest first
	signer *ringKey   // nil when no key may sign
}

type ringKey struct {
	meta webhookd.SigningKey
	priv *rsa.PrivateKey
	jwk  jwk
}

// jwk is the public half of a key as RFC 7517 spells it.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// NewKeyRing loads the ring from the store and, when no stored key may sign
// (first start), generates one. It fails when a stored key cannot be opened,
// which is what a wrong master key looks like.
func NewKeyRing(ctx context.Context, cfg KeyRingConfig) (*KeyRing, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &KeyRing{cfg: cfg}
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	if st.signer == nil {
		if _, err := r.rotateLocked(ctx, st); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// retention is how long a retired key stays published: every token it
// signed expires within TokenLifetime, every cache of the key set within
// JWKSMaxAge, and RetireMargin covers skew and slow reloads.
func (r *KeyRing) retention() time.Duration {
	return TokenLifetime + r.cfg.JWKSMaxAge + RetireMargin
}

// load reads every key from the store and installs the snapshot. Keys the
// previous snapshot holds keep their parsed private key; only new ones are
// decrypted and parsed. It is called with mu held.
func (r *KeyRing) load(ctx context.Context) (*ringState, error) {
	stored, err := r.cfg.Store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	parsed := map[string]*ringKey{}
	if prev := r.state.Load(); prev != nil {
		for _, k := range prev.keys {
			parsed[k.meta.ID] = k
		}
	}
	now := r.cfg.Clock.Now()
	st := &ringState{}
	for _, k := range stored {
		if old, ok := parsed[k.ID]; ok && bytes.Equal(old.meta.SealedPrivateKey, k.SealedPrivateKey) {
			st.keys = append(st.keys, &ringKey{meta: *k, priv: old.priv, jwk: old.jwk})
			continue
		}
		rk, err := r.open(k)
		if err != nil {
			return nil, err
		}
		st.keys = append(st.keys, rk)
	}
	// The store returns newest first; keep that order whatever it did, so
	// that the signer is the newest key that may sign.
	slices.SortStableFunc(st.keys, func(a, b *ringKey) int { return b.meta.CreateTime.Compare(a.meta.CreateTime) })
	for _, k := range st.keys {
		if maySign(&k.meta, now) {
			st.signer = k
			break
		}
	}
	r.state.Store(st)
	return st, nil
}

func maySign(k *webhookd.SigningKey, now time.Time) bool {
	return k.RetireTime == nil || k.RetireTime.After(now)
}

func published(k *webhookd.SigningKey, now time.Time) bool {
	return k.ExpireTime == nil || k.ExpireTime.After(now)
}

func (r *KeyRing) open(k *webhookd.SigningKey) (*ringKey, error) {
	if k.Algorithm != algRS256 {
		return nil, fmt.Errorf("signing key %s: unsupported algorithm %q", k.ID, k.Algorithm)
	}
	der, err := r.cfg.Sealer.Open(k.SealedPrivateKey)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", k.ID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: parse PKCS#8: %w", k.ID, err)
	}
	priv, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s: not an RSA key (%T)", k.ID, parsed)
	}
	return newRingKey(*k, priv), nil
}

func newRingKey(meta webhookd.SigningKey, priv *rsa.PrivateKey) *ringKey {
	return &ringKey{
		meta: meta,
		priv: priv,
		jwk: jwk{
			Kty: "RSA",
			Kid: meta.ID,
			Use: "sig",
			Alg: algRS256,
			N:   base64.RawURLEncoding.EncodeToString(priv.N.Bytes()),
			E:   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(priv.E)).Bytes()),
		},
	}
}

// Reload rereads the ring from the store, picking up keys that another
// process created or retired. On error the previous snapshot stays in use.
func (r *KeyRing) Reload(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := r.load(ctx)
	return err
}

// Rotate makes a new key the signer and retires every other key that may
// still sign. It returns the new key's id.
func (r *KeyRing) Rotate(ctx context.Context) (kid string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.load(ctx)
	if err != nil {
		return "", err
	}
	return r.rotateLocked(ctx, st)
}

// rotateLocked creates the new key before retiring the old ones, so that a
// crash in between leaves two signing keys (which Maintain resolves) rather
// than none.
func (r *KeyRing) rotateLocked(ctx context.Context, st *ringState) (string, error) {
	priv, err := rsa.GenerateKey(rand.Reader, rsaKeyBits)
	if err != nil {
		return "", fmt.Errorf("generate RSA key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("marshal PKCS#8: %w", err)
	}
	var id [kidBytes]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails on supported platforms
	now := r.cfg.Clock.Now()
	meta := webhookd.SigningKey{
		ID:               base64.RawURLEncoding.EncodeToString(id[:]),
		Algorithm:        algRS256,
		SealedPrivateKey: r.cfg.Sealer.Seal(der),
		CreateTime:       now,
	}
	stored := meta
	if err := r.cfg.Store.CreateSigningKey(ctx, &stored); err != nil {
		return "", fmt.Errorf("store signing key: %w", err)
	}
	if err := r.retireOthers(ctx, st, meta.ID, now); err != nil {
		return "", err
	}
	r.cfg.Logger.InfoContext(ctx, "signing key created", "kid", meta.ID)
	_, err = r.load(ctx)
	return meta.ID, err
}

// retireOthers retires every key except keep that may still sign.
func (r *KeyRing) retireOthers(ctx context.Context, st *ringState, keep string, now time.Time) error {
	expire := now.Add(r.retention())
	for _, k := range st.keys {
		if k.meta.ID == keep || !maySign(&k.meta, now) {
			continue
		}
		upd := k.meta
		upd.RetireTime = &now
		if upd.ExpireTime == nil || upd.ExpireTime.After(expire) {
			upd.ExpireTime = &expire
		}
		if err := r.cfg.Store.UpdateSigningKey(ctx, &upd); err != nil {
			return fmt.Errorf("retire signing key %s: %w", k.meta.ID, err)
		}
		r.cfg.Logger.InfoContext(ctx, "signing key retired", "kid", k.meta.ID, "expire_time", expire)
	}
	return nil
}

// Maintain is the ring's periodic housekeeping, run by one process at a
// time: it rotates when the signer is older than RotateEvery (or there is
// none), retires extra signing keys left by a race or a crash, and deletes
// keys whose publication has ended.
func (r *KeyRing) Maintain(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.load(ctx)
	if err != nil {
		return err
	}
	now := r.cfg.Clock.Now()
	switch {
	case st.signer == nil || !now.Before(st.signer.meta.CreateTime.Add(r.cfg.RotateEvery)):
		if _, err := r.rotateLocked(ctx, st); err != nil {
			return err
		}
	default:
		if err := r.retireOthers(ctx, st, st.signer.meta.ID, now); err != nil {
			return err
		}
	}
	st, err = r.load(ctx)
	if err != nil {
		return err
	}
	deleted := false
	for _, k := range st.keys {
		if published(&k.meta, now) {
			continue
		}
		if err := r.cfg.Store.DeleteSigningKey(ctx, k.meta.ID); err != nil && !errors.Is(err, webhookd.ErrNotFound) {
			return fmt.Errorf("delete signing key %s: %w", k.meta.ID, err)
		}
		deleted = true
		r.cfg.Logger.InfoContext(ctx, "signing key deleted", "kid", k.meta.ID)
	}
	if deleted {
		_, err = r.load(ctx)
	}
	return err
}

// deliveryClaims are the claims of a delivery JWT. aud is a single string,
// as the document's receivers (jsonwebtoken, PyJWT) expect.
type deliveryClaims struct {
	Issuer     string           `json:"iss"`
	Audience   string           `json:"aud"`
	IssuedAt   *jwt.NumericDate `json:"iat"`
	ExpiresAt  *jwt.NumericDate `json:"exp"`
	WebhookID  string           `json:"webhook_id"`
	EventType  string           `json:"event_type"`
	BodySHA256 string           `json:"body_sha256"`
}

func (c deliveryClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c deliveryClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c deliveryClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c deliveryClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c deliveryClaims) GetSubject() (string, error)                  { return "", nil }
func (c deliveryClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings{c.Audience}, nil
}

// BodySHA256 returns the body_sha256 claim of body: the unpadded base64url
// SHA-256 of the exact bytes sent.
func BodySHA256(body []byte) string {
	sum := sha256.Sum256(body)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// SignDelivery returns the RS256 JWT that goes in the webhook-signature
// header of a dynamic delivery. It costs one RSA signature (~0.6 ms of CPU),
// so the delivery engine calls it per attempt, never on an API request path.
// A zero IssuedAt means now.
func (r *KeyRing) SignDelivery(t DeliveryToken) (string, error) {
	switch {
	case t.Issuer == "":
		return "", errors.New("sign delivery: issuer is required")
	case t.Audience == "":
		return "", errors.New("sign delivery: audience is required")
	case t.WebhookID == "":
		return "", errors.New("sign delivery: webhook id is required")
	}
	st := r.state.Load()
	if st == nil || st.signer == nil {
		return "", ErrNoSigningKey
	}
	iat := t.IssuedAt
	if iat.IsZero() {
		iat = r.cfg.Clock.Now()
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, deliveryClaims{
		Issuer:     t.Issuer,
		Audience:   t.Audience,
		IssuedAt:   jwt.NewNumericDate(iat),
		ExpiresAt:  jwt.NewNumericDate(iat.Add(TokenLifetime)),
		WebhookID:  t.WebhookID,
		EventType:  t.EventType,
		BodySHA256: BodySHA256(t.Body),
	})
	tok.Header["kid"] = st.signer.meta.ID
	s, err := tok.SignedString(st.signer.priv)
	if err != nil {
		return "", fmt.Errorf("sign delivery: %w", err)
	}
	return s, nil
}

// SignerID returns the kid of the key that signs now ("" if none).
func (r *KeyRing) SignerID() string {
	if st := r.state.Load(); st != nil && st.signer != nil {
		return st.signer.meta.ID
	}
	return ""
}

// JWKS returns the key set document: every key whose publication has not
// ended, newest first.
func (r *KeyRing) JWKS() []byte {
	now := r.cfg.Clock.Now()
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	if st := r.state.Load(); st != nil {
		for _, k := range st.keys {
			if published(&k.meta, now) {
				set.Keys = append(set.Keys, k.jwk)
			}
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		panic(fmt.Sprintf("marshal JWKS: %v", err)) // only strings: cannot fail
	}
	return b
}

// JWKSHandler serves JWKS at JWKSPath (the caller mounts it), with a
// Cache-Control max-age shorter than a retired key's publication, and an
// ETag so that polling receivers get 304s.
func (r *KeyRing) JWKSHandler() http.Handler {
	cacheControl := "public, max-age=" + strconv.Itoa(int(r.cfg.JWKSMaxAge/time.Second))
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body := r.JWKS()
		sum := sha256.Sum256(body)
		etag := `"` + hex.EncodeToString(sum[:12]) + `"`
		h := w.Header()
		h.Set("Cache-Control", cacheControl)
		h.Set("ETag", etag)
		if req.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if req.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	})
}
