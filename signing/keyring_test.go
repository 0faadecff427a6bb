package signing_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/signing"
	"github.com/webhookd/webhookd/sqlite"
)

// openStore opens a fresh SQLite store, the embedded default, as the key
// ring's KeyStore.
func openStore(t testing.TB, clock webhookd.Clock) *keyStore {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "webhookd.db"), sqlite.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &keyStore{Store: st, t: t}
}

// keyStore adds two test lookups to the real store.
type keyStore struct {
	*sqlite.Store
	t testing.TB
}

func (s *keyStore) get(id string) (webhookd.SigningKey, bool) {
	s.t.Helper()
	keys, err := s.ListSigningKeys(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	for _, k := range keys {
		if k.ID == id {
			return *k, true
		}
	}
	return webhookd.SigningKey{}, false
}

func (s *keyStore) len() int {
	s.t.Helper()
	keys, err := s.ListSigningKeys(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return len(keys)
}

// testLogger sends the ring's logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

var ringEpoch = time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)

type ringBundle struct {
	ctx    context.Context
	store  *keyStore
	sealer *signing.Sealer
	clock  *fakeclock.Clock
	ring   *signing.KeyRing
	cfg    signing.KeyRingConfig
}

func setupRing(t *testing.T) *ringBundle {
	t.Helper()
	clock := fakeclock.New(ringEpoch)
	b := &ringBundle{
		ctx:    t.Context(),
		store:  openStore(t, clock),
		sealer: newSealer(t),
		clock:  clock,
	}
	b.cfg = signing.KeyRingConfig{
		Store:       b.store,
		Sealer:      b.sealer,
		Clock:       b.clock,
		RotateEvery: 24 * time.Hour,
		JWKSMaxAge:  10 * time.Minute,
		Logger:      testLogger(t),
	}
	ring, err := signing.NewKeyRing(b.ctx, b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.ring = ring
	return b
}

type jwksDoc struct {
	Keys []struct {
		Kty, Kid, Use, Alg, N, E string
	} `json:"keys"`
}

func parseJWKS(t testing.TB, b []byte) map[string]*rsa.PublicKey {
	t.Helper()
	var doc jwksDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("JWKS %s: %v", b, err)
	}
	out := map[string]*rsa.PublicKey{}
	for _, k := range doc.Keys {
		if k.Kty != "RSA" || k.Use != "sig" || k.Alg != "RS256" || k.Kid == "" {
			t.Fatalf("JWK has kty=%q use=%q alg=%q kid=%q", k.Kty, k.Use, k.Alg, k.Kid)
		}
		n, err := base64.RawURLEncoding.DecodeString(k.N)
		if err != nil {
			t.Fatalf("n: %v", err)
		}
		e, err := base64.RawURLEncoding.DecodeString(k.E)
		if err != nil {
			t.Fatalf("e: %v", err)
		}
		out[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return out
}

// verifyToken checks a delivery token the way a receiver does, against the
// ring's current JWKS, at the clock's time.
func verifyToken(t testing.TB, b *ringBundle, token, aud string) (jwt.MapClaims, error) {
	t.Helper()
	keys := parseJWKS(t, b.ring.JWKS())
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithAudience(aud),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(b.clock.Now),
	).ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		if k, ok := keys[kid]; ok {
			return k, nil
		}
		return nil, fmt.Errorf("unknown kid %q", kid)
	})
	return claims, err
}

func kidOf(t testing.TB, token string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}

func sampleToken(b *ringBundle) signing.DeliveryToken {
	return signing.DeliveryToken{
		Issuer:    "https://webhookd.example",
		Audience:  "https://receiver.example/hook",
		WebhookID: "msg_1",
		EventType: "batch.succeeded",
		Body:      []byte(`{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batches/1"}}`),
		IssuedAt:  b.clock.Now(),
	}
}

