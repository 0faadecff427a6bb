package integration_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/api"
)

func TestRouting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// An id with a slash and a space, as the JS SDK percent-encodes it
	// (#12 of the wire contract).
	odd := &webhookd.Webhook{
		ID: "webhooks/a b", ProjectID: b.project.ID, URI: "https://a.test", State: webhookd.WebhookEnabled,
		SubscribedEvents: []string{webhookd.EventBatchFailed}, CreateTime: epoch, UpdateTime: epoch,
		Secrets: []webhookd.SigningSecret{{ID: webhookd.NewID(webhookd.PrefixSecret), WebhookID: "webhooks/a b",
			Sealed: []byte("sealed"), Truncated: "whsec_abcd...", CreateTime: epoch}},
	}
	if err := b.store.CreateWebhook(b.ctx, odd); err != nil {
		t.Fatal(err)
	}
	var got webhook
	b.call(t, "GET", "/v1/webhooks/webhooks%2Fa%20b", "").ok(t, &got)
	if got.ID != "webhooks/a b" {
		t.Fatalf("GET by escaped id answered %s", dump(got))
	}
	b.call(t, "POST", "/v1/webhooks/webhooks%2Fa%20b:ping", "").ok(t, nil)
	b.call(t, "POST", "/v1/webhooks/webhooks%2Fa%20b/rotate_secret", "").ok(t, nil)

	tests := []struct {
		name, method, path string
		code               int
		status, text       string
		allow              string
	}{
		{"unescaped slash splits", "GET", "/v1/webhooks/webhooks/a%20b", 404, "NOT_FOUND", "No route for GET /v1/webhooks/webhooks/a%20b", ""},
		{"escaped colon is part of the id", "GET", "/v1/webhooks/wh_x%3Aping", 404, "NOT_FOUND", "Webhook not found", ""},
		{"escaped slash in event id", "GET", "/v1/events/a%2Fb/deliveries", 404, "NOT_FOUND", "Event not found", ""},
		{"unknown verb", "POST", "/v1/webhooks/wh_x:explode", 404, "NOT_FOUND", "No route", ""},
		{"unknown collection", "GET", "/v1/widgets", 404, "NOT_FOUND", "No route", ""},
		{"unknown version", "GET", "/v2/webhooks", 404, "NOT_FOUND", "No route", ""},
		{"no version", "GET", "/webhooks", 404, "NOT_FOUND", "No route", ""},
		{"empty id", "GET", "/v1/webhooks/", 404, "NOT_FOUND", "No route", ""},
		{"root", "GET", "/", 404, "NOT_FOUND", "No route", ""},
		{"wrong method on item", "PUT", "/v1/webhooks/wh_x", 405, "UNIMPLEMENTED", "Method PUT is not allowed", "GET, PATCH, DELETE"},
		{"wrong method on verb", "GET", "/v1/webhooks/wh_x:ping", 405, "UNIMPLEMENTED", "allowed: POST", "POST"},
		{"wrong method on collection", "DELETE", "/v1beta/webhooks", 405, "UNIMPLEMENTED", "allowed: POST, GET", "POST, GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := b.request(t, tt.method, "", "")
			req.URL.RawPath, req.URL.Path = "", ""
			req.URL.Opaque = "//" + req.URL.Host + tt.path // sent exactly as written
			req.Header.Set("x-goog-api-key", b.key)
			res := b.send(t, req)
			res.fails(t, tt.code, tt.status, tt.text)
			if got := res.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestPublicEndpoints(t *testing.T) {
	t.Parallel()
	ready := errors.New("database unreachable at db.internal:5432")
	var notReady error
	b := setup(t, func(c *api.Config) {
		c.PathPrefix = "/gemini-proxy"
		c.Ready = func(context.Context) error { return notReady }
		c.JWKS = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"keys":[]}`))
		})
	})
	m := setup(t, func(c *api.Config) { c.Metrics = promhttp.Handler() })

	for _, path := range []string{"/healthz", "/gemini-proxy/healthz", "/readyz", "/gemini-proxy/readyz"} {
		res := b.callKey(t, "", "GET", path, "")
		res.ok(t, nil)
		if strings.TrimSpace(string(res.body)) != `{"status":"ok"}` {
			t.Errorf("%s answered %s", path, res.body)
		}
	}
	for _, path := range []string{"/.well-known/jwks.json", "/gemini-proxy/.well-known/jwks.json"} {
		if res := b.callKey(t, "", "GET", path, ""); string(res.body) != `{"keys":[]}` {
			t.Errorf("%s answered %s", path, res.body)
		}
	}
	b.callKey(t, "", "POST", "/healthz", "").fails(t, 405, "UNIMPLEMENTED", "allowed: GET, HEAD")
	// Without a Metrics handler there is no /metrics.
	b.callKey(t, "", "GET", "/metrics", "").fails(t, 404, "NOT_FOUND", "No route")
	// The prefix must end at a segment boundary.
	b.call(t, "GET", "/gemini-proxyv1/webhooks", "").fails(t, 404, "NOT_FOUND", "No route")

	notReady = ready
	res := b.callKey(t, "", "GET", "/readyz", "")
	res.fails(t, 503, "UNAVAILABLE", "The service is not ready.")
	if strings.Contains(string(res.body), "db.internal") {
		t.Errorf("/readyz leaked its cause: %s", res.body)
	}

	req := m.request(t, "GET", "/metrics", "")
	res2, err := m.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != 200 || !strings.HasPrefix(res2.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("/metrics answered %d %s", res2.StatusCode, res2.Header.Get("Content-Type"))
	}
}

// TestPanicAnswersInternal checks that a panic below the router is logged
// and answered as a 500 in the error format, not a dropped connection.
func TestPanicAnswersInternal(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *api.Config) {
		c.Ready = func(context.Context) error { panic("boom") }
	})
	b.callKey(t, "", "GET", "/readyz", "").fails(t, 500, "INTERNAL", "Internal error.")
	b.callKey(t, "", "GET", "/healthz", "").ok(t, nil)
}

func TestRequestMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := b.createWebhook(t, `{"uri":"https://a.test","subscribed_events":["batch.failed"]}`)
	b.call(t, "POST", "/v1/webhooks/"+w.ID+":ping", "").ok(t, nil)
	b.call(t, "POST", "/v1beta/webhooks/"+w.ID+":ping", "").ok(t, nil)
	b.call(t, "GET", "/v1/webhooks/nope", "").fails(t, 404, "NOT_FOUND", "Webhook not found")
	b.callKey(t, "", "GET", "/v1/webhooks", "").fails(t, 401, "UNAUTHENTICATED", "API key")
	b.call(t, "GET", "/v1/nothing/"+w.ID, "").fails(t, 404, "NOT_FOUND", "No route")

	// A second server on the same registry shares the collectors.
	if _, err := api.New(api.Config{Store: b.store, Sealer: mustSealer(t), Registerer: b.reg}); err != nil {
		t.Fatalf("second server on one registry: %v", err)
	}

	for _, c := range []struct {
		method, route, code string
		want                float64
	}{
		{"POST", "/webhooks", "200", 1},
		{"POST", "/webhooks/{id}:ping", "200", 2},
		{"GET", "/webhooks/{id}", "404", 1},
		{"GET", "/webhooks", "401", 1},
		{"GET", "unmatched", "404", 1},
	} {
		got := counterValue(t, b, "webhookd_api_requests_total", map[string]string{"method": c.method, "route": c.route, "code": c.code})
		if got != c.want {
			t.Errorf("requests_total{%s %s %s} = %v, want %v", c.method, c.route, c.code, got, c.want)
		}
	}
	families, err := b.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "webhookd_api_request_duration_seconds" && len(f.GetMetric()) != 5 {
			t.Errorf("latency series = %d, want one per method and route (5)", len(f.GetMetric()))
		}
	}
}

// TestRequestLog: with LogRequests (development mode) every request is
// logged at INFO with its method, path, status and duration, and never its
// query or API key; without it, only at DEBUG.
func TestRequestLog(t *testing.T) {
	t.Parallel()
	for _, logRequests := range []bool{true, false} {
		lines := make(chan slog.Record, 64)
		b := setup(t, func(c *api.Config) {
			c.LogRequests = logRequests
			c.Logger = slog.New(recordHandler(lines))
		})
		b.call(t, "GET", "/v1/webhooks?pageSize=5", "").ok(t, nil)
		b.call(t, "GET", "/v1/webhooks/nope", "").fails(t, 404, "NOT_FOUND", "Webhook not found")
		var got []string
		for len(got) < 2 {
			select {
			case r := <-lines:
				if r.Message != "api request" {
					continue
				}
				attrs := map[string]string{}
				r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
				for _, v := range attrs {
					if strings.Contains(v, b.key) || strings.Contains(v, "pageSize") {
						t.Errorf("a request line shows the key or the query: %v", attrs)
					}
				}
				if attrs["duration"] == "" {
					t.Errorf("request line without a duration: %v", attrs)
				}
				got = append(got, r.Level.String()+" "+attrs["method"]+" "+attrs["path"]+" "+attrs["status"])
			case <-time.After(20 * time.Second):
				t.Fatalf("LogRequests %v: request lines %q, want 2", logRequests, got)
			}
		}
		level := map[bool]string{true: "INFO", false: "DEBUG"}[logRequests]
		want := []string{level + " GET /v1/webhooks 200", level + " GET /v1/webhooks/nope 404"}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("LogRequests %v: request lines %q, want %q", logRequests, got, want)
		}
	}
}

// recordHandler is a slog.Handler at DEBUG that sends every record to ch.
type recordHandler chan<- slog.Record

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h recordHandler) WithGroup(string) slog.Handler            { return h }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	h <- r.Clone()
	return nil
}
