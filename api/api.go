// Package api serves webhookd's Google-style REST API: the webhooks resource
// that the Gemini SDKs drive, the events API that any platform can publish
// through, and the delivery log with retry and recovery.
//
// It is the only place where domain error codes become HTTP statuses and
// Google canonical codes, where request JSON (snake_case or camelCase) is
// decoded and validated, and where the API-key project scope is applied.
// Handlers call the Store; they never see SQL. Routing is by hand because the
// Google URL style puts custom methods in the last segment ("{id}:ping") and
// ids may carry an escaped slash ("%2F") that must not split the path.
//
// Routes, each under [PathPrefix]/{v1,v1beta,v1alpha}, with an API key:
//
//	POST   /webhooks                           create (new_signing_secret answered once)
//	GET    /webhooks?page_size&page_token      list, oldest first
//	GET    /webhooks/{id}                      get
//	PATCH  /webhooks/{id}?update_mask=a,b      update (no mask: the fields present)
//	DELETE /webhooks/{id}                      delete → {}
//	POST   /webhooks/{id}:rotateSigningSecret  rotate → {"secret"}; also /webhooks/{id}/rotate_secret
//	POST   /webhooks/{id}:ping                 webhook.ping to this webhook → {}
//	POST   /webhooks/{id}:recover              {"since"} → {"recovered": n}
//	POST   /events                             publish {type, data, webhook_config, idempotency_key}
//	POST   /events:batchPublish                {events: [1..100 of those]} → {events}, all or nothing
//	GET    /events?page_size&page_token        list, newest first
//	GET    /events/{id}                        get
//	GET    /events/{id}/deliveries             deliveries with every attempt
//	GET    /deliveries/{id}                    one delivery with its attempts
//	POST   /deliveries/{id}:retry              make it due now
//
// and, when Config.Operations is set, the long-running operations (batches,
// interactions, video, operations, files) listed in operation.go;
// and without one, at the root and under the prefix: /healthz, /readyz,
// /metrics and /.well-known/jwks.json (the last two when configured).
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/activity"
	"github.com/webhookd/webhookd/internal/outage"
	"github.com/webhookd/webhookd/internal/tracing"
	"github.com/webhookd/webhookd/lro"
	"github.com/webhookd/webhookd/signing"
)

// Defaults and limits of the API.
const (
	// DefaultMaxBodyBytes bounds request bodies when Config.MaxBodyBytes is 0.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultPageSize is the page size of listings when page_size is absent
	// or 0, as the SDK documents.
	DefaultPageSize = 50
	// MaxPageSize is the largest page a listing returns. Larger requests are
	// clamped to it rather than refused, as Google APIs do (AIP-158), so a
	// client asking for "everything" still works page by page.
	MaxPageSize = 1000
)

// Config configures the API server. The zero value of every optional field
// has a working default (see withDefaults); New validates the rest.
type Config struct {
	// Store holds every resource. Required.
	Store webhookd.Store
	// Sealer seals new signing secrets at rest and derives the key that
	// authenticates page tokens. Required.
	Sealer *signing.Sealer
	// Catalog is the set of event types that webhooks may subscribe to and
	// the events API may publish. Default: the built-in catalog.
	Catalog *webhookd.Catalog
	// URIPolicy checks destination URIs (AllowHTTP in development mode).
	URIPolicy webhookd.URIPolicy
	// Clock tells the time of create/update times and secret expiry.
	// Default: the system clock.
	Clock webhookd.Clock
	// Logger receives request logs and internal errors (never secrets).
	// Default: discard.
	Logger *slog.Logger
	// LogRequests logs every request at INFO (development mode): method,
	// path, status and duration, never a header or the query. Otherwise
	// requests are logged at DEBUG.
	LogRequests bool
	// PathPrefix is an optional mount point in front of the API version,
	// e.g. "/gemini-proxy" for base URLs with a path. It must start with "/"
	// and not end with one.
	PathPrefix string
	// MaxBodyBytes bounds request bodies. Default: DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Ready reports whether the service can take traffic (/readyz).
	// Default: always ready.
	Ready func(ctx context.Context) error
	// Metrics, if set, is served at /metrics without authentication.
	Metrics http.Handler
	// JWKS, if set, is served at /.well-known/jwks.json without
	// authentication.
	JWKS http.Handler
	// Registerer, if set, receives the API request metrics.
	Registerer prometheus.Registerer
	// TracerProvider, if set, gets a server span for every request (a
	// child of the caller's traceparent) and one for each publish's store
	// commit; nil traces nothing.
	TracerProvider trace.TracerProvider
	// Operations, if set, serves the long-running operations routes
	// (batches, interactions, video, operations, files; see operation.go).
	Operations *lro.Service
	// AdminKey, if set, is the admin credential: projects and API keys
	// over HTTP, and every project's resources (see admin.go).
	AdminKey string
	// PublicURL is the service's public base URL (before PathPrefix), the
	// base of portal links. Default: the address a request came to.
	PublicURL string
	// Console, if set, serves the web console below /console/; "/" leads
	// to it, and /console/session signs in and out (see session.go).
	Console http.Handler
	// Activity, if set, is this process's record of recent attempts: the
	// delivery stats, destination health and live stream (see health.go).
	Activity *activity.Recorder
	// Circuits, if set, tells a destination's circuit state in this
	// process (delivery.Engine.CircuitState).
	Circuits func(destination string) string
	// ConcurrencyLimits, if set, tells a destination's adaptive limit of
	// attempts in flight in this process (delivery.Engine.ConcurrencyLimit).
	ConcurrencyLimits func(destination string) int
}

