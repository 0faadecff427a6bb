package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/signing"
	"github.com/webhookd/webhookd/sqlite"
)

// outBuffer is a concurrency-safe stdout that tells waiters about writes.
type outBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{}
}

func newOutBuffer() *outBuffer { return &outBuffer{written: make(chan struct{}, 1)} }

func (b *outBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case b.written <- struct{}{}:
	default:
	}
	return b.buf.Write(p)
}

func (b *outBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits for the output to match re and returns the first submatch.
func (b *outBuffer) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		if m := re.FindStringSubmatch(b.String()); m != nil {
			return m
		}
		select {
		case <-b.written:
		case <-timeout.C:
			t.Fatalf("output never matched %s:\n%s", re, b.String())
		}
	}
}

const (
	recvSecret = "whsec_Yb7bbVSmH4vYMy1SAmKQS9QY8IhGSzvs8mwPXefMHfg="
	recvBody   = `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batches/b1","error_count":0}}`
)

func hmacRequest(t *testing.T, url, id, secret string) *http.Request {
	t.Helper()
	key, err := signing.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Now().Unix()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(recvBody))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", signing.SignHMAC([][]byte{key}, id, ts, []byte(recvBody)))
	return req
}

func send(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// startReceive runs the command on a free loopback port and returns its URL.
func startReceive(t *testing.T, args ...string) (string, *outBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out := newOutBuffer()
	done := make(chan error, 1)
	go func() { done <- runReceive(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), out, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runReceive: %v", err)
		}
	})
	m := out.waitFor(t, regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)/`))
	return m[1], out
}

func TestReceiveHMAC(t *testing.T) {
	t.Parallel()
	url, out := startReceive(t, "--secret", signing.GenerateSecret(), "--secret", recvSecret)

	if got := send(t, hmacRequest(t, url+"/gemini-callback", "msg_1", recvSecret)); got != http.StatusOK {
		t.Fatalf("status %d", got)
	}
	out.waitFor(t, regexp.MustCompile(`POST /gemini-callback id=msg_1 type=batch\.succeeded kind=hmac verified=yes duplicate=no -> 200\n\{\n  "type": "batch\.succeeded",`))

	if got := send(t, hmacRequest(t, url, "msg_1", recvSecret)); got != http.StatusOK {
		t.Fatalf("duplicate: status %d", got)
	}
	out.waitFor(t, regexp.MustCompile(`id=msg_1 type=batch\.succeeded kind=hmac verified=yes duplicate=yes -> 200`))

	if got := send(t, hmacRequest(t, url, "msg_2", signing.GenerateSecret())); got != http.StatusUnauthorized {
		t.Fatalf("wrong secret: status %d", got)
	}
	out.waitFor(t, regexp.MustCompile(`id=msg_2 verified=NO reason="invalid webhook signature: [^"]*" -> 401`))
}

