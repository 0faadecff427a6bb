package integration_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/webhookd/webhookd/activity"
	"github.com/webhookd/webhookd/api"
	"github.com/webhookd/webhookd/console"
	"github.com/webhookd/webhookd/internal/openapitest"
	"github.com/webhookd/webhookd/lro"
)

// validated returns h with every exchange checked against the OpenAPI
// document; the test fails, after the server has closed, on any violation.
// Call it before registering the server's Close, so that the check runs
// after every handler has returned.
func validated(t *testing.T, h http.Handler, prefix string) http.Handler {
	t.Helper()
	v, err := openapitest.Load(prefix)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var violations []error
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, err := range violations {
			t.Errorf("OpenAPI: %v", err)
		}
	})
	return v.Handler(h, func(err error) {
		mu.Lock()
		violations = append(violations, err)
		mu.Unlock()
	})
}

// documentedEndpoints lists the document's operations as "METHOD path".
func documentedEndpoints(t *testing.T) []string {
	t.Helper()
	v, err := openapitest.Load("")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ep := range v.Endpoints() {
		out = append(out, ep.Method+" "+ep.Path)
	}
	slices.Sort(out)
	return out
}

// TestOpenAPICoversRoutes fails when the router and api/openapi.yaml
// disagree: every route served (with every optional part configured) must
// be in the document, and every operation of the document must be served.
func TestOpenAPICoversRoutes(t *testing.T) {
	ui, err := console.New("")
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, func(c *api.Config) {
		m, err := lro.New(lro.Config{SimJobDuration: simJob, PublicBaseURL: "http://127.0.0.1:1"})
		if err != nil {
			t.Fatal(err)
		}
		c.Operations = lro.NewService(m, c.Store, c.Clock, nil)
		c.AdminKey = adminKey
		c.Console = ui
		c.Metrics = http.NotFoundHandler()
		c.JWKS = http.NotFoundHandler()
		c.Activity = activity.New(c.Clock)
	})
	var served []string
	for _, ep := range b.api.Endpoints() {
		served = append(served, ep.Method+" "+ep.Path)
	}
	slices.Sort(served)
	documented := documentedEndpoints(t)
	for _, ep := range served {
		if !slices.Contains(documented, ep) {
			t.Errorf("the router serves %s, but api/openapi.yaml does not describe it: "+
				"add the operation (its parameters, request body and responses) to api/openapi.yaml", ep)
		}
	}
	for _, ep := range documented {
		if !slices.Contains(served, ep) {
			t.Errorf("api/openapi.yaml describes %s, but the router does not serve it: "+
				"remove it from api/openapi.yaml, or add the route (api/route.go and friends)", ep)
		}
	}
}

// TestOpenAPIServed: the document is served without a key under every
// version and the prefix, and is the embedded one.
func TestOpenAPIServed(t *testing.T) {
	b := setup(t, func(c *api.Config) { c.PathPrefix = "/gemini-proxy" })
	want, err := api.OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/gemini-proxy/v1/openapi.json", "/gemini-proxy/v1beta/openapi.json", "/gemini-proxy/v1alpha/openapi.json"} {
		r := b.callKey(t, "", http.MethodGet, path, "")
		if r.code != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || string(r.body) != string(want) {
			t.Errorf("GET %s = %d %s (%d bytes); want 200, the document", path, r.code, r.header.Get("Content-Type"), len(r.body))
		}
	}
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(want, &doc); err != nil || doc.OpenAPI != "3.1.0" || doc.Paths["/webhooks/{id}:ping"] == nil {
		t.Errorf("the document is not OpenAPI 3.1 with /webhooks/{id}:ping: %v %q", err, doc.OpenAPI)
	}
}

// TestOpenAPIValidatorCatches shows that the check fails an answer the
// document does not describe and a request it does not allow that the
// server accepted, and passes the real API's answers.
func TestOpenAPIValidatorCatches(t *testing.T) {
	v, err := openapitest.Load("")
	if err != nil {
		t.Fatal(err)
	}
	webhook := `{"id":"wh_1","uri":"https://hooks.example/a","subscribed_events":["batch.succeeded"],"state":"enabled",` +
		`"signing_secrets":[],"create_time":"2026-03-01T12:00:00Z","update_time":"2026-03-01T12:00:00Z"}`
	tests := []struct {
		name, method, path, reqBody string
		status                      int
		respBody                    string
		want                        string // in the violation; "" for none
	}{
		{"a good answer", "GET", "/v1/webhooks/wh_1", "", 200, webhook, ""},
		{"camelCase input is the same field", "POST", "/v1/webhooks", `{"uri":"https://hooks.example/a","subscribedEvents":["batch.succeeded"]}`, 200, webhook, ""},
		{"a field the document lacks", "GET", "/v1/webhooks/wh_1", "", 200,
			strings.Replace(webhook, `"state"`, `"colour":"blue","state"`, 1), "colour"},
		{"a wrong type", "GET", "/v1/webhooks/wh_1", "", 200, strings.Replace(webhook, `"enabled"`, `7`, 1), "state"},
		{"an error not in Google's format", "GET", "/v1/webhooks/wh_1", "", 404, `{"message":"no"}`, "error"},
		{"an undocumented status", "GET", "/v1/webhooks/wh_1", "", 302, ``, "status"},
		{"a request field accepted but undocumented", "POST", "/v1/webhooks",
			`{"uri":"https://hooks.example/a","subscribed_events":["batch.succeeded"],"colour":"blue"}`, 200, webhook, "colour"},
		{"the same request refused is fine", "POST", "/v1/webhooks",
			`{"uri":"https://hooks.example/a","subscribed_events":["batch.succeeded"],"colour":"blue"}`, 400,
			`{"error":{"code":400,"message":"colour: unknown field.","status":"INVALID_ARGUMENT"}}`, ""},
		{"a route the document lacks, answered", "GET", "/v1/colours", "", 200, `{}`, "no such route"},
		{"a route the document lacks, refused", "GET", "/v1/colours", "", 404,
			`{"error":{"code":404,"message":"No route.","status":"NOT_FOUND"}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequestWithContext(t.Context(), tt.method, tt.path, strings.NewReader(tt.reqBody))
			req.Header.Set("x-goog-api-key", "whd_0123456789abcdefghij")
			h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
			err := v.Check(context.Background(), &openapitest.Exchange{
				Request: req, RequestBody: []byte(tt.reqBody), Status: tt.status, Header: h, Body: []byte(tt.respBody),
			})
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("violation %v; want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("violation %v; want one naming %q", err, tt.want)
			}
			if err != nil {
				t.Log(err)
			}
		})
	}
}
