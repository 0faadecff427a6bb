package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/webhookd/webhookd/signing"
)

// SignFunc returns the webhook-signature header of one message to target.
type SignFunc func(target *Target, id string, timestamp int64, body []byte) (string, error)

// RawConfig is the raw baseline: what a Go client alone achieves, signing
// each POST as webhookd does and sending it straight to the receivers.
type RawConfig struct {
	// Transport sends the POSTs, as webhookd's sender does: RoundTrip
	// itself, without an http.Client.
	Transport http.RoundTripper
	// Targets are sent to in turn, message i to Targets[i%len(Targets)].
	Targets []*Target
	// Count is the number of messages; Concurrency how many are in flight.
	Count       int
	Concurrency int
	Body        []byte
	Sign        SignFunc
}

// RawResult is what the baseline did.
type RawResult struct {
	Sent    int // answered 2xx
	Failed  int
	Elapsed time.Duration
	// Err is the first failure, if any.
	Err error
}

// PerSecond is the baseline's rate.
func (r RawResult) PerSecond() float64 { return Rate(r.Sent, r.Elapsed) }

// RunRaw sends cfg.Count signed POSTs with cfg.Concurrency workers and
// returns when all are answered or ctx ends.
func RunRaw(ctx context.Context, cfg RawConfig) RawResult {
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	var (
		next           atomic.Int64
		sent, failed   atomic.Int64
		firstErr       error
		errOnce        sync.Once
		wg             sync.WaitGroup
		recordErr      = func(err error) { errOnce.Do(func() { firstErr = err }) }
		idPrefix       = "msg_raw_" + strconv.FormatInt(time.Now().UnixNano(), 36) + "_"
		start          = time.Now()
		maxConcurrency = min(cfg.Concurrency, cfg.Count)
	)
	for range maxConcurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				n := int(next.Add(1)) - 1
				if n >= cfg.Count {
					return
				}
				t := cfg.Targets[n%len(cfg.Targets)]
				if err := postSigned(ctx, cfg.Transport, t, idPrefix+strconv.Itoa(n), cfg.Body, cfg.Sign); err != nil {
					failed.Add(1)
					recordErr(err)
					continue
				}
				sent.Add(1)
			}
		})
	}
	wg.Wait()
	return RawResult{Sent: int(sent.Load()), Failed: int(failed.Load()), Elapsed: time.Since(start), Err: firstErr}
}

func postSigned(ctx context.Context, rt http.RoundTripper, t *Target, id string, body []byte, sign SignFunc) error {
	ts := time.Now().Unix()
	sig, err := sign(t, id, ts, body)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	// Each POST has a deadline, as each of webhookd's attempts has.
	ctx, cancel := context.WithTimeout(ctx, rawTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URI, bytes.NewReader(body))
	if err != nil {
		return err
	}
	// The request webhookd's sender makes (delivery.sender.send): the same
	// headers, built the same way, through the transport itself.
	req.Header = http.Header{
		"Content-Type":      {"application/json"},
		"Webhook-Id":        {id},
		"Webhook-Timestamp": {strconv.FormatInt(ts, 10)},
		"Webhook-Signature": {sig},
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: status %d", t.URI, resp.StatusCode)
	}
	return nil
}

// rawTimeout bounds one POST of the baseline.
const rawTimeout = 30 * time.Second

// HMACSigner signs with signing.SignHMAC, the function webhookd's sender
// uses, under each target's key.
func HMACSigner(keys map[*Target][]byte) SignFunc {
	return func(t *Target, id string, ts int64, body []byte) (string, error) {
		k, ok := keys[t]
		if !ok {
			return "", fmt.Errorf("no HMAC key for %s", t.URI)
		}
		return signing.SignHMAC([][]byte{k}, id, ts, body), nil
	}
}

// RS256Signer signs delivery tokens as webhookd's key ring does (RS256,
// 2048-bit key, the same claims, through the same JWT library) with a key of
// its own, published by its JWKS handler. The raw baseline of the dynamic
// scenario uses it, so that both phases pay one RSA signature per message.
type RS256Signer struct {
	kid    string
	priv   *rsa.PrivateKey
	issuer string
}

// NewRS256Signer generates a key. issuer is the iss claim.
func NewRS256Signer(issuer string) (*RS256Signer, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate RSA key: %w", err)
	}
	var kid [8]byte
	_, _ = rand.Read(kid[:])
	return &RS256Signer{kid: "bench-" + base64.RawURLEncoding.EncodeToString(kid[:]), priv: priv, issuer: issuer}, nil
}

// tokenClaims mirror webhookd's delivery token claims.
type tokenClaims struct {
	jwt.RegisteredClaims
	WebhookID  string `json:"webhook_id"`
	EventType  string `json:"event_type"`
	BodySHA256 string `json:"body_sha256"`
}

// Token returns the JWT for one message to audience.
func (s *RS256Signer) Token(audience, id, eventType string, body []byte) (string, error) {
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			Audience:  jwt.ClaimStrings{audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(signing.TokenLifetime)),
		},
		WebhookID:  id,
		EventType:  eventType,
		BodySHA256: signing.BodySHA256(body),
	})
	tok.Header["kid"] = s.kid
	return tok.SignedString(s.priv)
}

// Sign returns a SignFunc for messages of eventType, audience the target URI.
func (s *RS256Signer) Sign(eventType string) SignFunc {
	return func(t *Target, id string, _ int64, body []byte) (string, error) {
		return s.Token(t.URI, id, eventType, body)
	}
}

// JWKSHandler serves the signer's public key.
func (s *RS256Signer) JWKSHandler() http.Handler {
	pub := s.priv.PublicKey
	doc, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": s.kid, "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	})
}

// SignRate measures how many RS256 delivery tokens per second this machine
// signs with every core busy (workers goroutines, count tokens in all): the
// ceiling of dynamic delivery, which signs one token per attempt.
func (s *RS256Signer) SignRate(ctx context.Context, workers, count int) (perSecond float64, elapsed time.Duration, err error) {
	body := []byte(`{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-01T00:00:00Z","data":{"id":"batches/rate"}}`)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range max(workers, 1) {
		wg.Go(func() {
			for ctx.Err() == nil && next.Add(1) <= int64(count) {
				if _, err := s.Token("http://127.0.0.1/hook", "msg_rate", "batch.succeeded", body); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed = time.Since(start)
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return 0, elapsed, errors.Join(errors.New("measure RS256 signing"), firstErr)
	}
	return Rate(count, elapsed), elapsed, nil
}