func TestReceiveJWT(t *testing.T) {
	t.Parallel()
	sealer, err := signing.NewSealer(make([]byte, signing.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "webhookd.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	ring, err := signing.NewKeyRing(t.Context(), signing.KeyRingConfig{Store: store, Sealer: sealer, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(ring.JWKSHandler())
	t.Cleanup(jwks.Close)
	url, out := startReceive(t, "--jwks-url", jwks.URL+signing.JWKSPath, "--audience", "my-client-id")

	tok, err := ring.SignDelivery(signing.DeliveryToken{
		Issuer: "http://webhookd.test", Audience: "my-client-id", WebhookID: "msg_j",
		EventType: "batch.succeeded", Body: []byte(recvBody),
	})
	if err != nil {
		t.Fatal(err)
	}
	req := hmacRequest(t, url, "msg_j", recvSecret)
	req.Header.Set("webhook-signature", tok)
	if got := send(t, req); got != http.StatusOK {
		t.Fatalf("status %d", got)
	}
	out.waitFor(t, regexp.MustCompile(`id=msg_j type=batch\.succeeded kind=jwt verified=yes duplicate=no -> 200`))
}

func TestReceiveSimulatesTrouble(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		random float64
		want   []int // statuses of two deliveries of the same message
	}{
		{"always --status", []string{"--status", "503"}, 0.5, []int{503, 503}},
		{"always --status 204", []string{"--status", "204"}, 0.5, []int{204, 204}},
		{"fail-rate hit, default 500", []string{"--fail-rate", "0.2"}, 0.1, []int{500, 500}},
		{"fail-rate hit with --status", []string{"--fail-rate", "0.2", "--status", "429"}, 0.1, []int{429, 429}},
		{"fail-rate missed", []string{"--fail-rate", "0.2"}, 0.3, []int{200, 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := parseReceiveFlags(append([]string{"--secret", recvSecret}, tt.args...), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			v, err := newReceiveVerifier(o)
			if err != nil {
				t.Fatal(err)
			}
			out := newOutBuffer()
			srv := httptest.NewServer(&receiveHandler{opts: o, verifier: v, out: &printer{w: out}, random: func() float64 { return tt.random }})
			t.Cleanup(srv.Close)
			for i, want := range tt.want {
				if got := send(t, hmacRequest(t, srv.URL, "msg_t", recvSecret)); got != want {
					t.Fatalf("delivery %d: status %d, want %d\n%s", i+1, got, want, out.String())
				}
			}
			// A failed delivery is not remembered: its retry is not a duplicate.
			if tt.want[0] >= 300 && strings.Contains(out.String(), "duplicate=yes") {
				t.Fatalf("retry of a failed delivery taken for a duplicate:\n%s", out.String())
			}
		})
	}
}

func TestReceiveDelay(t *testing.T) {
	t.Parallel()
	url, _ := startReceive(t, "--secret", recvSecret, "--delay", "40ms")
	start := time.Now()
	if got := send(t, hmacRequest(t, url, "msg_d", recvSecret)); got != http.StatusOK {
		t.Fatalf("status %d", got)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("answered after %v, before the 40ms delay", d)
	}
}

func TestReceiveUnverified(t *testing.T) {
	t.Parallel()
	url, out := startReceive(t)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/x", strings.NewReader("not json"))
	if got := send(t, req); got != http.StatusOK {
		t.Fatalf("status %d", got)
	}
	out.waitFor(t, regexp.MustCompile(`UNVERIFIED`))
	out.waitFor(t, regexp.MustCompile(`POST /x id=- verified=no \(no secret or JWKS configured\) -> 200\nnot json\n`))
}

func TestReceiveFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr error
	}{
		{"defaults", nil, nil},
		{"everything", []string{"--addr", ":9000", "--secret", recvSecret, "--secret", recvSecret, "--jwks-url", "http://x/.well-known/jwks.json", "--audience", "a", "--issuer", "i", "--tolerance", "1m", "--fail-rate", "0.5", "--delay", "2s", "--status", "503"}, nil},
		{"help", []string{"-h"}, flag.ErrHelp},
		{"unknown flag", []string{"--nope"}, errUsage},
		{"fail-rate above 1", []string{"--fail-rate", "1.5"}, errUsage},
		{"negative fail-rate", []string{"--fail-rate", "-0.1"}, errUsage},
		{"status out of range", []string{"--status", "99"}, errUsage},
		{"jwks without audience", []string{"--jwks-url", "http://x"}, errUsage},
		{"zero tolerance", []string{"--tolerance", "0s"}, errUsage},
		{"stray argument", []string{"extra"}, errUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := parseReceiveFlags(tt.args, io.Discard)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.name == "everything" && (len(o.secrets) != 2 || o.status != 503 || o.delay != 2*time.Second || o.failRate != 0.5) {
				t.Fatalf("options = %+v", o)
			}
			if tt.name == "defaults" && (o.addr != "127.0.0.1:8000" || o.tolerance != 5*time.Minute) {
				t.Fatalf("defaults = %+v", o)
			}
		})
	}
	// A malformed secret is a usage error of the command, not a crash.
	if err := runReceive(t.Context(), []string{"--secret", "whsec_***"}, io.Discard, io.Discard); !errors.Is(err, errUsage) {
		t.Fatalf("bad secret: err = %v", err)
	}
	// The secrets never show in flag output.
	var s secretList
	_ = s.Set(recvSecret)
	if strings.Contains(s.String(), "whsec_") {
		t.Fatal("secretList.String shows the secret")
	}
}

// TestReceiveVerifiesServe runs both halves for real: `webhookd serve`
// delivers and an in-process `receive` verifies a static webhook's ping
// (HMAC) and a dynamic delivery (a JWT checked against the server's JWKS,
// its public URL as issuer, the destination URI as audience).
func TestReceiveVerifiesServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	bin := buildBinary(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr
	startServer(t, bin, dir, []string{
		"WEBHOOKD_ADDR=" + addr,
		"WEBHOOKD_DB=sqlite:" + filepath.Join(dir, "webhookd.db"),
		"WEBHOOKD_API_KEY=" + crashAPIKey,
		"WEBHOOKD_DEV=1",
		"WEBHOOKD_MASTER_KEY_FILE=" + filepath.Join(dir, "master.key"),
		"WEBHOOKD_PUBLIC_URL=" + base,
		"WEBHOOKD_LOG_LEVEL=warn",
	}, base)

	dynAddr := freeAddr(t)
	dynURI := "http://" + dynAddr + "/dynamic"
	_, dynOut := startReceive(t, "--addr", dynAddr, "--jwks-url", base+signing.JWKSPath, "--audience", dynURI, "--issuer", base)
	var ev struct {
		ID string `json:"id"`
	}
	call(t, base, "POST", "/v1/events", map[string]any{
		"type":           "batch.succeeded",
		"data":           map[string]any{"id": "batches/e2e", "output_file_uri": "files/e2e.jsonl", "error_count": 0},
		"webhook_config": map[string]any{"uris": []string{dynURI}, "user_metadata": map[string]string{"job_group": "e2e"}},
	}, &ev)
	dynOut.waitFor(t, regexp.MustCompile(`POST /dynamic id=`+regexp.QuoteMeta(ev.ID)+` type=batch\.succeeded kind=jwt verified=yes duplicate=no -> 200\n(?s:.*)"job_group": "e2e"`))

	staticAddr := freeAddr(t)
	var wh struct {
		ID     string `json:"id"`
		Secret string `json:"new_signing_secret"`
	}
	call(t, base, "POST", "/v1/webhooks", map[string]any{"uri": "http://" + staticAddr + "/static", "subscribed_events": []string{"batch.succeeded"}}, &wh)
	_, staticOut := startReceive(t, "--addr", staticAddr, "--secret", wh.Secret)
	call(t, base, "POST", "/v1/webhooks/"+wh.ID+":ping", map[string]any{}, nil)
	staticOut.waitFor(t, regexp.MustCompile(`POST /static id=msg_\w+ type=webhook\.ping kind=hmac verified=yes duplicate=no -> 200`))
}
