package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/webhookd/webhookd"
)

// versions are the API versions served, identically: the SDK defaults to v1
// (3.x) or v1beta (2.x and the Go SDK) and lets callers pick v1alpha.
var versions = []string{"v1", "v1beta", "v1alpha"}

// handlerFunc handles one route. It writes its success response itself and
// returns errors for ServeHTTP to answer in the Google error format.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route is one method on one path template below the version segment. The
// template's segments are literals or "{name}" wildcards matching one
// non-empty, percent-decoded segment; the last may end in ":verb", the
// custom-method suffix of Google APIs.
type route struct {
	method   string
	template string // the metrics label, e.g. "/webhooks/{id}:ping"
	segs     []string
	verb     string
	handle   handlerFunc
	// public routes answer without authentication.
	public bool
}

func newRoute(method, template string, h handlerFunc) route {
	segs := strings.Split(strings.TrimPrefix(template, "/"), "/")
	last := segs[len(segs)-1]
	var verb string
	if i := strings.LastIndexByte(last, ':'); i >= 0 {
		segs[len(segs)-1], verb = last[:i], last[i+1:]
	}
	return route{method: method, template: template, segs: segs, verb: verb, handle: h}
}

// match reports whether the decoded segments and verb fit the template, and
// returns the wildcard values in order.
func (rt *route) match(segs []string, verb string) (vars []string, ok bool) {
	if len(segs) != len(rt.segs) || verb != rt.verb {
		return nil, false
	}
	for i, want := range rt.segs {
		if strings.HasPrefix(want, "{") {
			if segs[i] == "" {
				return nil, false
			}
			vars = append(vars, segs[i])
			continue
		}
		if segs[i] != want {
			return nil, false
		}
	}
	return vars, true
}

// wildcards returns the names of the template's wildcards, in order.
func (rt *route) wildcards() []string {
	var names []string
	for _, s := range rt.segs {
		if strings.HasPrefix(s, "{") {
			names = append(names, strings.Trim(s, "{}"))
		}
	}
	return names
}

// routes is the versioned API surface.
func (s *Server) routes() []route {
	return []route{
		newRoute(http.MethodPost, "/webhooks", s.createWebhook),
		newRoute(http.MethodGet, "/webhooks", s.listWebhooks),
		newRoute(http.MethodGet, "/webhooks/{id}", s.getWebhook),
		newRoute(http.MethodPatch, "/webhooks/{id}", s.updateWebhook),
		newRoute(http.MethodDelete, "/webhooks/{id}", s.deleteWebhook),
		newRoute(http.MethodPost, "/webhooks/{id}:rotateSigningSecret", s.rotateSigningSecret),
		newRoute(http.MethodPost, "/webhooks/{id}/rotate_secret", s.rotateSigningSecret),
		newRoute(http.MethodPost, "/webhooks/{id}:ping", s.pingWebhook),
		newRoute(http.MethodPost, "/webhooks/{id}:recover", s.recoverDeliveries),
		newRoute(http.MethodGet, "/webhooks/{id}/deliveries", s.listWebhookDeliveries),
		newRoute(http.MethodPost, "/eventTypes", s.createEventType),
		newRoute(http.MethodGet, "/eventTypes", s.listEventTypes),
		newRoute(http.MethodGet, "/eventTypes/{name}", s.getEventType),
		newRoute(http.MethodPatch, "/eventTypes/{name}", s.updateEventType),
		newRoute(http.MethodDelete, "/eventTypes/{name}", s.deleteEventType),
		newRoute(http.MethodPost, "/eventTypes/{name}:deprecate", s.deprecateEventType),
		newRoute(http.MethodPost, "/events", s.publishEvent),
		newRoute(http.MethodPost, "/events:batchPublish", s.batchPublishEvents),
		newRoute(http.MethodGet, "/events", s.listEvents),
		newRoute(http.MethodGet, "/events/{id}", s.getEvent),
		newRoute(http.MethodGet, "/events/{id}/deliveries", s.listEventDeliveries),
		newRoute(http.MethodGet, "/deliveries/{id}", s.getDelivery),
		newRoute(http.MethodPost, "/deliveries/{id}:retry", s.retryDelivery),
		newRoute(http.MethodGet, "/deliveries:stream", s.streamDeliveries),
		newRoute(http.MethodGet, "/deliveryStats", s.deliveryStats),
		newRoute(http.MethodGet, "/destinations", s.listDestinations),
		newPublicRoute(http.MethodGet, "/openapi.json", s.serveOpenAPI),
	}
}

