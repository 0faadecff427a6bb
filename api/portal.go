package api

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/signing"
)

// Portal links open the console for one project with one role (view, or
// manage_webhooks) until they expire: what a platform hands its customer so
// that the customer can see, and perhaps fix, their own webhooks. The token
// travels in the URL's fragment, which browsers never send to a server, so
// it reaches no access log; the console exchanges it for a session cookie at
// once and removes it from the address bar.
const (
	// DefaultPortalLinkTTL is how long a portal link works when the caller
	// does not say.
	DefaultPortalLinkTTL = time.Hour
	// MaxPortalLinkTTL bounds it: a link is a bearer credential.
	MaxPortalLinkTTL = 24 * time.Hour
	// portalTokenPrefix starts every portal token, so that one is
	// recognisable in a support ticket or a secret scanner.
	portalTokenPrefix = "wpl_"
)

// PortalLink is a URL that opens the console for one project.
type PortalLink struct {
	URL        string
	ProjectID  string
	Role       string
	ExpireTime time.Time
}

// portalClaims is what a portal token says.
type portalClaims struct {
	Project string `json:"p"`
	Role    string `json:"r"`
	Expire  int64  `json:"e"` // Unix seconds
	Nonce   string `json:"n"` // makes every link distinct
}

// PortalLinks makes portal links and reads their tokens. The API's
// :createPortalLink and the CLI's portal-link command share it, so that both
// make the same tokens under the same key.
type PortalLinks struct {
	tokens signedToken
}

// NewPortalLinks returns the portal links signed under sealer's master key.
func NewPortalLinks(sealer *signing.Sealer) *PortalLinks {
	return &PortalLinks{tokens: signedToken{key: sealer.DeriveKey("portal-link")}}
}

// Create returns a link to the console at consoleURL (ending in
// "/console/") for project with role, working for ttl from now (0:
// DefaultPortalLinkTTL).
func (p *PortalLinks) Create(consoleURL, projectID, role string, ttl time.Duration, now time.Time) (PortalLink, error) {
	if _, ok := accessOfRole(role); !ok {
		return PortalLink{}, webhookd.FieldErrorf("role", "role must be %s or %s, got %q.", RoleView, RoleManageWebhooks, role)
	}
	if ttl == 0 {
		ttl = DefaultPortalLinkTTL
	}
	if ttl < time.Second || ttl > MaxPortalLinkTTL {
		return PortalLink{}, webhookd.FieldErrorf("ttl", "ttl must be between 1s and %s, got %s.", MaxPortalLinkTTL, ttl)
	}
	var nonce [9]byte
	_, _ = rand.Read(nonce[:])
	expire := now.Add(ttl).Truncate(time.Second)
	token := portalTokenPrefix + p.tokens.encode(portalClaims{
		Project: projectID, Role: role, Expire: expire.Unix(),
		Nonce: base64.RawURLEncoding.EncodeToString(nonce[:]),
	})
	return PortalLink{URL: consoleURL + "#portal=" + token, ProjectID: projectID, Role: role, ExpireTime: expire.UTC()}, nil
}

// open checks a portal token at now.
func (p *PortalLinks) open(token string, now time.Time) (portalClaims, error) {
	var c portalClaims
	rest, ok := strings.CutPrefix(token, portalTokenPrefix)
	if !ok || !p.tokens.decode(rest, &c) {
		return c, webhookd.Errorf(webhookd.EUNAUTHENTICATED, "The portal link is not valid.")
	}
	if !now.Before(time.Unix(c.Expire, 0)) {
		return c, webhookd.Errorf(webhookd.EUNAUTHENTICATED, "The portal link has expired; ask for a new one.")
	}
	if _, ok := accessOfRole(c.Role); !ok {
		return c, webhookd.Errorf(webhookd.EUNAUTHENTICATED, "The portal link is not valid.")
	}
	return c, nil
}

var createPortalLinkSchema = schema{fields: []string{"role", "ttl"}}

// createPortalLink is POST /projects/{project}:createPortalLink
// {role, ttl}: a link for the project's customer. ttl is a duration such as
// "3600s" (Google's JSON spelling) or "1h".
func (s *Server) createPortalLink(w http.ResponseWriter, r *http.Request) error {
	body, err := s.decodeBody(w, r, createPortalLinkSchema)
	if err != nil {
		return err
	}
	role, ok, err := body.string("role")
	if err != nil {
		return err
	}
	if !ok {
		role = RoleView
	}
	var ttl time.Duration
	if v, ok, err := body.string("ttl"); err != nil {
		return err
	} else if ok {
		if ttl, err = time.ParseDuration(v); err != nil {
			return webhookd.FieldErrorf("ttl", "ttl must be a duration such as \"3600s\", got %q.", v)
		}
	}
	link, err := s.portal.Create(s.consoleURL(r), projectOf(r), role, ttl, s.cfg.Clock.Now())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"url":         link.URL,
		"project":     link.ProjectID,
		"role":        link.Role,
		"expire_time": formatTime(link.ExpireTime),
	})
	return nil
}

// consoleURL is where the console is served: below the configured public
// URL, or else the address the request came to.
func (s *Server) consoleURL(r *http.Request) string {
	base := strings.TrimSuffix(s.cfg.PublicURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = fmt.Sprintf("%s://%s", scheme, r.Host)
	}
	return base + s.cfg.PathPrefix + "/console/"
}