// withDefaults returns c with every unset optional field filled in; it is the
// one place that knows the defaults.
func (c Config) withDefaults() Config {
	if c.Catalog == nil {
		c.Catalog = webhookd.NewCatalog()
	}
	if c.Clock == nil {
		c.Clock = webhookd.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Ready == nil {
		c.Ready = func(context.Context) error { return nil }
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("field Store is required"))
	}
	if c.Sealer == nil {
		errs = append(errs, errors.New("field Sealer is required"))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxBodyBytes must not be negative, got %d", c.MaxBodyBytes))
	}
	if p := c.PathPrefix; p != "" {
		switch {
		case !strings.HasPrefix(p, "/"):
			errs = append(errs, fmt.Errorf("PathPrefix %q must start with /", p))
		case strings.HasSuffix(p, "/"):
			errs = append(errs, fmt.Errorf("PathPrefix %q must not end with /", p))
		case strings.ContainsAny(p, "?#%:") || strings.Contains(p, "//"):
			errs = append(errs, fmt.Errorf("PathPrefix %q must be a plain path", p))
		}
	}
	return errors.Join(errs...)
}

// Server is the API's http.Handler. It should be the server's root handler:
// it routes the escaped path itself, and a ServeMux in front would clean or
// unescape it.
type Server struct {
	cfg     Config
	log     *slog.Logger
	tokens  pageTokens
	metrics *metrics
	table   []route
	keys    keyCache
	// adminHash is the SHA-256 of Config.AdminKey; nil when unset.
	adminHash []byte
	portal    *PortalLinks
	sessions  signedToken
	// unavailable logs the store's outages: once as one starts, once as it
	// ends, not once per request answered 503 meanwhile.
	unavailable *outage.Log
	// schemas are the compiled schemas of the projects' event types.
	schemas schemaCache
	tracer  trace.Tracer // nil: tracing off
}

// New validates cfg and returns the API server.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("api config: %w", err)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("api metrics: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		tokens:   pageTokens{key: cfg.Sealer.DeriveKey("page-token")},
		metrics:  m,
		portal:   NewPortalLinks(cfg.Sealer),
		sessions: signedToken{key: cfg.Sealer.DeriveKey("console-session")},
		unavailable: outage.New(cfg.Logger, cfg.Clock,
			"the store is unavailable; requests that need it are answered 503 until it is back",
			"the store is available again"),
		tracer: tracing.Tracer(cfg.TracerProvider),
	}
	if cfg.AdminKey != "" {
		s.adminHash = webhookd.HashAPIKey(cfg.AdminKey)
	}
	s.table = append(s.routes(), s.adminRoutes()...)
	if cfg.Operations != nil {
		s.table = append(s.table, s.operationRoutes()...)
	}
	return s, nil
}
