package receiver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/signing"
	"github.com/webhookd/webhookd/sqlite"
)

// hmacVector is one case of the golden file that package signing generates.
type hmacVector struct {
	Name      string   `json:"name"`
	Secrets   []string `json:"secrets"`
	MsgID     string   `json:"msg_id"`
	Timestamp int64    `json:"timestamp"`
	Body      string   `json:"body"`
	Signature string   `json:"signature"`
}

func loadVectors(t testing.TB) []hmacVector {
	t.Helper()
	b, err := os.ReadFile("../signing/testdata/hmac_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Vectors []hmacVector }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	return f.Vectors
}

func (v hmacVector) header() http.Header {
	return webhookHeader(v.MsgID, v.Timestamp, v.Signature)
}

func webhookHeader(id string, ts int64, sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", sig)
	return h
}

// isJSONObject tells which vectors carry a body Verify parses as an envelope.
func isJSONObject(body string) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal([]byte(body), &m) == nil
}

var epoch = time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)

const (
	testSecret = "whsec_Yb7bbVSmH4vYMy1SAmKQS9QY8IhGSzvs8mwPXefMHfg="
	testBody   = `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batches/b1","output_file_uri":"files/b1-results.jsonl","error_count":0,"user_metadata":{"job_group":"nightly-eval"}}}`
)

// signedHMAC returns the headers webhookd sends for body with secret at ts.
func signedHMAC(t testing.TB, secret, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	key, err := signing.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return webhookHeader(id, ts.Unix(), signing.SignHMAC([][]byte{key}, id, ts.Unix(), body))
}

// openKeyStore opens the sender's key store: webhookd's embedded SQLite.
func openKeyStore(t testing.TB, clock webhookd.Clock) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "webhookd.db"), sqlite.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// sender is webhookd's signing side of a dynamic delivery: a key ring and
// its JWKS served on loopback.
type sender struct {
	clock   *fakeclock.Clock
	ring    *signing.KeyRing
	srv     *httptest.Server
	fetches atomic.Int64
	down    atomic.Bool
}

const (
	testIssuer   = "https://webhookd.test"
	testAudience = "https://receiver.test/hook"
)

func newSender(t testing.TB, clock *fakeclock.Clock) *sender {
	t.Helper()
	sealer, err := signing.NewSealer(bytes.Repeat([]byte{1}, signing.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := signing.NewKeyRing(context.Background(), signing.KeyRingConfig{
		Store:  openKeyStore(t, clock),
		Sealer: sealer,
		Clock:  clock,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &sender{clock: clock, ring: ring}
	jwks := ring.JWKSHandler()
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if s.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		jwks.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sender) jwksURL() string { return s.srv.URL + signing.JWKSPath }

// sign returns the headers of a dynamic delivery of body.
func (s *sender) sign(t testing.TB, id string, body []byte) http.Header {
	t.Helper()
	typ := ""
	var env struct{ Type string }
	if json.Unmarshal(body, &env) == nil {
		typ = env.Type
	}
	tok, err := s.ring.SignDelivery(signing.DeliveryToken{
		Issuer:    testIssuer,
		Audience:  testAudience,
		WebhookID: id,
		EventType: typ,
		Body:      body,
		IssuedAt:  s.clock.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return webhookHeader(id, s.clock.Now().Unix(), tok)
}

// mutateByte returns s with byte i changed.
func mutateByte(s string, i int) string {
	b := []byte(s)
	b[i] ^= 0x01
	return string(b)
}

func contains(err error, substr string) bool {
	return err != nil && strings.Contains(err.Error(), substr)
}
