package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"go.yaml.in/yaml/v4"
)

// openAPIYAML is the OpenAPI document of this API, the one description of
// its routes and schemas: written by hand beside the handlers, kept honest
// by the tests that compare it with the router and validate real traffic
// against it (api/integration/openapi_test.go, internal/openapitest).
//
//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPIJSON returns the OpenAPI document as JSON, as /v1/openapi.json
// serves it.
func OpenAPIJSON() ([]byte, error) { return openAPIJSON() }

// openAPIJSON converts the embedded YAML once.
var openAPIJSON = sync.OnceValues(func() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("api: openapi.yaml: %w", err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("api: openapi.yaml as JSON: %w", err)
	}
	return b, nil
})

// serveOpenAPI is GET /openapi.json, served without authentication: the
// document says nothing a caller could not learn from the API itself.
func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) error {
	doc, err := OpenAPIJSON()
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Access-Control-Allow-Origin", "*") // API tools in a browser may read it
	_, _ = w.Write(doc)
	return nil
}

// Endpoint is one method on one path the server answers, written as the
// OpenAPI document's path keys are: the route template below the version
// segment ("/webhooks/{id}:ping"), or the whole path of an unversioned one
// ("/healthz").
type Endpoint struct {
	Method, Path string
}

// Endpoints lists every API endpoint this server answers, as configured:
// the versioned routes, the unversioned ones and the console's session.
// The console's own pages are not part of the API and are not listed.
func (s *Server) Endpoints() []Endpoint {
	var out []Endpoint
	for _, rt := range s.table {
		out = append(out, Endpoint{rt.method, rt.template})
	}
	for _, p := range s.publicEndpoints() {
		out = append(out, Endpoint{http.MethodGet, p.path})
	}
	for _, m := range sessionMethods {
		out = append(out, Endpoint{m, sessionPath})
	}
	return out
}

// MatchEndpoint finds the endpoint of eps that serves method on escaped,
// a request's escaped path below the prefix, by the server's own rules:
// the version segment, the "/upload/{version}/…" form, a "/projects/
// {project}" scope before a project's route and the ":verb" suffix. It
// returns the path parameters, decoded, and ok false when none serves it.
// Tools that map requests onto the OpenAPI document use it, so that they
// route as the server does.
func MatchEndpoint(eps []Endpoint, method, escaped string) (ep Endpoint, params map[string]string, ok bool) {
	if method == http.MethodHead {
		method = http.MethodGet
	}
	var table []route
	for _, e := range eps {
		if e.Path == escaped && e.Method == method {
			return e, map[string]string{}, true // an unversioned endpoint
		}
		table = append(table, newRoute(e.Method, e.Path, nil))
	}
	rt, vars, scope, m := matchScoped(table, method, escaped)
	if m != nil {
		return Endpoint{}, nil, false
	}
	params = map[string]string{}
	for i, name := range rt.wildcards() {
		params[name] = vars[i]
	}
	if scope != "" {
		params["project"] = scope
	}
	return Endpoint{rt.method, rt.template}, params, true
}
