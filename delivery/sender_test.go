package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/netguard"
	"github.com/webhookd/webhookd/signing"
)

func testSealer(t *testing.T) *signing.Sealer {
	t.Helper()
	key := make([]byte, signing.MasterKeySize)
	_, _ = rand.Read(key)
	s, err := signing.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// captured is one request a test receiver saw.
type captured struct {
	header http.Header
	body   []byte
}

// recorder is a loopback receiver that answers 204 and keeps every request.
func recorder(t *testing.T) (*httptest.Server, <-chan captured) {
	t.Helper()
	got := make(chan captured, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- captured{header: r.Header.Clone(), body: body}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func testSender(t *testing.T, rt http.RoundTripper, sealer *signing.Sealer, jwt JWTSigner, timeout time.Duration) *sender {
	t.Helper()
	if rt == nil {
		tr := NewTransport(nil)
		t.Cleanup(tr.CloseIdleConnections)
		rt = tr
	}
	return newSender(rt, sealer, jwt, "https://webhookd.test", timeout, true, false)
}

func staticClaim(uri string, payload string, secrets ...webhookd.SigningSecret) *webhookd.Claim {
	return &webhookd.Claim{
		Delivery: &webhookd.Delivery{
			ID: webhookd.NewID(webhookd.PrefixDelivery), EventID: webhookd.NewID(webhookd.PrefixEvent),
			Kind: webhookd.DeliveryStatic, WebhookID: "wh_test", URI: uri, State: webhookd.DeliveryPending,
		},
		EventType:    webhookd.EventBatchSucceeded,
		Payload:      []byte(payload),
		WebhookState: webhookd.WebhookEnabled,
		Secrets:      secrets,
	}
}

func sealedSecret(s *signing.Sealer, secret string, expire *time.Time) webhookd.SigningSecret {
	return webhookd.SigningSecret{ID: webhookd.NewID(webhookd.PrefixSecret), Sealed: s.Seal([]byte(secret)), ExpireTime: expire}
}

func TestSendStaticVerifiesWithOfficialLibrary(t *testing.T) {
	t.Parallel()
	sealer := testSealer(t)
	srv, got := recorder(t)
	current, previous, revoked := signing.GenerateSecret(), signing.GenerateSecret(), signing.GenerateSecret()
	now := time.Now().UTC()
	graceEnd, revokedAt := now.Add(time.Hour), now.Add(-time.Second)
	payload := `{"type":"batch.succeeded","version":"v1","timestamp":"2026-03-01T12:00:00Z","data":{"id":"batches/1","note":"ünïcode"}}`
	c := staticClaim(srv.URL+"/hook?x=1", payload,
		sealedSecret(sealer, current, nil),
		sealedSecret(sealer, previous, &graceEnd),
		sealedSecret(sealer, revoked, &revokedAt))

	r, err := testSender(t, nil, sealer, nil, 5*time.Second).send(t.Context(), c, now)
	if err != nil || r.err != nil {
		t.Fatalf("send: %v / %v", err, r.err)
	}
	if r.statusCode != http.StatusNoContent {
		t.Errorf("status = %d", r.statusCode)
	}
	req := <-got
	if string(req.body) != payload {
		t.Errorf("body = %q, want the payload exactly", req.body)
	}
	for h, want := range map[string]string{
		"Content-Type":      "application/json",
		"User-Agent":        "webhookd/" + webhookd.Version,
		"webhook-id":        c.Delivery.EventID,
		"webhook-timestamp": strconv.FormatInt(now.Unix(), 10),
	} {
		if g := req.header.Get(h); g != want {
			t.Errorf("%s = %q, want %q", h, g, want)
		}
	}
	if n := len(strings.Fields(req.header.Get("webhook-signature"))); n != 2 {
		t.Errorf("webhook-signature has %d signatures, want 2 (current and in-grace)", n)
	}
	for name, secret := range map[string]string{"current": current, "previous, in grace": previous} {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(req.body, req.header); err != nil {
			t.Errorf("%s secret does not verify: %v", name, err)
		}
	}
	wh, _ := standardwebhooks.NewWebhook(revoked)
	if err := wh.Verify(req.body, req.header); err == nil {
		t.Error("revoked secret still verifies")
	}
}

// tokenRecorder is a JWTSigner that keeps what it was asked to sign; the RS256
// signing itself belongs to package signing and is tested there.
type tokenRecorder struct {
	mu     sync.Mutex
	tokens []signing.DeliveryToken
}

func (r *tokenRecorder) SignDelivery(tok signing.DeliveryToken) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokens = append(r.tokens, tok)
	return "jwt." + tok.Audience, nil
}

func TestSendDynamic(t *testing.T) {
	t.Parallel()
	srv, got := recorder(t)
	tests := []struct {
		name, audience, wantAud string
	}{
		{"audience defaults to the URI", "", srv.URL + "/dyn"},
		{"project audience", "client-123", "client-123"},
	}
	for _, tt := range tests {
		signer := &tokenRecorder{}
		c := staticClaim(srv.URL+"/dyn", `{"a":1}`)
		c.Delivery.Kind, c.Delivery.WebhookID, c.WebhookState, c.Audience = webhookd.DeliveryDynamic, "", "", tt.audience
		now := time.Now().UTC()
		r, err := testSender(t, nil, nil, signer, 5*time.Second).send(t.Context(), c, now)
		if err != nil || r.err != nil {
			t.Fatalf("%s: send: %v / %v", tt.name, err, r.err)
		}
		req := <-got
		if g := req.header.Get("webhook-signature"); g != "jwt."+tt.wantAud {
			t.Errorf("%s: webhook-signature = %q", tt.name, g)
		}
		tok := signer.tokens[0]
		want := signing.DeliveryToken{Issuer: "https://webhookd.test", Audience: tt.wantAud, WebhookID: c.Delivery.EventID, EventType: c.EventType, Body: c.Payload, IssuedAt: now}
		if tok.Issuer != want.Issuer || tok.Audience != want.Audience || tok.WebhookID != want.WebhookID ||
			tok.EventType != want.EventType || string(tok.Body) != string(want.Body) || !tok.IssuedAt.Equal(now) {
			t.Errorf("%s: token = %+v, want %+v", tt.name, tok, want)
		}
	}
}

func TestSendFailures(t *testing.T) {
	t.Parallel()
	sealer := testSealer(t)
	secret := sealedSecret(sealer, signing.GenerateSecret(), nil)

	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(strings.Repeat("x", 100<<10)))
	})
	mux.HandleFunc("/302", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/followed", http.StatusFound)
	})
	followed := make(chan struct{}, 1)
	mux.HandleFunc("/followed", func(w http.ResponseWriter, r *http.Request) { followed <- struct{}{} })
	mux.HandleFunc("/429", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		// The server notices a client that went away only once the body
		// has been read.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	mux.HandleFunc("/reset", func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		_ = conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	tlsSrv := httptest.NewUnstartedServer(mux)          // its certificate is not trusted by the sender
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are the point
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	t.Cleanup(func() { close(release) }) // runs before the servers close
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()

	// A resolver whose only server is a closed loopback port: lookups fail
	// without a packet leaving the host.
	noDNS := &net.Dialer{Resolver: &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", closedAddr)
	}}}
	dnsTransport := NewTransport(noDNS.DialContext)
	guarded := NewTransport(netguard.New(netguard.Options{}).DialContext)
	_, srvPort, _ := net.SplitHostPort(srv.Listener.Addr().String())
	t.Cleanup(dnsTransport.CloseIdleConnections)
	t.Cleanup(guarded.CloseIdleConnections)

	tests := []struct {
		name       string
		uri        string
		rt         http.RoundTripper
		allowHTTP  bool
		stage      Stage
		status     int
		msg        string
		retryAfter time.Duration
	}{
		{"500", srv.URL + "/500", nil, true, StageStatus, 500, "receiver answered 500 Internal Server Error", 0},
		{"302 not followed", srv.URL + "/302", nil, true, StageStatus, 302, "receiver answered 302 Found; redirects are not followed (Location: /followed)", 0},
		{"429 with Retry-After", srv.URL + "/429", nil, true, StageStatus, 429, "receiver answered 429 Too Many Requests (Retry-After: 3)", 3 * time.Second},
		{"hangs past the timeout", srv.URL + "/hang", nil, true, StageTimeout, 0, "no response from " + srv.Listener.Addr().String() + " within 200ms", 0},
		{"resets the connection", srv.URL + "/reset", nil, true, StageConnection, 0, srv.Listener.Addr().String(), 0},
		{"connection refused", "http://" + closedAddr + "/", nil, true, StageConnect, 0, "could not connect to " + closedAddr + ": connect: connection refused", 0},
		{"untrusted certificate", tlsSrv.URL + "/500", nil, true, StageTLS, 0, "TLS handshake with 127.0.0.1 failed: ", 0},
		{"DNS failure", "http://nosuchhost.invalid/", dnsTransport, true, StageDNS, 0, "DNS lookup of nosuchhost.invalid failed", 0},
		{"netguard refusal of a host name", "http://localhost:" + srvPort + "/500", guarded, true, StageRefused, 0, "destination localhost is not allowed or does not resolve", 0},
		{"netguard refusal of an IP literal is permanent", srv.URL + "/500", guarded, true, StageRequest, 0, "destination is not allowed", 0},
		{"http not allowed", srv.URL + "/500", nil, false, StageRequest, 0, "destination uses http; only https is allowed", 0},
		{"unsupported scheme in dev mode", "ftp://example.test/x", nil, true, StageRequest, 0, `destination scheme "ftp" is not supported; use http or https`, 0},
		{"unsupported scheme", "ftp://example.test/x", nil, false, StageRequest, 0, `destination scheme "ftp" is not supported; use https`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			timeout := 5 * time.Second // a TLS handshake under -race can be slow
			if tt.stage == StageTimeout {
				timeout = 200 * time.Millisecond
			}
			s := testSender(t, tt.rt, sealer, nil, timeout)
			s.allowHTTP = tt.allowHTTP
			r, err := s.send(t.Context(), staticClaim(tt.uri, `{}`, secret), time.Now())
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			if r.err == nil {
				t.Fatalf("send succeeded (status %d), want a %s failure", r.statusCode, tt.stage)
			}
			if r.err.Stage != tt.stage || r.err.StatusCode != tt.status || r.statusCode != tt.status {
				t.Errorf("failure = %s/%d (attempt status %d): %q; want %s/%d", r.err.Stage, r.err.StatusCode, r.statusCode, r.err.Message, tt.stage, tt.status)
			}
			if !strings.Contains(r.err.Message, tt.msg) {
				t.Errorf("message = %q, want it to contain %q", r.err.Message, tt.msg)
			}
			if r.retryAfter != tt.retryAfter {
				t.Errorf("retryAfter = %v, want %v", r.retryAfter, tt.retryAfter)
			}
			if len(r.body) > MaxResponseKept {
				t.Errorf("kept %d bytes of the response body, want at most %d", len(r.body), MaxResponseKept)
			}
			if wantRetry := tt.stage != StageRequest; r.err.Retryable() != wantRetry {
				t.Errorf("Retryable() = %v, want %v", r.err.Retryable(), wantRetry)
			}
		})
	}
	select {
	case <-followed:
		t.Error("a redirect was followed")
	default:
	}
}

