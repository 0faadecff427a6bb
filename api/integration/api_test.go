package integration_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/api"
	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/signing"
	"github.com/webhookd/webhookd/sqlite"
)

// epoch is where every test's clock starts; it has no sub-microsecond part,
// as stores keep microseconds.
var epoch = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// bundle is what one test works with: a real SQLite store in a temporary
// directory, a fake clock, the API on a loopback server, and a project with
// an API key.
type bundle struct {
	ctx     context.Context
	store   *sqlite.Store
	clock   *fakeclock.Clock
	srv     *httptest.Server
	api     *api.Server
	reg     *prometheus.Registry
	project *webhookd.Project
	key     string
	// woken counts the store's wake-ups of delivery engines: the API
	// wakes nothing itself, the store that commits does.
	woken atomic.Int64
}

// setup starts the API with the defaults a deployment uses; edit adjusts
// the config before it starts.
func setup(t *testing.T, edit ...func(*api.Config)) *bundle {
	t.Helper()
	b := &bundle{ctx: t.Context(), clock: fakeclock.New(epoch), reg: prometheus.NewRegistry()}
	logger := slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store, err := sqlite.Open(b.ctx, filepath.Join(t.TempDir(), "webhookd.db"), sqlite.Options{Clock: b.clock, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	b.store = store
	b.project, b.key = b.newProject(t, "test")
	b.listen(t)

	cfg := api.Config{
		Store:      store,
		Sealer:     mustSealer(t),
		Clock:      b.clock,
		Logger:     logger,
		Registerer: b.reg,
	}
	for _, e := range edit {
		e(&cfg)
	}
	if b.api, err = api.New(cfg); err != nil {
		t.Fatal(err)
	}
	b.srv = httptest.NewServer(validated(t, b.api, cfg.PathPrefix))
	t.Cleanup(b.srv.Close)
	return b
}

// listen counts the store's wake-ups in b.woken from now on: Listen wakes
// once when it starts listening, and that one is not counted.
func (b *bundle) listen(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.store.Listen(ctx, func() { b.woken.Add(1) })
	}()
	t.Cleanup(func() { cancel(); <-done })
	for b.woken.Load() == 0 {
		runtime.Gosched()
	}
	b.woken.Store(0)
}

// newProject creates a project with one API key and returns both.
func (b *bundle) newProject(t *testing.T, name string) (*webhookd.Project, string) {
	t.Helper()
	p := &webhookd.Project{ID: webhookd.NewID(webhookd.PrefixProject), Name: name, CreateTime: b.clock.Now()}
	if err := b.store.CreateProject(b.ctx, p); err != nil {
		t.Fatal(err)
	}
	key, rec := webhookd.GenerateAPIKey(p.ID, "test key", b.clock)
	if err := b.store.CreateAPIKey(b.ctx, rec); err != nil {
		t.Fatal(err)
	}
	return p, key
}

// tWriter sends log lines to the test log, so they show only on failure.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// response is an answer of the API, read in full.
type response struct {
	code   int
	header http.Header
	body   []byte
}

// call sends method path with body (none when "") and the bundle's API key,
// the way the document's curl examples do.
func (b *bundle) call(t *testing.T, method, path, body string) *response {
	t.Helper()
	return b.callKey(t, b.key, method, path, body)
}

func (b *bundle) callKey(t *testing.T, key, method, path, body string) *response {
	t.Helper()
	req := b.request(t, method, path, body)
	if key != "" {
		req.Header.Set("x-goog-api-key", key)
	}
	return b.send(t, req)
}

func (b *bundle) request(t *testing.T, method, path, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(b.ctx, method, b.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func (b *bundle) send(t *testing.T, req *http.Request) *response {
	t.Helper()
	res, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := &response{code: res.StatusCode, header: res.Header, body: body}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, want application/json; body %s", req.Method, req.URL, ct, body)
	}
	if !json.Valid(body) {
		t.Fatalf("%s %s: body is not JSON: %q", req.Method, req.URL, body)
	}
	return r
}

// ok fails t unless the response is a 200, and decodes its body into v.
func (r *response) ok(t *testing.T, v any) {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", r.code, r.body)
	}
	if v != nil {
		// Decode into a zeroed value: fields a response omits must not keep
		// what an earlier response put there.
		reflect.ValueOf(v).Elem().SetZero()
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("decode %s: %v", r.body, err)
		}
	}
}

// apiError is the Google error format.
type apiError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

// fails checks that the response is an error in the Google format with
// code and canonical status, whose message contains text.
func (r *response) fails(t *testing.T, code int, status, text string) {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	if r.code != code || e.Error.Code != code || e.Error.Status != status || !strings.Contains(e.Error.Message, text) {
		t.Fatalf("answer %d %s, want %d %s with message containing %q", r.code, r.body, code, status, text)
	}
}

// webhook is the wire shape of a webhook, as a strict client reads it.
type webhook struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	URI              string            `json:"uri"`
	SubscribedEvents []string          `json:"subscribed_events"`
	Headers          map[string]string `json:"headers"`
	Filter           string            `json:"filter"`
	State            string            `json:"state"`
	SigningSecrets   []struct {
		TruncatedSecret string `json:"truncated_secret"`
		ExpireTime      string `json:"expire_time"`
	} `json:"signing_secrets"`
	CreateTime       string `json:"create_time"`
	UpdateTime       string `json:"update_time"`
	NewSigningSecret string `json:"new_signing_secret"`
}

// createWebhook creates a webhook over REST and returns it.
func (b *bundle) createWebhook(t *testing.T, body string) webhook {
	t.Helper()
	var w webhook
	b.call(t, "POST", "/v1/webhooks", body).ok(t, &w)
	return w
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sealer, _ := signing.NewSealer(make([]byte, signing.MasterKeySize))
	tests := []struct {
		name string
		cfg  api.Config
		want string
	}{
		{"no store", api.Config{Sealer: sealer}, "Store is required"},
		{"no sealer", api.Config{Store: b.store}, "Sealer is required"},
		{"relative prefix", api.Config{Store: b.store, Sealer: sealer, PathPrefix: "proxy"}, "must start with /"},
		{"trailing slash", api.Config{Store: b.store, Sealer: sealer, PathPrefix: "/proxy/"}, "must not end with /"},
		{"query in prefix", api.Config{Store: b.store, Sealer: sealer, PathPrefix: "/p?x"}, "plain path"},
		{"negative body limit", api.Config{Store: b.store, Sealer: sealer, MaxBodyBytes: -1}, "MaxBodyBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := api.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := api.New(api.Config{Store: b.store, Sealer: sealer, PathPrefix: "/gemini-proxy"}); err != nil {
		t.Fatalf("New with a valid config = %v", err)
	}
}

// dump renders v for failure messages.
func dump(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// counterValue returns the value of the counter series name{labels} in the
// bundle's registry, 0 when it does not exist.
func counterValue(t *testing.T, b *bundle, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := b.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func mustSealer(t *testing.T) *signing.Sealer {
	t.Helper()
	master := make([]byte, signing.MasterKeySize)
	_, _ = rand.Read(master)
	s, err := signing.NewSealer(master)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
