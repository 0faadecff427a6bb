package api

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/webhookd/webhookd"
)

// The console signs in once, with a project's API key, the admin key or a
// portal link, and from then on calls the public API with a session cookie
// instead of a key: the key never stays in the browser, where a script
// could read it. The cookie is HttpOnly (no script reads it) and
// SameSite=Strict (no other site's page sends it); every change must also
// carry the session's CSRF token in X-CSRF-Token, which only the console's
// own pages learn (from GET /console/session).
//
// A session is a signed token, not a row: any process sharing the master
// key accepts it. A key session re-checks its key at every request (within
// KeyCacheTTL), so revoking the key ends it; a portal session ends when its
// link expires.
const (
	// SessionCookie is the name of the console's session cookie.
	SessionCookie = "webhookd_session"
	// CSRFHeader carries the session's CSRF token on every change.
	CSRFHeader = "X-CSRF-Token"
	// SessionLifetime is how long a key's session lasts.
	SessionLifetime = 12 * time.Hour
)

// session is what the cookie holds.
type session struct {
	Kind    string `json:"k"`
	Project string `json:"p,omitempty"`
	Role    string `json:"r,omitempty"`
	// KeyHash is the SHA-256 of the key that signed in, checked again at
	// every request; never the key itself.
	KeyHash []byte `json:"h,omitempty"`
	Expire  int64  `json:"e"` // Unix seconds
	CSRF    string `json:"c"`
}

// console returns the handler of a path of the console, if any: its
// session endpoint, the console's pages (Config.Console), and "/", which
// leads to them.
func (s *Server) console(rest string, prefixed bool) (http.Handler, string) {
	switch {
	case !prefixed:
		return nil, ""
	case rest == sessionPath:
		return http.HandlerFunc(s.serveSession), sessionPath
	case s.cfg.Console == nil:
		return nil, ""
	case rest == "/" || rest == "" || rest == "/console":
		return http.RedirectHandler(s.cfg.PathPrefix+"/console/", http.StatusFound), "/console"
	case strings.HasPrefix(rest, "/console/"):
		return s.cfg.Console, "/console/"
	}
	return nil, ""
}

// sessionPath is where the console signs in and out, below the prefix.
const sessionPath = "/console/session"

// sessionMethods are the methods sessionPath answers (HEAD as GET).
var sessionMethods = []string{http.MethodGet, http.MethodPost, http.MethodDelete}

// serveSession is /console/session: GET tells who is signed in, POST
// {api_key} or {portal_token} signs in, DELETE signs out.
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request) {
	var err error
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		err = s.getSession(w, r)
	case http.MethodPost:
		err = s.signIn(w, r)
	case http.MethodDelete:
		err = s.signOut(w, r)
	default:
		writeMiss(w, r, &miss{path: r.URL.Path, allow: sessionMethods})
		return
	}
	if err != nil {
		s.writeError(w, r, err)
	}
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) error {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return webhookd.Errorf(webhookd.EUNAUTHENTICATED, "Not signed in.")
	}
	sess, _, err := s.openSession(r, c.Value)
	if err != nil {
		return err
	}
	return s.writeSession(w, r, sess)
}

var signInSchema = schema{fields: []string{"api_key", "portal_token"}}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) error {
	// A JSON body can only come from a script of this origin (any other
	// would need a CORS preflight, which is never granted); a form of
	// another site cannot sign its victim in to the other site's account.
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return webhookd.Errorf(webhookd.EINVALID, "Sign in with a JSON body: {\"api_key\": …} or {\"portal_token\": …}.")
	}
	body, err := s.decodeBody(w, r, signInSchema)
	if err != nil {
		return err
	}
	key, _, err := body.string("api_key")
	if err != nil {
		return err
	}
	token, _, err := body.string("portal_token")
	if err != nil {
		return err
	}
	now := s.cfg.Clock.Now()
	sess := session{Expire: now.Add(SessionLifetime).Unix(), CSRF: newCSRFToken()}
	switch {
	case key != "" && token != "":
		return webhookd.Errorf(webhookd.EINVALID, "Give api_key or portal_token, not both.")
	case token != "":
		c, err := s.portal.open(token, now)
		if err != nil {
			return err
		}
		if _, err := s.cfg.Store.GetProject(r.Context(), c.Project); err != nil {
			return webhookd.Errorf(webhookd.EUNAUTHENTICATED, "The portal link is not valid.")
		}
		sess.Kind, sess.Project, sess.Role, sess.Expire = principalPortal, c.Project, c.Role, c.Expire
	case key != "":
		p, err := s.keyPrincipal(r, strings.TrimSpace(key))
		if err != nil {
			return err
		}
		sess.Kind, sess.Project, sess.KeyHash = p.kind, p.projectID, webhookd.HashAPIKey(strings.TrimSpace(key))
	default:
		return webhookd.FieldErrorf("api_key", "api_key (or portal_token) is required.")
	}
	http.SetCookie(w, s.sessionCookie(r, s.sessions.encode(sess), false))
	return s.writeSession(w, r, sess)
}