func TestSendSignFailures(t *testing.T) {
	t.Parallel()
	sealer := testSealer(t)
	past := time.Now().Add(-time.Minute)
	other := testSealer(t)
	tests := []struct {
		name  string
		claim *webhookd.Claim
		msg   string
	}{
		{"dynamic without a signer", func() *webhookd.Claim {
			c := staticClaim("http://127.0.0.1:1/", `{}`)
			c.Delivery.Kind = webhookd.DeliveryDynamic
			return c
		}(), "dynamic signing is not configured"},
		{"no secrets", staticClaim("http://127.0.0.1:1/", `{}`), "the webhook has no live signing secret"},
		{"only expired secrets", staticClaim("http://127.0.0.1:1/", `{}`, sealedSecret(sealer, signing.GenerateSecret(), &past)), "the webhook has no live signing secret"},
		{"sealed under another key", staticClaim("http://127.0.0.1:1/", `{}`, sealedSecret(other, signing.GenerateSecret(), nil)), "cannot open signing secret"},
	}
	for _, tt := range tests {
		r, err := testSender(t, nil, sealer, nil, time.Second).send(t.Context(), tt.claim, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if r.err == nil || r.err.Stage != StageSign || !strings.Contains(r.err.Message, tt.msg) || r.err.Retryable() {
			t.Errorf("%s: failure = %+v, want a permanent sign failure containing %q", tt.name, r.err, tt.msg)
		}
	}
}

func TestSendReturnsContextErrorOnShutdown(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		close(entered)
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	sealer := testSealer(t)
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-entered; cancel() }()
	_, err := testSender(t, nil, sealer, nil, 10*time.Second).send(ctx, staticClaim(srv.URL, `{}`, sealedSecret(sealer, signing.GenerateSecret(), nil)), time.Now())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("send = %v, want context.Canceled", err)
	}
}

