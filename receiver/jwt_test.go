package receiver_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/receiver"
)

type jwtBundle struct {
	clock  *fakeclock.Clock
	sender *sender
	v      *receiver.Verifier
}

func setupJWT(t *testing.T, mutate ...func(*receiver.Config)) *jwtBundle {
	t.Helper()
	clock := fakeclock.New(epoch)
	s := newSender(t, clock)
	cfg := receiver.Config{
		JWKSURL:    s.jwksURL(),
		Audience:   testAudience,
		Issuer:     testIssuer,
		Now:        clock.Now,
		HTTPClient: s.srv.Client(),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	v, err := receiver.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &jwtBundle{clock: clock, sender: s, v: v}
}

func TestVerifyJWT(t *testing.T) {
	t.Parallel()
	b := setupJWT(t)
	h := b.sender.sign(t, "msg_dyn", []byte(testBody))
	ev, err := b.v.Verify(t.Context(), h, []byte(testBody))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != receiver.KindJWT || ev.ID != "msg_dyn" || ev.KeyID != b.sender.ring.SignerID() ||
		ev.Type != "batch.succeeded" || string(ev.UserMetadata) != `{"job_group":"nightly-eval"}` {
		t.Fatalf("event = %+v", ev)
	}
	// The key is cached: a second message costs no fetch.
	if _, err := b.v.Verify(t.Context(), b.sender.sign(t, "msg_dyn2", []byte(testBody)), []byte(testBody)); err != nil {
		t.Fatal(err)
	}
	if n := b.sender.fetches.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times, want 1", n)
	}
}