// signOut clears the cookie. With a live session it needs the CSRF token,
// so that another site cannot sign a user out.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if _, _, err := s.openSession(r, c.Value); err == nil {
			if _, err := s.sessionPrincipal(r, c.Value); err != nil {
				return err
			}
		}
	}
	http.SetCookie(w, s.sessionCookie(r, "", true))
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// writeSession answers who sess is, with its CSRF token.
func (s *Server) writeSession(w http.ResponseWriter, r *http.Request, sess session) error {
	out := struct {
		Kind       string       `json:"kind"`
		Project    *projectJSON `json:"project,omitempty"`
		Role       string       `json:"role,omitempty"`
		ExpireTime string       `json:"expire_time"`
		CSRFToken  string       `json:"csrf_token"`
	}{Kind: sess.Kind, Role: sess.Role, ExpireTime: formatTime(time.Unix(sess.Expire, 0)), CSRFToken: sess.CSRF}
	if sess.Project != "" {
		p, err := s.cfg.Store.GetProject(r.Context(), sess.Project)
		if err != nil {
			return err
		}
		pj := newProjectJSON(p)
		out.Project = &pj
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// sessionCookie is the session cookie with value, or the one that deletes
// it. It lasts while the browser runs (the session's own expiry is checked
// here, by the server's clock, not the browser's), is sent to the API and
// the console below the path prefix, and only over TLS when the service is
// reached over TLS.
func (s *Server) sessionCookie(r *http.Request, value string, remove bool) *http.Cookie {
	c := &http.Cookie{
		Name:     SessionCookie,
		Value:    value,
		Path:     s.cfg.PathPrefix + "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   r.TLS != nil || strings.HasPrefix(s.cfg.PublicURL, "https://"),
	}
	if remove {
		c.MaxAge = -1
	}
	return c
}

// openSession reads a session cookie and checks that it has not expired.
func (s *Server) openSession(r *http.Request, value string) (session, *principal, error) {
	var sess session
	if !s.sessions.decode(value, &sess) {
		return sess, nil, webhookd.Errorf(webhookd.EUNAUTHENTICATED, "The session is not valid; sign in again.")
	}
	if !s.cfg.Clock.Now().Before(time.Unix(sess.Expire, 0)) {
		return sess, nil, webhookd.Errorf(webhookd.EUNAUTHENTICATED, "The session has expired; sign in again.")
	}
	p := &principal{kind: sess.Kind, projectID: sess.Project, role: sess.Role, session: &sess}
	switch sess.Kind {
	case principalAdmin:
		if !s.isAdminKey(sess.KeyHash) {
			return sess, nil, webhookd.Errorf(webhookd.EUNAUTHENTICATED, "The session's admin key is no longer valid; sign in again.")
		}
		p.level = accessAdmin
	case principalProject:
		k, err := s.findKey(r, sess.KeyHash)
		if err != nil || k.ProjectID != sess.Project {
			return sess, nil, webhookd.Errorf(webhookd.EUNAUTHENTICATED, "The session's API key is no longer valid; sign in again.")
		}
		p.level = accessProject
	case principalPortal:
		var ok bool
		if p.level, ok = accessOfRole(sess.Role); !ok {
			return sess, nil, webhookd.Errorf(webhookd.EUNAUTHENTICATED, "The session is not valid; sign in again.")
		}
	default:
		return sess, nil, webhookd.Errorf(webhookd.EUNAUTHENTICATED, "The session is not valid; sign in again.")
	}
	return sess, p, nil
}

// sessionPrincipal is the principal of a session cookie; a request that
// changes anything must carry the session's CSRF token.
func (s *Server) sessionPrincipal(r *http.Request, value string) (*principal, error) {
	sess, p, err := s.openSession(r, value)
	if err != nil {
		return nil, err
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		got := r.Header.Get(CSRFHeader)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) != 1 {
			return nil, webhookd.Errorf(webhookd.EPERMISSION, "The request lacks the session's CSRF token (%s).", CSRFHeader)
		}
	}
	return p, nil
}

func newCSRFToken() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
