package api

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"

	"github.com/webhookd/webhookd"
)

// access is what a route needs of its caller. The levels are ordered: a
// caller with one level may call every route that needs it or less.
type access int

const (
	// accessView reads a project's webhooks, events and deliveries: what a
	// portal link with the view role shows.
	accessView access = iota + 1
	// accessWebhooks also changes webhooks and retries or recovers their
	// deliveries: a portal link with the manage_webhooks role.
	accessWebhooks
	// accessProject is everything of one project: publishing, operations,
	// files, portal links. A project's API key has it.
	accessProject
	// accessAdmin is every project and the projects themselves, with their
	// API keys: the admin credential.
	accessAdmin
)

// routeAccess is the one place that says what each route needs. Reading the
// delivery log (and its live tail and health) is view; changing a webhook or
// the fate of its deliveries is manage_webhooks; publishing events is the
// project's own business; projects and keys are the admin's.
func routeAccess(method, template string) access {
	read := method == http.MethodGet || method == http.MethodHead
	switch {
	case template == "/projects" || strings.HasPrefix(template, "/projects/{project}/keys"):
		return accessAdmin
	case template == "/projects/{project}" && read:
		return accessView
	case template == "/projects/{project}":
		return accessAdmin
	case strings.HasPrefix(template, "/projects/"):
		return accessProject
	case template == "/events" && !read, strings.HasPrefix(template, "/events:"):
		return accessProject // publishing
	case strings.HasPrefix(template, "/eventTypes"):
		if read {
			return accessView
		}
		return accessProject // what the project publishes
	case strings.HasPrefix(template, "/webhooks"), strings.HasPrefix(template, "/events"),
		strings.HasPrefix(template, "/deliveries"), strings.HasPrefix(template, "/destinations"),
		strings.HasPrefix(template, "/deliveryStats"):
		if read {
			return accessView
		}
		return accessWebhooks
	}
	return accessProject
}

// Roles of a portal link, as the API spells them.
const (
	RoleView           = "view"
	RoleManageWebhooks = "manage_webhooks"
)

// accessOfRole maps a portal role to its access; ok is false for an unknown
// role.
func accessOfRole(role string) (access, bool) {
	switch role {
	case RoleView:
		return accessView, true
	case RoleManageWebhooks:
		return accessWebhooks, true
	}
	return 0, false
}

// Kinds of principal, as GET /console/session names them.
const (
	principalAdmin   = "admin"
	principalProject = "project" // a project's API key
	principalPortal  = "portal"  // a portal link's session
)

// principal is who a request acts for: the admin, or one project with an
// access level. Every authenticated request has exactly one.
type principal struct {
	kind string
	// projectID is the project of a project key or portal link; "" for
	// the admin, who names a project in the path instead.
	projectID string
	level     access
	// role is the portal role; "" for keys.
	role string
	// session is set when the request came with a console session cookie
	// rather than a key in a header.
	session *session
}

// allows reports whether p may call a route that needs need in project
// (the resolved project of the path, or "" for routes of no project).
func (p *principal) allows(need access, project string) bool {
	if p.level < need {
		return false
	}
	return p.kind == principalAdmin || project == "" || project == p.projectID
}

// authenticate finds who the request acts for: a key in x-goog-api-key or
// an Authorization bearer token (a project's API key or the admin key), or
// else a console session cookie, which on a change must come with its CSRF
// token.
func (s *Server) authenticate(r *http.Request) (*principal, error) {
	key := strings.TrimSpace(r.Header.Get("x-goog-api-key"))
	if key == "" {
		if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			key = strings.TrimSpace(token)
		}
	}
	if key == "" {
		if c, err := r.Cookie(SessionCookie); err == nil {
			return s.sessionPrincipal(r, c.Value)
		}
		return nil, webhookd.Errorf(webhookd.EUNAUTHENTICATED,
			"The request has no API key; send it in the x-goog-api-key header or as Authorization: Bearer.")
	}
	return s.keyPrincipal(r, key)
}

// keyPrincipal is the principal of a key: the admin key, or a project's
// API key.
func (s *Server) keyPrincipal(r *http.Request, key string) (*principal, error) {
	if err := webhookd.ValidateAPIKey(key); err != nil {
		// Only keys registered by earlier versions can be this short; say
		// why such a key stopped working. The store is not asked.
		return nil, webhookd.Errorf(webhookd.EUNAUTHENTICATED,
			"API key not valid: keys shorter than %d characters are no longer accepted. Create one with webhookd keys create.",
			webhookd.MinAPIKeyLength)
	}
	hash := webhookd.HashAPIKey(key)
	if s.isAdminKey(hash) {
		return &principal{kind: principalAdmin, level: accessAdmin}, nil
	}
	k, err := s.findKey(r, hash)
	if err != nil {
		return nil, err
	}
	return &principal{kind: principalProject, projectID: k.ProjectID, level: accessProject}, nil
}

// isAdminKey reports whether hash is the admin key's, in constant time.
func (s *Server) isAdminKey(hash []byte) bool {
	return s.adminHash != nil && subtle.ConstantTimeCompare(hash, s.adminHash) == 1
}

// findKey returns the live API key with this SHA-256. Only the hash is
// looked up, as only the hash is stored, and a key found is remembered for
// KeyCacheTTL (see keyCache).
func (s *Server) findKey(r *http.Request, hash []byte) (*webhookd.APIKey, error) {
	now := s.cfg.Clock.Now()
	k := s.keys.get(hash, now)
	if k == nil {
		var err error
		k, err = s.cfg.Store.FindAPIKey(r.Context(), hash)
		if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
			return nil, errKeyNotValid()
		}
		if err != nil {
			return nil, err
		}
		s.keys.put(hash, k, now)
	}
	if k.RevokeTime != nil && !k.RevokeTime.After(now) {
		return nil, errKeyNotValid()
	}
	return k, nil
}

func errKeyNotValid() error {
	return webhookd.Errorf(webhookd.EUNAUTHENTICATED, "API key not valid. Please pass a valid API key.")
}

// scopedPath splits a path below the version into the project it names and
// the route below it: "/projects/P/webhooks/W" is project P and
// "/webhooks/W", in Google's resource-name style. ok is false when the path
// does not name a project's resource. The project segment is decoded.
func scopedPath(escaped string) (project, rest string, ok bool) {
	after, found := strings.CutPrefix(escaped, "/projects/")
	if !found {
		return "", "", false
	}
	seg, rest, found := strings.Cut(after, "/")
	if !found || seg == "" || strings.Contains(seg, ":") || rest == "" {
		return "", "", false
	}
	p, err := url.PathUnescape(seg)
	if err != nil || p == "" {
		return "", "", false
	}
	return p, "/" + rest, true
}

// isProjectRoute reports whether template is one of the admin's project
// routes, whose own path names the project ({project}) or lists them.
func isProjectRoute(template string) bool {
	return template == "/projects" || strings.HasPrefix(template, "/projects/")
}