// newPublicRoute is newRoute for a route that needs no credentials.
func newPublicRoute(method, template string, h handlerFunc) route {
	rt := newRoute(method, template, h)
	rt.public = true
	return rt
}

// requestInfo travels in the request context so that logging and metrics
// know the matched route without parsing the path again.
type requestInfo struct {
	route     string
	projectID string
	principal *principal
}

type requestInfoKey struct{}

func infoOf(r *http.Request) *requestInfo {
	if ri, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

func routeOf(r *http.Request) string { return infoOf(r).route }

// projectOf returns the project of the request's API key; every handler
// scopes its store calls by it.
func projectOf(r *http.Request) string { return infoOf(r).projectID }

// ServeHTTP routes, authenticates, answers, and records the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now() // latency is wall time, whatever the injected clock says
	ri := &requestInfo{route: "unmatched"}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri))
	var span trace.Span
	if s.tracer != nil {
		r, span = s.startRequestSpan(r)
	}
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler { //nolint:errorlint // a panic value, which net/http panics with as is
				panic(v)
			}
			s.log.ErrorContext(r.Context(), "api handler panicked", slog.String("route", ri.route), slog.Any("panic", v))
			if sw.code == 0 {
				writeStatus(sw, statusOf(webhookd.EINTERNAL), "Internal error.")
			}
		}
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		d := time.Since(start)
		if code < 500 && ri.projectID != "" {
			s.unavailable.Succeeded(r.Context()) // an authenticated request reached the store
		}
		s.metrics.observe(metricMethod(r.Method), ri.route, code, d)
		if span != nil {
			endRequestSpan(span, r.Method, ri.route, code)
		}
		level := slog.LevelDebug
		if s.cfg.LogRequests {
			level = slog.LevelInfo
		}
		s.log.LogAttrs(r.Context(), level, "api request",
			slog.String("method", r.Method), slog.String("path", r.URL.EscapedPath()), slog.String("route", ri.route),
			slog.Int("status", code), slog.Duration("duration", d))
	}()
	s.serve(sw, r, ri)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	path := r.URL.EscapedPath()
	rest, prefixed := s.stripPrefix(path)
	// The unauthenticated endpoints answer under the prefix (where the
	// public base URL points) and at the root (where probes and scrapers
	// address the process).
	if h, name := s.console(rest, prefixed); h != nil {
		ri.route = name
		h.ServeHTTP(w, r)
		return
	}
	h, name := s.public(path)
	if h == nil && prefixed {
		h, name = s.public(rest)
	}
	if h != nil {
		ri.route = name
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeMiss(w, r, &miss{path: path, allow: []string{http.MethodGet, http.MethodHead}})
			return
		}
		h.ServeHTTP(w, r)
		return
	}
	if !prefixed {
		writeMiss(w, r, &miss{path: path})
		return
	}
	rt, vars, scope, miss := matchScoped(s.table, r.Method, rest)
	if miss != nil {
		writeMiss(w, r, miss)
		return
	}
	ri.route = rt.template
	if scope != "" {
		ri.route = "/projects/{project}" + rt.template
	}
	for i, name := range rt.wildcards() {
		r.SetPathValue(name, vars[i])
	}
	if rt.public {
		if err := rt.handle(w, r); err != nil {
			s.writeError(w, r, err)
		}
		return
	}
	p, err := s.authenticate(r)
	if err == nil {
		err = s.authorize(r, ri, rt, p, scope)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := rt.handle(w, r); err != nil {
		s.writeError(w, r, err)
	}
}

// stripPrefix returns the escaped path below the configured prefix, and
// whether path is below it at all. The prefix ends at a segment boundary:
// "/proxy" does not own "/proxyv1".
func (s *Server) stripPrefix(path string) (string, bool) {
	if s.cfg.PathPrefix == "" {
		return path, true
	}
	rest, ok := strings.CutPrefix(path, s.cfg.PathPrefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return "", false
	}
	return rest, true
}