func TestVerifyJWTRejects(t *testing.T) {
	t.Parallel()
	body := []byte(testBody)
	tests := []struct {
		name  string
		setup func(*testing.T, *jwtBundle) (http.Header, []byte)
		cfg   func(*receiver.Config)
		want  error
	}{
		{
			name: "tampered body",
			setup: func(t *testing.T, b *jwtBundle) (http.Header, []byte) {
				return b.sender.sign(t, "msg_1", body), bytes.Replace(body, []byte(`"error_count":0`), []byte(`"error_count":9`), 1)
			},
			want: receiver.ErrBodyMismatch,
		},
		{
			name: "body one byte longer",
			setup: func(t *testing.T, b *jwtBundle) (http.Header, []byte) {
				return b.sender.sign(t, "msg_1", body), append(bytes.Clone(body), ' ')
			},
			want: receiver.ErrBodyMismatch,
		},
		{
			name: "another audience",
			setup: func(t *testing.T, b *jwtBundle) (http.Header, []byte) {
				return b.sender.sign(t, "msg_1", body), body
			},
			cfg:  func(c *receiver.Config) { c.Audience = "https://someone-else.test/hook" },
			want: receiver.ErrWrongAudience,
		},
		{
			name: "another issuer",
			setup: func(t *testing.T, b *jwtBundle) (http.Header, []byte) {
				return b.sender.sign(t, "msg_1", body), body
			},
			cfg:  func(c *receiver.Config) { c.Issuer = "https://impostor.test" },
			want: receiver.ErrWrongIssuer,
		},
		{
			name: "webhook-id header differs from the signed id",
			setup: func(t *testing.T, b *jwtBundle) (http.Header, []byte) {
				h := b.sender.sign(t, "msg_1", body)
				h.Set("webhook-id", "msg_2")
				return h, body
			},
			want: receiver.ErrIDMismatch,
		},
		{
			name: "unknown kid (another sender's key)",
			setup: func(t *testing.T, b *jwtBundle) (http.Header, []byte) {
				return newSender(t, b.clock).sign(t, "msg_1", body), body
			},
			want: receiver.ErrUnknownKey,
		},
		{
			name: "expired",
			setup: func(t *testing.T, b *jwtBundle) (http.Header, []byte) {
				h := b.sender.sign(t, "msg_1", body)
				b.clock.Advance(5*time.Minute + time.Minute + time.Second) // exp + leeway
				return h, body
			},
			want: receiver.ErrTooOld,
		},
		{
			name: "issued in the future",
			setup: func(t *testing.T, b *jwtBundle) (http.Header, []byte) {
				b.clock.Advance(2 * time.Minute)
				h := b.sender.sign(t, "msg_1", body)
				b.clock.Advance(-2 * time.Minute)
				return h, body
			},
			want: receiver.ErrTooNew,
		},
		{
			name: "signature byte changed",
			setup: func(t *testing.T, b *jwtBundle) (http.Header, []byte) {
				h := b.sender.sign(t, "msg_1", body)
				tok := h.Get("webhook-signature")
				h.Set("webhook-signature", tok[:len(tok)-10]+flipB64(tok[len(tok)-10])+tok[len(tok)-9:])
				return h, body
			},
			want: receiver.ErrBadSignature,
		},
		{
			name: "claims changed (event_type swapped, signature kept)",
			setup: func(t *testing.T, b *jwtBundle) (http.Header, []byte) {
				h := b.sender.sign(t, "msg_1", body)
				parts := strings.Split(h.Get("webhook-signature"), ".")
				claims := decodeJSONSegment(t, parts[1])
				claims["event_type"] = "batch.failed"
				parts[1] = encodeJSONSegment(t, claims)
				h.Set("webhook-signature", strings.Join(parts, "."))
				return h, body
			},
			want: receiver.ErrBadSignature,
		},
		{
			name: "alg none",
			setup: func(t *testing.T, b *jwtBundle) (http.Header, []byte) {
				h := b.sender.sign(t, "msg_1", body)
				parts := strings.Split(h.Get("webhook-signature"), ".")
				hdr := decodeJSONSegment(t, parts[0])
				hdr["alg"] = "none"
				h.Set("webhook-signature", encodeJSONSegment(t, hdr)+"."+parts[1]+".")
				return h, body
			},
			want: receiver.ErrBadSignature,
		},
		{
			name: "HS256 keyed with the public key (algorithm confusion)",
			setup: func(t *testing.T, b *jwtBundle) (http.Header, []byte) {
				h := b.sender.sign(t, "msg_1", body)
				tok, _, err := jwt.NewParser().ParseUnverified(h.Get("webhook-signature"), jwt.MapClaims{})
				if err != nil {
					t.Fatal(err)
				}
				forged := jwt.NewWithClaims(jwt.SigningMethodHS256, tok.Claims)
				forged.Header["kid"] = tok.Header["kid"]
				s, err := forged.SignedString([]byte(b.sender.srv.URL)) // any key: it must never be tried
				if err != nil {
					t.Fatal(err)
				}
				h.Set("webhook-signature", s)
				return h, body
			},
			want: receiver.ErrBadSignature,
		},
		{
			name: "signed by a key outside the JWKS under a published kid",
			setup: func(t *testing.T, b *jwtBundle) (http.Header, []byte) {
				h := b.sender.sign(t, "msg_1", body)
				tok, _, err := jwt.NewParser().ParseUnverified(h.Get("webhook-signature"), jwt.MapClaims{})
				if err != nil {
					t.Fatal(err)
				}
				k, err := rsa.GenerateKey(rand.Reader, 2048)
				if err != nil {
					t.Fatal(err)
				}
				forged := jwt.NewWithClaims(jwt.SigningMethodRS256, tok.Claims)
				forged.Header["kid"] = tok.Header["kid"]
				s, err := forged.SignedString(k)
				if err != nil {
					t.Fatal(err)
				}
				h.Set("webhook-signature", s)
				return h, body
			},
			want: receiver.ErrBadSignature,
		},
		{
			name: "JWT but only secrets configured",
			setup: func(t *testing.T, b *jwtBundle) (http.Header, []byte) {
				return b.sender.sign(t, "msg_1", body), body
			},
			cfg:  func(c *receiver.Config) { *c = receiver.Config{Secrets: []string{testSecret}, Now: c.Now} },
			want: receiver.ErrBadSignature,
		},
		{
			name: "header timestamp replayed past tolerance",
			setup: func(t *testing.T, b *jwtBundle) (http.Header, []byte) {
				h := b.sender.sign(t, "msg_1", body)
				h.Set("webhook-timestamp", "1769082000") // 20 min before
				return h, body
			},
			want: receiver.ErrTooOld,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mut []func(*receiver.Config)
			if tt.cfg != nil {
				mut = append(mut, tt.cfg)
			}
			b := setupJWT(t, mut...)
			h, got := tt.setup(t, b)
			ev, err := b.v.Verify(t.Context(), h, got)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v (event %v)", err, tt.want, ev)
			}
			if ev != nil {
				t.Fatal("rejected message returned an event")
			}
		})
	}
}

func flipB64(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func decodeJSONSegment(t *testing.T, seg string) map[string]any {
	t.Helper()
	b, err := jwt.NewParser().DecodeSegment(seg)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func encodeJSONSegment(t *testing.T, m map[string]any) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return (&jwt.Token{}).EncodeSegment(b)
}

func TestVerifyJWTAcrossRotation(t *testing.T) {
	t.Parallel()
	b := setupJWT(t)
	body := []byte(testBody)
	before := b.sender.sign(t, "msg_before", body)
	if _, err := b.v.Verify(t.Context(), before, body); err != nil {
		t.Fatal(err)
	}

	b.clock.Advance(time.Minute)
	if _, err := b.sender.ring.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	after := b.sender.sign(t, "msg_after", body)
	// The new kid is unknown to the cached set: one refetch finds it.
	if _, err := b.v.Verify(t.Context(), after, body); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if n := b.sender.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2 (initial + unknown kid)", n)
	}
	// The token signed before the rotation still verifies after it.
	if _, err := b.v.Verify(t.Context(), before, body); err != nil {
		t.Fatalf("token signed before rotation: %v", err)
	}
}