func TestKeyRingFirstStart(t *testing.T) {
	t.Parallel()
	b := setupRing(t)
	if n := b.store.len(); n != 1 {
		t.Fatalf("first start stored %d keys, want 1", n)
	}
	kid := b.ring.SignerID()
	if len(kid) != 22 {
		t.Fatalf("kid %q: want 22 base64url characters (16 random bytes)", kid)
	}
	stored, _ := b.store.get(kid)
	if stored.Algorithm != "RS256" || !stored.CreateTime.Equal(ringEpoch) || stored.RetireTime != nil || stored.ExpireTime != nil {
		t.Fatalf("stored key: %+v", stored)
	}
	// Sealed at rest: the stored bytes are not a private key, and open to one.
	if _, err := x509.ParsePKCS8PrivateKey(stored.SealedPrivateKey); err == nil {
		t.Fatal("private key stored in the clear")
	}
	der, err := b.sealer.Open(stored.SealedPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	rk, ok := priv.(*rsa.PrivateKey)
	if !ok || rk.N.BitLen() != 2048 {
		t.Fatalf("stored key is %T", priv)
	}
	pub := parseJWKS(t, b.ring.JWKS())
	if len(pub) != 1 || !pub[kid].Equal(&rk.PublicKey) {
		t.Fatalf("JWKS does not publish the stored key: %s", b.ring.JWKS())
	}

	// A second start (another process, a restart) loads the same key.
	again, err := signing.NewKeyRing(b.ctx, b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again.SignerID() != kid || b.store.len() != 1 {
		t.Fatalf("restart: signer %q, %d keys; want %q, 1", again.SignerID(), b.store.len(), kid)
	}
}

func TestNewKeyRingErrors(t *testing.T) {
	t.Parallel()
	b := setupRing(t)
	other, err := signing.NewSealer(bytes.Repeat([]byte{9}, signing.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  signing.KeyRingConfig
		want error
	}{
		{"wrong master key", signing.KeyRingConfig{Store: b.store, Sealer: other, Clock: b.clock}, signing.ErrUnseal},
		{"no store", signing.KeyRingConfig{Sealer: b.sealer}, nil},
		{"no sealer", signing.KeyRingConfig{Store: b.store}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := signing.NewKeyRing(t.Context(), tt.cfg)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSignDeliveryToken(t *testing.T) {
	t.Parallel()
	b := setupRing(t)
	in := sampleToken(b)
	token, err := b.ring.SignDelivery(in)
	if err != nil {
		t.Fatal(err)
	}

	// The header and the raw claims, as other languages' libraries see them.
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	var header map[string]any
	decodeSegment(t, parts[0], &header)
	if header["alg"] != "RS256" || header["typ"] != "JWT" || header["kid"] != b.ring.SignerID() || len(header) != 3 {
		t.Fatalf("header = %v", header)
	}
	var raw map[string]any
	decodeSegment(t, parts[1], &raw)
	// Integer NumericDates: PyJWT and jsonwebtoken accept fractions, but
	// stricter libraries do not.
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	for _, want := range []string{fmt.Sprintf(`"iat":%d,`, ringEpoch.Unix()), fmt.Sprintf(`"exp":%d,`, ringEpoch.Add(5*time.Minute).Unix())} {
		if !strings.Contains(string(payload), want) {
			t.Fatalf("payload %s lacks %s", payload, want)
		}
	}
	sum := sha256.Sum256(in.Body)
	want := map[string]any{
		"iss":         in.Issuer,
		"aud":         in.Audience, // a string, not an array
		"iat":         float64(ringEpoch.Unix()),
		"exp":         float64(ringEpoch.Add(5 * time.Minute).Unix()),
		"webhook_id":  "msg_1",
		"event_type":  "batch.succeeded",
		"body_sha256": base64.RawURLEncoding.EncodeToString(sum[:]),
	}
	if fmt.Sprint(raw) != fmt.Sprint(want) {
		t.Fatalf("claims = %v\nwant     %v", raw, want)
	}
	if got := signing.BodySHA256(in.Body); got != want["body_sha256"] || strings.ContainsAny(got, "=+/") {
		t.Fatalf("BodySHA256 = %q", got)
	}

	// And it verifies against the published key set.
	if _, err := verifyToken(t, b, token, in.Audience); err != nil {
		t.Fatal(err)
	}
	if _, err := verifyToken(t, b, token, "https://other.example/"); !errors.Is(err, jwt.ErrTokenInvalidAudience) {
		t.Fatalf("other audience: err = %v", err)
	}
	b.clock.Advance(5*time.Minute + time.Second)
	if _, err := verifyToken(t, b, token, in.Audience); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("after exp: err = %v", err)
	}
}

func decodeSegment(t testing.TB, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func TestSignDeliveryDefaultsAndValidation(t *testing.T) {
	t.Parallel()
	b := setupRing(t)
	b.clock.Advance(time.Minute)
	in := sampleToken(b)
	in.IssuedAt = time.Time{}
	token, err := b.ring.SignDelivery(in)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := verifyToken(t, b, token, in.Audience)
	if err != nil {
		t.Fatal(err)
	}
	if iat, _ := claims.GetIssuedAt(); !iat.Equal(b.clock.Now()) {
		t.Fatalf("zero IssuedAt: iat = %v, want the clock's now %v", iat, b.clock.Now())
	}

	for name, mutate := range map[string]func(*signing.DeliveryToken){
		"no issuer":     func(d *signing.DeliveryToken) { d.Issuer = "" },
		"no audience":   func(d *signing.DeliveryToken) { d.Audience = "" },
		"no webhook id": func(d *signing.DeliveryToken) { d.WebhookID = "" },
	} {
		d := sampleToken(b)
		mutate(&d)
		if _, err := b.ring.SignDelivery(d); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
}

func TestKeyRingRotateKeepsOldTokensValid(t *testing.T) {
	t.Parallel()
	b := setupRing(t)
	oldKid := b.ring.SignerID()
	before, err := b.ring.SignDelivery(sampleToken(b))
	if err != nil {
		t.Fatal(err)
	}

	b.clock.Advance(time.Minute)
	newKid, err := b.ring.Rotate(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if newKid == oldKid || b.ring.SignerID() != newKid {
		t.Fatalf("after Rotate signer = %q (old %q, new %q)", b.ring.SignerID(), oldKid, newKid)
	}
	old, _ := b.store.get(oldKid)
	retired := ringEpoch.Add(time.Minute)
	wantExpire := retired.Add(signing.TokenLifetime + 10*time.Minute + signing.RetireMargin)
	if old.RetireTime == nil || !old.RetireTime.Equal(retired) || old.ExpireTime == nil || !old.ExpireTime.Equal(wantExpire) {
		t.Fatalf("retired key: retire %v expire %v; want %v, %v", old.RetireTime, old.ExpireTime, retired, wantExpire)
	}

	// Both keys are published; the token signed before rotation still
	// verifies after it, and new tokens carry the new kid.
	if keys := parseJWKS(t, b.ring.JWKS()); len(keys) != 2 || keys[oldKid] == nil || keys[newKid] == nil {
		t.Fatalf("JWKS after rotation: %s", b.ring.JWKS())
	}
	if _, err := verifyToken(t, b, before, sampleToken(b).Audience); err != nil {
		t.Fatalf("token signed before rotation: %v", err)
	}
	after, err := b.ring.SignDelivery(sampleToken(b))
	if err != nil {
		t.Fatal(err)
	}
	if kidOf(t, after) != newKid {
		t.Fatalf("new token kid = %q, want %q", kidOf(t, after), newKid)
	}

	// Once its publication ends the old key leaves the JWKS at once, and
	// Maintain deletes it from the store.
	b.clock.Set(wantExpire.Add(-time.Second))
	if len(parseJWKS(t, b.ring.JWKS())) != 2 {
		t.Fatal("old key left the JWKS before its expire time")
	}
	b.clock.Set(wantExpire)
	if keys := parseJWKS(t, b.ring.JWKS()); len(keys) != 1 || keys[newKid] == nil {
		t.Fatalf("JWKS at expire time: %s", b.ring.JWKS())
	}
	if err := b.ring.Maintain(b.ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.store.get(oldKid); ok {
		t.Fatal("Maintain kept an expired key")
	}
	if b.store.len() != 1 || b.ring.SignerID() != newKid {
		t.Fatalf("after Maintain: %d keys, signer %q", b.store.len(), b.ring.SignerID())
	}
}

func TestKeyRingMaintainRotatesWhenDue(t *testing.T) {
	t.Parallel()
	b := setupRing(t)
	first := b.ring.SignerID()

	b.clock.Advance(24*time.Hour - time.Second)
	if err := b.ring.Maintain(b.ctx); err != nil {
		t.Fatal(err)
	}
	if b.ring.SignerID() != first || b.store.len() != 1 {
		t.Fatal("Maintain rotated before RotateEvery")
	}

	b.clock.Advance(time.Second)
	if err := b.ring.Maintain(b.ctx); err != nil {
		t.Fatal(err)
	}
	second := b.ring.SignerID()
	if second == first || b.store.len() != 2 {
		t.Fatalf("Maintain at RotateEvery: signer %q, %d keys", second, b.store.len())
	}
	// A second run at the same instant does nothing more.
	if err := b.ring.Maintain(b.ctx); err != nil {
		t.Fatal(err)
	}
	if b.ring.SignerID() != second || b.store.len() != 2 {
		t.Fatal("Maintain is not idempotent")
	}
}

func TestKeyRingMaintainResolvesTwoSigners(t *testing.T) {
	t.Parallel()
	// Two processes starting on an empty store at once both create a key.
	b := setupRing(t)
	first := b.ring.SignerID()
	b.clock.Advance(time.Second)
	otherStore := openStore(t, b.clock)
	cfg := b.cfg
	cfg.Store = otherStore
	other, err := signing.NewKeyRing(b.ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := otherStore.get(other.SignerID())
	if err := b.store.CreateSigningKey(b.ctx, &k); err != nil {
		t.Fatal(err)
	}

	if err := b.ring.Maintain(b.ctx); err != nil {
		t.Fatal(err)
	}
	if b.ring.SignerID() != other.SignerID() {
		t.Fatalf("signer = %q, want the newest key %q", b.ring.SignerID(), other.SignerID())
	}
	stale, _ := b.store.get(first)
	if stale.RetireTime == nil || stale.ExpireTime == nil {
		t.Fatalf("older signing key not retired: %+v", stale)
	}
	if len(parseJWKS(t, b.ring.JWKS())) != 2 {
		t.Fatal("retired key not published")
	}
}

func TestKeyRingReload(t *testing.T) {
	t.Parallel()
	// Process a runs maintenance; process b only reloads.
	a := setupRing(t)
	bRing, err := signing.NewKeyRing(a.ctx, a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	old := a.ring.SignerID()
	a.clock.Advance(time.Minute)
	fresh, err := a.ring.Rotate(a.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if bRing.SignerID() != old {
		t.Fatal("b changed signer without reloading")
	}
	if err := bRing.Reload(a.ctx); err != nil {
		t.Fatal(err)
	}
	if bRing.SignerID() != fresh {
		t.Fatalf("after Reload b signs with %q, want %q", bRing.SignerID(), fresh)
	}
	if !bytes.Equal(bRing.JWKS(), a.ring.JWKS()) {
		t.Fatal("the two processes publish different key sets")
	}
}

func TestKeyRingNoSignerUntilMaintain(t *testing.T) {
	t.Parallel()
	b := setupRing(t)
	// Someone retired every key behind the ring's back (an operator, a
	// restore from backup).
	kid := b.ring.SignerID()
	k, _ := b.store.get(kid)
	now := b.clock.Now()
	k.RetireTime = &now
	if err := b.store.UpdateSigningKey(b.ctx, &k); err != nil {
		t.Fatal(err)
	}
	if err := b.ring.Reload(b.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ring.SignDelivery(sampleToken(b)); !errors.Is(err, signing.ErrNoSigningKey) {
		t.Fatalf("err = %v, want ErrNoSigningKey", err)
	}
	if err := b.ring.Maintain(b.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ring.SignDelivery(sampleToken(b)); err != nil {
		t.Fatalf("after Maintain: %v", err)
	}
}

func TestKeyRingStoreErrors(t *testing.T) {
	t.Parallel()
	b := setupRing(t)
	boom := errors.New("disk on fire")
	cfg := b.cfg
	cfg.Store = failingStore{KeyStore: b.store, err: boom}
	if _, err := signing.NewKeyRing(b.ctx, cfg); !errors.Is(err, boom) {
		t.Fatalf("NewKeyRing err = %v, want it to wrap the store error", err)
	}
}

type failingStore struct {
	webhookd.KeyStore
	err error
}

func (s failingStore) ListSigningKeys(context.Context) ([]*webhookd.SigningKey, error) {
	return nil, s.err
}

func TestJWKSHandler(t *testing.T) {
	t.Parallel()
	b := setupRing(t)
	srv := httptest.NewServer(b.ring.JWKSHandler())
	t.Cleanup(srv.Close)

	resp, err := srv.Client().Get(srv.URL + signing.JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=600" {
		t.Fatalf("Cache-Control %q", cc)
	}
	if keys := parseJWKS(t, body); len(keys) != 1 || keys[b.ring.SignerID()] == nil {
		t.Fatalf("body %s", body)
	}
	var doc map[string][]map[string]string
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc["keys"][0]["e"]; got != "AQAB" {
		t.Fatalf("e = %q, want AQAB", got)
	}

	etag := resp.Header.Get("ETag")
	req, _ := http.NewRequestWithContext(b.ctx, http.MethodGet, srv.URL+signing.JWKSPath, nil)
	req.Header.Set("If-None-Match", etag)
	resp, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: status %d, want 304", resp.StatusCode)
	}

	// A rotation changes the document and its ETag.
	if _, err := b.ring.Rotate(b.ctx); err != nil {
		t.Fatal(err)
	}
	resp, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(parseJWKS(t, body)) != 2 {
		t.Fatalf("after rotation: status %d body %s", resp.StatusCode, body)
	}

	resp, err = srv.Client().Post(srv.URL+signing.JWKSPath, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: status %d", resp.StatusCode)
	}
}

// TestKeyRingConcurrent signs from many goroutines while the ring rotates,
// reloads and maintains; run with -race.
func TestKeyRingConcurrent(t *testing.T) {
	t.Parallel()
	b := setupRing(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 4 {
		wg.Go(func() {
			for range 10 {
				if _, err := b.ring.SignDelivery(sampleToken(b)); err != nil {
					errs <- err
				}
				_ = b.ring.JWKS()
			}
		})
	}
	wg.Go(func() {
		for range 2 {
			b.clock.Advance(25 * time.Hour)
			if err := b.ring.Maintain(b.ctx); err != nil {
				errs <- err
			}
			if err := b.ring.Reload(b.ctx); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkSignDelivery measures a delivery JWT against the bare RSA
// signature inside it (the same key, as the ring loads it from the store),
// so that the ratio shows what the JWT costs on top of RSA on any machine.
func BenchmarkSignDelivery(b *testing.B) {
	store := openStore(b, nil)
	sealer := newSealer(b)
	ring, err := signing.NewKeyRing(b.Context(), signing.KeyRingConfig{
		Store:  store,
		Sealer: sealer,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	tok := signing.DeliveryToken{
		Issuer:    "https://webhookd.example",
		Audience:  "https://receiver.example/hook",
		WebhookID: "msg_bench",
		EventType: "batch.succeeded",
		Body:      bytes.Repeat([]byte("x"), 512),
	}
	b.Run("jwt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ring.SignDelivery(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rsa-only", func(b *testing.B) {
		stored, _ := store.get(ring.SignerID())
		der, err := sealer.Open(stored.SealedPrivateKey)
		if err != nil {
			b.Fatal(err)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			b.Fatal(err)
		}
		key := parsed.(*rsa.PrivateKey)
		digest := sha256.Sum256([]byte("header.claims"))
		for b.Loop() {
			if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func ExampleKeyRing_SignDelivery() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "keyring-example")
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, filepath.Join(dir, "webhookd.db"), sqlite.Options{})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	master, _ := signing.ParseMasterKey("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	sealer, _ := signing.NewSealer(master)
	ring, err := signing.NewKeyRing(ctx, signing.KeyRingConfig{
		Store:  store, // or the PostgreSQL store: any webhookd.KeyStore
		Sealer: sealer,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	token, err := ring.SignDelivery(signing.DeliveryToken{
		Issuer:    "https://webhookd.example",
		Audience:  "https://receiver.example/hook",
		WebhookID: "msg_2f4k",
		EventType: "batch.succeeded",
		Body:      []byte(`{"type":"batch.succeeded"}`),
	})
	if err != nil {
		panic(err)
	}
	// The token goes in the webhook-signature header; receivers fetch the
	// public key named by its kid from /.well-known/jwks.json.
	fmt.Println(strings.Count(token, "."), len(ring.JWKS()) > 0)
	// Output: 2 true
}