// TestRefusalsSayNoMore: outside development mode a refused destination
// and a host name that does not exist read the same on the attempt (the API
// shows it), so that the API cannot map the internal network; the refused
// address and its class are in Detail, for the log. In development mode the
// attempt says everything.
func TestRefusalsSayNoMore(t *testing.T) {
	t.Parallel()
	dial := func(err error) error {
		return &url.Error{Op: "Post", Err: &net.OpError{Op: "dial", Net: "tcp", Err: err}}
	}
	loopback := &netguard.RefusedError{Addr: netip.MustParseAddr("127.0.0.1"), Class: netguard.Loopback}
	metadata := &netguard.RefusedError{Addr: netip.MustParseAddr("169.254.169.254"), Class: netguard.Metadata}
	tests := []struct {
		name         string
		uri          string
		err          error
		show         bool
		stage        Stage
		msg, detail  string // detail "" means the same as msg
		wantRetrying bool
	}{
		{"name refused", "https://db.internal/x", dial(loopback), false, StageRefused,
			"destination db.internal is not allowed or does not resolve", "db.internal resolved to a refused address: destination 127.0.0.1 is a loopback address", true},
		{"name missing", "https://nope.internal/x", dial(&net.DNSError{Err: "no such host", Name: "nope.internal", IsNotFound: true}), false, StageRefused,
			"destination nope.internal is not allowed or does not resolve", "DNS lookup of nope.internal failed: no such host", true},
		{"literal refused", "https://169.254.169.254/latest", dial(metadata), false, StageRequest,
			"destination is not allowed", "destination 169.254.169.254 is a cloud metadata address", false},
		{"name missing, dev mode", "http://nope.internal/x", dial(&net.DNSError{Err: "no such host", Name: "nope.internal", IsNotFound: true}), true, StageDNS,
			"DNS lookup of nope.internal failed: no such host", "", true},
		{"name refused, dev mode", "https://db.internal/x", dial(loopback), true, StageRefused,
			"db.internal resolved to a refused address: destination 127.0.0.1 is a loopback address; refused (set WEBHOOKD_DEV=1 or allow-list it)", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, _ := url.Parse(tt.uri)
			e := failedFromError(tt.err, u, time.Second, tt.show).err
			detail := tt.detail
			if detail == "" {
				detail = tt.msg
			}
			if e.Stage != tt.stage || e.Message != tt.msg || !strings.HasPrefix(e.LogText(), detail) || e.Retryable() != tt.wantRetrying {
				t.Errorf("got %s %q (log: %q, retryable %v); want %s %q (log: %q…, retryable %v)",
					e.Stage, e.Message, e.LogText(), e.Retryable(), tt.stage, tt.msg, detail, tt.wantRetrying)
			}
		})
	}
}

