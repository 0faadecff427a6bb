package receiver

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// JWKS cache bounds. The sender's Cache-Control max-age decides how long a
// fetched key set is fresh, within these bounds.
const (
	defaultJWKSMinRefresh = 30 * time.Second
	defaultJWKSMaxAge     = 10 * time.Minute
	minJWKSMaxAge         = time.Minute
	maxJWKSMaxAge         = 24 * time.Hour
	maxJWKSBytes          = 1 << 20
	minRSABits            = 2048
	maxRSABits            = 8192
)

// jwksCache holds the sender's public keys. A kid it does not know, or a
// set past its max-age, causes a refetch, at most once per minRefresh: a
// flood of tokens with made-up kids costs the sender one request per
// interval. When a refetch fails, keys already known keep verifying.
type jwksCache struct {
	url        string
	client     *http.Client
	minRefresh time.Duration
	now        func() time.Time
	fetching   chan struct{} // holds a token while a fetch runs: one at a time

	mu        sync.Mutex
	keys      map[string]*rsa.PublicKey
	expires   time.Time // when the cached set goes stale
	lastFetch time.Time // last attempt, successful or not
	lastErr   error     // its error, nil on success
}

func newJWKSCache(url string, client *http.Client, minRefresh time.Duration, now func() time.Time) *jwksCache {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if minRefresh <= 0 {
		minRefresh = defaultJWKSMinRefresh
	}
	return &jwksCache{url: url, client: client, minRefresh: minRefresh, now: now, fetching: make(chan struct{}, 1)}
}

// key returns the public key named kid.
func (c *jwksCache) key(ctx context.Context, kid string) (any, error) {
	if k, fresh := c.lookup(kid); k != nil && fresh {
		return k, nil
	}
	err := c.refresh(ctx)
	if k, _ := c.lookup(kid); k != nil {
		return k, nil // possibly stale, when the refetch failed: better than refusing
	}
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: kid %q is not in the JWKS", ErrUnknownKey, kid)
}

func (c *jwksCache) lookup(kid string) (k *rsa.PublicKey, fresh bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keys[kid], c.now().Before(c.expires)
}

// refresh fetches the key set unless a fetch happened within minRefresh (by
// this caller or by one it waited for), in which case it reports that
// fetch's outcome.
func (c *jwksCache) refresh(ctx context.Context) error {
	select {
	case c.fetching <- struct{}{}:
		defer func() { <-c.fetching }()
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrJWKSUnavailable, ctx.Err())
	}
	now := c.now()
	c.mu.Lock()
	if !c.lastFetch.IsZero() && now.Sub(c.lastFetch) < c.minRefresh {
		err := c.lastErr
		c.mu.Unlock()
		return err
	}
	c.mu.Unlock()

	keys, maxAge, err := c.fetch(ctx)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastFetch = now
	if err != nil {
		c.lastErr = fmt.Errorf("%w: %w", ErrJWKSUnavailable, err)
		return c.lastErr
	}
	c.keys, c.expires, c.lastErr = keys, now.Add(maxAge), nil
	return nil
}

func (c *jwksCache) fetch(ctx context.Context) (map[string]*rsa.PublicKey, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("GET %s: status %d", c.url, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", c.url, err)
	}
	if len(b) > maxJWKSBytes {
		return nil, 0, fmt.Errorf("GET %s: key set larger than %d bytes", c.url, maxJWKSBytes)
	}
	keys, err := parseJWKS(b)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", c.url, err)
	}
	return keys, cacheMaxAge(resp.Header.Get("Cache-Control")), nil
}

// cacheMaxAge reads max-age from a Cache-Control header, within bounds.
func cacheMaxAge(cc string) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(d), "=")
		if !ok || !strings.EqualFold(name, "max-age") {
			continue
		}
		secs, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
		if err != nil || secs < 0 {
			break
		}
		d := maxJWKSMaxAge
		if secs < int64(maxJWKSMaxAge/time.Second) {
			d = time.Duration(secs) * time.Second
		}
		return max(d, minJWKSMaxAge)
	}
	return defaultJWKSMaxAge
}

// parseJWKS returns the RS256 signing keys of a JWK Set (RFC 7517), by kid.
// Keys for other algorithms or uses, and RSA keys weaker than 2048 bits,
// are skipped rather than refused, so that a shared key set with other
// kinds of keys still works.
func parseJWKS(b []byte) (map[string]*rsa.PublicKey, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("invalid JWKS: %w", err)
	}
	if set.Keys == nil {
		return nil, errors.New("invalid JWKS: no keys member")
	}
	keys := make(map[string]*rsa.PublicKey, len(set.Keys))
	for _, k := range set.Keys {
		if k.Kty != "RSA" || k.Kid == "" || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "RS256") {
			continue
		}
		n, err := decodeB64URL(k.N)
		if err != nil || len(n) == 0 || n[0] == 0 {
			continue
		}
		e, err := decodeB64URL(k.E)
		if err != nil || len(e) == 0 || len(e) > 4 {
			continue
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if bits := pub.N.BitLen(); bits < minRSABits || bits > maxRSABits || pub.E < 3 || pub.E%2 == 0 {
			continue
		}
		keys[k.Kid] = pub
	}
	return keys, nil
}

// decodeB64URL decodes base64url with or without padding.
func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
