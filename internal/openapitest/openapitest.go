// Package openapitest checks HTTP exchanges with webhookd against its
// OpenAPI document (api/openapi.yaml), with kin-openapi's openapi3filter:
// the Go integration tests wrap the API in Validator.Handler, and the SDK
// suite sends every call through the same check in a proxy
// (./openapiproxy).
//
// The rule it applies: every response must be one the document describes
// for its route and status, and every request the server accepted (2xx)
// must be one the document allows. A request the document refuses may be
// refused by the server too (a test of bad input), but never accepted: a
// field or route added without the document fails.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/webhookd/webhookd/api"
)

func init() {
	// Server-sent events are checked as text; a file download, whatever its
	// media type, as bytes.
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("*/*", openapi3filter.FileBodyDecoder)
}

// Validator checks exchanges against the document.
type Validator struct {
	doc    *openapi3.T
	eps    []api.Endpoint
	prefix string
}

// Load parses and validates the document the api package serves, and
// returns a Validator for a server mounted at prefix ("" for none).
func Load(prefix string) (*Validator, error) {
	data, err := api.OpenAPIJSON()
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("openapitest: load the document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapitest: the document is not valid OpenAPI: %w", err)
	}
	var eps []api.Endpoint
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			eps = append(eps, api.Endpoint{Method: method, Path: path})
		}
	}
	return &Validator{doc: doc, eps: eps, prefix: prefix}, nil
}

// Endpoints lists the document's operations.
func (v *Validator) Endpoints() []api.Endpoint { return v.eps }

// Exchange is one request and the answer to it, bodies read in full.
type Exchange struct {
	Request     *http.Request
	RequestBody []byte
	Status      int
	Header      http.Header
	Body        []byte
	// Truncated says Body is only the start of the response (a stream, or
	// a large download): its schema is not checked.
	Truncated bool
}

// Check reports how ex breaks the document, or nil.
func (v *Validator) Check(ctx context.Context, ex *Exchange) error {
	r := ex.Request
	what := r.Method + " " + r.URL.RequestURI()
	rest, ok := v.belowPrefix(r.URL.EscapedPath())
	if ok && (rest == "/" || rest == "" || rest == "/console" || strings.HasPrefix(rest, "/console/") && rest != "/console/session") {
		return nil // the console's pages: not part of the API
	}
	ep, params, found := api.Endpoint{}, map[string]string(nil), false
	if ok {
		ep, params, found = api.MatchEndpoint(v.eps, r.Method, rest)
	}
	if !found {
		ep, params, found = api.MatchEndpoint(v.eps, r.Method, r.URL.EscapedPath()) // unversioned, at the root
	}
	if !found {
		if ex.Status < 300 {
			return fmt.Errorf("%s answered %d, but the document has no such route: add it to api/openapi.yaml", what, ex.Status)
		}
		return v.checkError(what, ex)
	}
	item := v.doc.Paths.Value(ep.Path)
	op := item.GetOperation(ep.Method)
	route := &routers.Route{Spec: v.doc, Path: ep.Path, PathItem: item, Method: ep.Method, Operation: op}
	in := &openapi3filter.RequestValidationInput{
		Request:    canonicalRequest(ctx, r, ex.RequestBody),
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			MultiError:         true,
		},
	}
	var errs []error
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil && ex.Status < 300 {
		errs = append(errs, fmt.Errorf("the server accepted (%d) a request that %s in api/openapi.yaml does not allow: %w",
			ex.Status, ep.Method+" "+ep.Path, err))
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 ex.Status,
		Header:                 ex.Header,
		Body:                   io.NopCloser(bytes.NewReader(ex.Body)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
			ExcludeResponseBody:   ex.Truncated,
		},
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		errs = append(errs, fmt.Errorf("the response (%d) is not what %s in api/openapi.yaml describes: %w",
			ex.Status, ep.Method+" "+ep.Path, err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %w", what, errors.Join(errs...))
	}
	return nil
}

// checkError checks the answer to a path of no route: an error in the
// document's format.
func (v *Validator) checkError(what string, ex *Exchange) error {
	schema := v.doc.Components.Schemas["Error"].Value
	var body any
	if err := json.Unmarshal(ex.Body, &body); err != nil {
		return fmt.Errorf("%s answered %d without a JSON error body: %q", what, ex.Status, ex.Body)
	}
	if err := schema.VisitJSON(body, openapi3.EnableJSONSchema2020()); err != nil {
		return fmt.Errorf("%s answered %d with an error body not in the Error schema: %w", what, ex.Status, err)
	}
	return nil
}

// belowPrefix returns the escaped path below the server's prefix.
func (v *Validator) belowPrefix(path string) (string, bool) {
	if v.prefix == "" {
		return path, true
	}
	rest, ok := strings.CutPrefix(path, v.prefix)
	if !ok || rest != "" && rest[0] != '/' {
		return "", false
	}
	return rest, true
}

// canonicalRequest returns the request as the server reads it, for the
// document to check: a JSON body's keys in snake_case (the document names
// each field once; camelCase is accepted for all), and a JSON content type
// on a body sent without one (the server reads bodies as JSON whatever
// their type).
func canonicalRequest(ctx context.Context, r *http.Request, body []byte) *http.Request {
	c := r.Clone(ctx)
	c.Header = r.Header.Clone()
	mt, _, _ := mime.ParseMediaType(c.Header.Get("Content-Type"))
	if len(bytes.TrimSpace(body)) > 0 && (mt == "" || mt == "application/json") {
		var v any
		if json.Unmarshal(body, &v) != nil {
			// Bytes, such as an upload's chunk: the only route that takes
			// them reads them whatever their type; any other refuses them.
			c.Header.Set("Content-Type", "application/octet-stream")
		} else if b, err := json.Marshal(snakeKeys(v)); err == nil {
			c.Header.Set("Content-Type", "application/json")
			body = b
		}
	}
	c.Body = io.NopCloser(bytes.NewReader(body))
	c.ContentLength = int64(len(body))
	return c
}

// snakeKeys returns v with every object key in snake_case.
func snakeKeys(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[api.SnakeCase(k)] = snakeKeys(x)
		}
		return out
	case []any:
		for i, x := range v {
			v[i] = snakeKeys(x)
		}
	}
	return v
}