// miss is a path that matched no route (allow empty) or matched routes of
// other methods only (allow lists them).
type miss struct {
	path  string
	allow []string
}

// match finds the route for method and the escaped path below the prefix.
// Segments are split on "/" before they are percent-decoded, so an id's
// "%2F" stays inside the id; the custom-method suffix is split off the last
// segment, also before decoding, so an id's "%3A" is never taken for one.
func match(table []route, method, escaped string) (*route, []string, *miss) {
	raw := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	// Media uploads put "upload" before the version (/upload/v1/files); its
	// routes are templated with it after ("/upload/files").
	if len(raw) > 2 && raw[0] == "upload" && slices.Contains(versions, raw[1]) {
		raw[0], raw[1] = raw[1], raw[0]
	}
	if len(raw) < 2 || !slices.Contains(versions, raw[0]) {
		return nil, nil, &miss{path: escaped}
	}
	raw = raw[1:]
	var verb string
	if last := raw[len(raw)-1]; strings.Contains(last, ":") {
		i := strings.LastIndexByte(last, ':')
		raw[len(raw)-1], verb = last[:i], last[i+1:]
	}
	segs := make([]string, len(raw))
	for i, seg := range raw {
		dec, err := url.PathUnescape(seg)
		if err != nil { // EscapedPath never gives a bad escape; be safe anyway
			return nil, nil, &miss{path: escaped}
		}
		segs[i] = dec
	}
	var allow []string
	for _, rt := range table {
		vars, ok := rt.match(segs, verb)
		if !ok {
			continue
		}
		if rt.method == method {
			return &rt, vars, nil
		}
		allow = append(allow, rt.method)
	}
	return nil, nil, &miss{path: escaped, allow: allow}
}

// writeMiss answers 405 with Allow for a path served under other methods,
// and 404 otherwise, both in the error format. 405 carries UNIMPLEMENTED, the
// canonical code for "this method is not supported here".
func writeMiss(w http.ResponseWriter, r *http.Request, m *miss) {
	if len(m.allow) == 0 {
		writeStatus(w, statusOf(webhookd.ENOTFOUND), fmt.Sprintf("No route for %s %s.", r.Method, m.path))
		return
	}
	w.Header().Set("Allow", strings.Join(m.allow, ", "))
	writeStatus(w, status{http.StatusMethodNotAllowed, "UNIMPLEMENTED"},
		fmt.Sprintf("Method %s is not allowed on %s; allowed: %s.", r.Method, m.path, strings.Join(m.allow, ", ")))
}

// publicEndpoint is an unversioned, unauthenticated endpoint (GET and HEAD).
type publicEndpoint struct {
	path    string
	handler http.Handler
}

// publicEndpoints are the unversioned endpoints, those configured.
func (s *Server) publicEndpoints() []publicEndpoint {
	out := []publicEndpoint{
		{"/healthz", http.HandlerFunc(s.healthz)},
		{"/readyz", http.HandlerFunc(s.readyz)},
	}
	if s.cfg.Metrics != nil {
		out = append(out, publicEndpoint{"/metrics", s.cfg.Metrics})
	}
	if s.cfg.JWKS != nil {
		out = append(out, publicEndpoint{"/.well-known/jwks.json", s.cfg.JWKS})
	}
	return out
}

// public returns the handler of an unauthenticated endpoint at path, if any.
func (s *Server) public(path string) (http.Handler, string) {
	for _, p := range s.publicEndpoints() {
		if p.path == path {
			return p.handler, p.path
		}
	}
	return nil, ""
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyTimeout bounds a readiness check, so that a store that hangs makes
// the probe fail instead of hang.
const readyTimeout = 5 * time.Second

// readyz answers 503 while Ready fails, so that a load balancer sends no
// traffic to a process whose store is unreachable, and 200 again as soon as
// it answers. The cause is logged (once per outage, with the requests' 503s),
// not answered: it may name hosts.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.cfg.Ready(ctx); err != nil {
		s.unavailable.Failed(r.Context(), err)
		w.Header().Set("Retry-After", retryAfter)
		writeStatus(w, statusOf(webhookd.EUNAVAILABLE), "The service is not ready.")
		return
	}
	s.unavailable.Succeeded(r.Context())
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// metricMethod bounds the method label to the methods the API knows.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// statusWriter remembers the status code for metrics and logs.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