func TestJWKSRefreshIsRateLimited(t *testing.T) {
	t.Parallel()
	b := setupJWT(t, func(c *receiver.Config) { c.JWKSMinRefresh = time.Minute })
	body := []byte(testBody)
	stranger := newSender(t, b.clock)
	if _, err := b.v.Verify(t.Context(), b.sender.sign(t, "m", body), body); err != nil {
		t.Fatal(err)
	}
	// A burst of tokens with unknown kids costs at most one fetch per minute.
	b.clock.Advance(time.Minute)
	for range 5 {
		if _, err := b.v.Verify(t.Context(), stranger.sign(t, "m", body), body); !errors.Is(err, receiver.ErrUnknownKey) {
			t.Fatalf("err = %v, want ErrUnknownKey", err)
		}
	}
	if n := b.sender.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
	// A genuine new key within the minute waits for the next window.
	if _, err := b.sender.ring.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	fresh := b.sender.sign(t, "m2", body)
	if _, err := b.v.Verify(t.Context(), fresh, body); !errors.Is(err, receiver.ErrUnknownKey) {
		t.Fatalf("within the window: err = %v, want ErrUnknownKey", err)
	}
	b.clock.Advance(time.Minute)
	fresh = b.sender.sign(t, "m2", body)
	if _, err := b.v.Verify(t.Context(), fresh, body); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	if n := b.sender.fetches.Load(); n != 3 {
		t.Fatalf("fetches = %d, want 3", n)
	}
}

func TestJWKSUnavailable(t *testing.T) {
	t.Parallel()
	b := setupJWT(t)
	body := []byte(testBody)
	b.sender.down.Store(true)
	if _, err := b.v.Verify(t.Context(), b.sender.sign(t, "m", body), body); !errors.Is(err, receiver.ErrJWKSUnavailable) {
		t.Fatalf("err = %v, want ErrJWKSUnavailable", err)
	}
	if got := receiver.StatusCode(receiver.ErrJWKSUnavailable); got != http.StatusServiceUnavailable {
		t.Fatalf("status %d", got)
	}
	// Once fetched, keys outlive an outage of the JWKS, even past max-age.
	b.sender.down.Store(false)
	b.clock.Advance(time.Minute)
	if _, err := b.v.Verify(t.Context(), b.sender.sign(t, "m", body), body); err != nil {
		t.Fatal(err)
	}
	b.sender.down.Store(true)
	b.clock.Advance(time.Hour)
	if _, err := b.v.Verify(t.Context(), b.sender.sign(t, "m", body), body); err != nil {
		t.Fatalf("cached key during an outage: %v", err)
	}
}

func TestJWKSCacheHonoursMaxAge(t *testing.T) {
	t.Parallel()
	b := setupJWT(t)
	body := []byte(testBody)
	if _, err := b.v.Verify(t.Context(), b.sender.sign(t, "m", body), body); err != nil {
		t.Fatal(err)
	}
	// The ring serves max-age=900 (15 min, its default).
	b.clock.Advance(14 * time.Minute)
	if _, err := b.v.Verify(t.Context(), b.sender.sign(t, "m", body), body); err != nil {
		t.Fatal(err)
	}
	if n := b.sender.fetches.Load(); n != 1 {
		t.Fatalf("fetches before max-age = %d, want 1", n)
	}
	b.clock.Advance(time.Minute)
	if _, err := b.v.Verify(t.Context(), b.sender.sign(t, "m", body), body); err != nil {
		t.Fatal(err)
	}
	if n := b.sender.fetches.Load(); n != 2 {
		t.Fatalf("fetches after max-age = %d, want 2", n)
	}
}

func BenchmarkVerifyJWT(b *testing.B) {
	clock := fakeclock.New(epoch)
	s := newSender(b, clock)
	v, err := receiver.NewVerifier(receiver.Config{JWKSURL: s.jwksURL(), Audience: testAudience, Now: clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	h := s.sign(b, "msg_bench", []byte(testBody))
	for b.Loop() {
		if _, err := v.Verify(b.Context(), h, []byte(testBody)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestJWKSConcurrentUnknownKid: many messages signed by a new key arrive at
// once; the receiver fetches the key set once and verifies them all.
func TestJWKSConcurrentUnknownKid(t *testing.T) {
	t.Parallel()
	b := setupJWT(t)
	body := []byte(testBody)
	if _, err := b.v.Verify(t.Context(), b.sender.sign(t, "m0", body), body); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(time.Minute)
	if _, err := b.sender.ring.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		h := b.sender.sign(t, "m"+strconv.Itoa(i+1), body)
		wg.Go(func() {
			if _, err := b.v.Verify(t.Context(), h, body); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := b.sender.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2 (initial + one for the new kid)", n)
	}
}