// TestRefusalDetailIsLogged: the failure line of the log says what the API
// does not: the refused address and its class.
func TestRefusalDetailIsLogged(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	f := newFailureLog(slog.New(slog.NewTextHandler(&buf, nil)), webhookd.SystemClock{}, time.Minute)
	t.Cleanup(f.stop)
	u, _ := url.Parse("https://db.internal/x")
	refused := &netguard.RefusedError{Addr: netip.MustParseAddr("10.0.0.7"), Class: netguard.Private}
	r := failedFromError(&net.OpError{Op: "dial", Net: "tcp", Err: refused}, u, time.Second, false)
	f.note("https://db.internal:443", r.err, false, "")
	if got := buf.String(); !strings.Contains(got, "destination 10.0.0.7 is a private-network address") {
		t.Fatalf("log line %q does not name the refused address and its class", got)
	}
}

func TestKeepHeaders(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("v", 300)
	many := http.Header{}
	for i := range 100 {
		many.Set(fmt.Sprintf("X-Header-%03d", i), "some value")
	}
	tests := []struct {
		name string
		h    http.Header
		want func(string) bool
	}{
		{"none", http.Header{}, func(s string) bool { return s == "" }},
		{"sorted lines", http.Header{"B": {"2"}, "A": {"1", "1b"}}, func(s string) bool { return s == "A: 1\nA: 1b\nB: 2" }},
		{"a long value is cut", http.Header{"X": {long}}, func(s string) bool { return strings.HasPrefix(s, "X: vvv") && len(s) < 270 }},
		{"bounded", many, func(s string) bool {
			return len(s) <= MaxHeadersKept && strings.HasPrefix(s, "X-Header-000: some value\n") && !strings.Contains(s, "X-Header-099")
		}},
		{"invalid UTF-8 replaced", http.Header{"X": {"a\xffb"}}, func(s string) bool { return s == "X: a\uFFFDb" }},
	}
	for _, tt := range tests {
		if got := keepHeaders(tt.h); !tt.want(got) {
			t.Errorf("%s: keepHeaders = %q", tt.name, got)
		}
	}
}
