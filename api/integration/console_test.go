package integration_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/api"
	"github.com/webhookd/webhookd/console"
	"github.com/webhookd/webhookd/internal/fakeclock"
)

// adminKey is the admin credential of every console bundle.
const adminKey = "test-admin-key-0123456789"

// cbundle is a server with the admin key and the console, on one store,
// with two projects ("main" and "other") and a key for each.
type cbundle struct {
	store    webhookd.Store
	clock    *fakeclock.Clock
	srv      *httptest.Server
	main     *webhookd.Project
	mainKey  string
	other    *webhookd.Project
	otherKey string
}

func csetup(t *testing.T, open openStoreFunc, edit ...func(*api.Config)) *cbundle {
	t.Helper()
	b := &cbundle{clock: fakeclock.New(epoch)}
	b.store = open(t, b.clock)
	b.main, b.mainKey = b.newProject(t, "main")
	b.other, b.otherKey = b.newProject(t, "other")
	ui, err := console.New("")
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.Config{
		Store:     b.store,
		Sealer:    mustSealer(t),
		Clock:     b.clock,
		AdminKey:  adminKey,
		Console:   ui,
		URIPolicy: webhookd.URIPolicy{AllowHTTP: true},
	}
	for _, e := range edit {
		e(&cfg)
	}
	h, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.srv = httptest.NewServer(validated(t, h, cfg.PathPrefix))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *cbundle) newProject(t *testing.T, name string) (*webhookd.Project, string) {
	t.Helper()
	p := &webhookd.Project{ID: webhookd.NewID(webhookd.PrefixProject), Name: name, CreateTime: b.clock.Now()}
	if err := b.store.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	key, rec := webhookd.GenerateAPIKey(p.ID, "test key", b.clock)
	if err := b.store.CreateAPIKey(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	return p, key
}

// client calls the API as one caller: with a key in x-goog-api-key, or,
// after signIn, with the session cookie and its CSRF token.
type client struct {
	b    *cbundle
	key  string
	http *http.Client
	csrf string
}

func (b *cbundle) as(key string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{b: b, key: key, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// browser is a client with no key: it signs in for a session.
func (b *cbundle) browser() *client { return b.as("") }

func (c *client) do(t *testing.T, method, path, body string, header ...string) *response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, c.b.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("x-goog-api-key", c.key)
	}
	if c.csrf != "" {
		req.Header.Set(api.CSRFHeader, c.csrf)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{code: res.StatusCode, header: res.Header, body: data}
}

type sessionJSON struct {
	Kind    string `json:"kind"`
	Project *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"project"`
	Role       string `json:"role"`
	ExpireTime string `json:"expire_time"`
	CSRFToken  string `json:"csrf_token"`
}

// signIn posts body to /console/session and keeps the CSRF token.
func (c *client) signIn(t *testing.T, body string) sessionJSON {
	t.Helper()
	var s sessionJSON
	c.do(t, "POST", "/console/session", body).ok(t, &s)
	c.csrf = s.CSRFToken
	return s
}

func TestAdminAPI(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open openStoreFunc) {
		b := csetup(t, open)
		admin := b.as(adminKey)

		var list struct {
			Projects []struct{ ID, Name, Audience string } `json:"projects"`
		}
		admin.do(t, "GET", "/v1/projects", "").ok(t, &list)
		if len(list.Projects) != 2 || list.Projects[0].Name+list.Projects[1].Name != "mainother" && list.Projects[0].Name+list.Projects[1].Name != "othermain" {
			t.Fatalf("GET /v1/projects = %+v, want main and other", list.Projects)
		}

		var created struct{ ID, Name, Audience string }
		admin.do(t, "POST", "/v1/projects", `{"name":"acme","audience":"https://acme.example"}`).ok(t, &created)
		if !strings.HasPrefix(created.ID, webhookd.PrefixProject) || created.Name != "acme" || created.Audience != "https://acme.example" {
			t.Fatalf("created project = %+v", created)
		}
		admin.do(t, "POST", "/v1/projects", `{"name":"acme"}`).fails(t, 409, "ALREADY_EXISTS", "already exists")
		admin.do(t, "POST", "/v1/projects", `{"audience":"x"}`).fails(t, 400, "INVALID_ARGUMENT", "name is required")

		// By name or by id, the same project.
		var got struct{ ID, Audience string }
		admin.do(t, "GET", "/v1/projects/acme", "").ok(t, &got)
		if got.ID != created.ID {
			t.Fatalf("GET /v1/projects/acme = %+v, want id %s", got, created.ID)
		}
		admin.do(t, "PATCH", "/v1/projects/"+created.ID+"?update_mask=audience", `{"audience":"aud-2"}`).ok(t, &got)
		if got.Audience != "aud-2" {
			t.Fatalf("audience after PATCH = %q, want aud-2", got.Audience)
		}
		admin.do(t, "PATCH", "/v1/projects/acme?update_mask=name", `{"name":"x"}`).fails(t, 400, "INVALID_ARGUMENT", "update_mask")
		admin.do(t, "GET", "/v1/projects/nope", "").fails(t, 404, "NOT_FOUND", "nope")

		// Keys: created once in clear, listed by prefix, revoked.
		var key struct {
			ID, Name, Prefix string
			KeyString        string `json:"key_string"`
			RevokeTime       string `json:"revoke_time"`
		}
		admin.do(t, "POST", "/v1/projects/acme/keys", `{"name":"ci"}`).ok(t, &key)
		if !strings.HasPrefix(key.KeyString, webhookd.APIKeyPrefix) || !strings.HasPrefix(key.KeyString, key.Prefix) || key.Name != "ci" {
			t.Fatalf("created key = %+v", key)
		}
		acme := b.as(key.KeyString)
		acme.do(t, "GET", "/v1/webhooks", "").ok(t, nil)
		var keys struct {
			Keys []struct {
				ID        string
				KeyString string `json:"key_string"`
			} `json:"keys"`
		}
		admin.do(t, "GET", "/v1/projects/acme/keys", "").ok(t, &keys)
		if len(keys.Keys) != 1 || keys.Keys[0].ID != key.ID || keys.Keys[0].KeyString != "" {
			t.Fatalf("listed keys = %s, want the one key without its string", dump(keys))
		}
		admin.do(t, "POST", "/v1/projects/acme/keys/"+key.ID+":revoke", "").ok(t, &key)
		if key.RevokeTime == "" {
			t.Fatalf("revoked key has no revoke_time: %+v", key)
		}
		admin.do(t, "POST", "/v1/projects/acme/keys/key_nope:revoke", "").fails(t, 404, "NOT_FOUND", "API key")
		b.clock.Advance(api.KeyCacheTTL + time.Second) // the server remembers a key it has seen for this long
		acme.do(t, "GET", "/v1/webhooks", "").fails(t, 401, "UNAUTHENTICATED", "not valid")

		// A project's key is no admin.
		user := b.as(b.mainKey)
		user.do(t, "GET", "/v1/projects", "").fails(t, 403, "PERMISSION_DENIED", "")
		user.do(t, "POST", "/v1/projects/main/keys", `{}`).fails(t, 403, "PERMISSION_DENIED", "")
		user.do(t, "GET", "/v1/projects/other", "").fails(t, 404, "NOT_FOUND", "other")
		user.do(t, "GET", "/v1/projects/main", "").ok(t, nil)
	})
}

func TestProjectScopedRoutes(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open openStoreFunc) {
		b := csetup(t, open)
		admin := b.as(adminKey)
		body := `{"uri":"https://example.com/h","subscribed_events":["batch.succeeded"]}`

		// The admin acts on any project by its resource name.
		var w webhook
		admin.do(t, "POST", "/v1/projects/other/webhooks", body).ok(t, &w)
		admin.do(t, "GET", "/v1beta/projects/"+b.other.ID+"/webhooks/"+w.ID, "").ok(t, nil)
		admin.do(t, "POST", "/v1/projects/other/webhooks/"+w.ID+":ping", "").ok(t, nil)
		admin.do(t, "GET", "/v1/projects/main/webhooks/"+w.ID, "").fails(t, 404, "NOT_FOUND", "Webhook")
		admin.do(t, "GET", "/v1/webhooks", "").fails(t, 400, "INVALID_ARGUMENT", "/v1/projects/{project}/webhooks")
		admin.do(t, "GET", "/v1/projects/nope/webhooks", "").fails(t, 404, "NOT_FOUND", "nope")

		// A project's key reaches its own project either way, and no other.
		other := b.as(b.otherKey)
		var viaScope, plain struct{ Webhooks []webhook }
		other.do(t, "GET", "/v1/projects/other/webhooks", "").ok(t, &viaScope)
		other.do(t, "GET", "/v1/webhooks", "").ok(t, &plain)
		if len(viaScope.Webhooks) != 1 || len(plain.Webhooks) != 1 || viaScope.Webhooks[0].ID != w.ID {
			t.Fatalf("scoped %s, plain %s: want the one webhook %s", dump(viaScope), dump(plain), w.ID)
		}
		b.as(b.mainKey).do(t, "GET", "/v1/projects/other/webhooks", "").fails(t, 404, "NOT_FOUND", "other")
		b.as(b.mainKey).do(t, "GET", "/v1/projects/"+b.other.ID+"/webhooks/"+w.ID, "").fails(t, 404, "NOT_FOUND", "")

		// No nesting, and unknown routes below a project are 404s.
		admin.do(t, "GET", "/v1/projects/main/projects/other/webhooks", "").fails(t, 404, "NOT_FOUND", "No route")
		admin.do(t, "GET", "/v1/projects/main/nothing", "").fails(t, 404, "NOT_FOUND", "No route")
		admin.do(t, "PUT", "/v1/projects/main/webhooks", "").fails(t, 405, "UNIMPLEMENTED", "")
	})
}

func TestConsoleSession(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open openStoreFunc) {
		b := csetup(t, open)
		br := b.browser()
		br.do(t, "GET", "/console/session", "").fails(t, 401, "UNAUTHENTICATED", "Not signed in")
		br.do(t, "POST", "/console/session", `{"api_key":"whd_nope"}`).fails(t, 401, "UNAUTHENTICATED", "not valid")
		// A form post (another site's page) cannot sign in.
		br.do(t, "POST", "/console/session", `api_key=x`, "Content-Type", "application/x-www-form-urlencoded").
			fails(t, 400, "INVALID_ARGUMENT", "JSON")

		s := br.signIn(t, `{"api_key":"`+b.mainKey+`"}`)
		if s.Kind != "project" || s.Project == nil || s.Project.ID != b.main.ID || s.CSRFToken == "" {
			t.Fatalf("session = %+v", s)
		}
		cookie := br.http.Jar.Cookies(mustURL(t, b.srv.URL))
		if len(cookie) != 1 || cookie[0].Name != api.SessionCookie || strings.Contains(cookie[0].Value, b.mainKey) {
			t.Fatalf("cookies = %v, want one session cookie without the key", cookie)
		}
		res := b.browser().do(t, "POST", "/console/session", `{"api_key":"`+b.mainKey+`"}`)
		setCookie := res.header.Get("Set-Cookie")
		for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
			if !strings.Contains(setCookie, want) {
				t.Errorf("Set-Cookie %q lacks %s", setCookie, want)
			}
		}

		// The session calls the public API; a change needs the CSRF token.
		br.do(t, "GET", "/v1/webhooks", "").ok(t, nil)
		csrf := br.csrf
		br.csrf = ""
		br.do(t, "POST", "/v1/webhooks", `{"uri":"https://example.com/h","subscribed_events":["batch.succeeded"]}`).
			fails(t, 403, "PERMISSION_DENIED", "CSRF")
		br.csrf = "wrong"
		br.do(t, "POST", "/v1/events", `{"type":"batch.succeeded"}`).fails(t, 403, "PERMISSION_DENIED", "CSRF")
		br.csrf = csrf
		br.do(t, "POST", "/v1/events", `{"type":"batch.succeeded"}`).ok(t, nil)
		br.do(t, "GET", "/v1/projects/other/webhooks", "").fails(t, 404, "NOT_FOUND", "")

		// Sign out: the cookie goes, and with it the session.
		br.do(t, "DELETE", "/console/session", "").ok(t, nil)
		br.do(t, "GET", "/v1/webhooks", "").fails(t, 401, "UNAUTHENTICATED", "")

		// A forged or edited cookie is refused.
		forged := b.browser()
		forged.http.Jar.SetCookies(mustURL(t, b.srv.URL), []*http.Cookie{{Name: api.SessionCookie, Value: "eyJrIjoiYWRtaW4ifQ.AAAA"}})
		forged.do(t, "GET", "/v1/projects", "").fails(t, 401, "UNAUTHENTICATED", "not valid")

		// The admin signs in with the admin key.
		ad := b.browser()
		if s := ad.signIn(t, `{"api_key":"`+adminKey+`"}`); s.Kind != "admin" || s.Project != nil {
			t.Fatalf("admin session = %+v", s)
		}
		ad.do(t, "POST", "/v1/projects", `{"name":"from-console"}`).ok(t, nil)

		// Revoking the key ends its sessions; a session expires.
		k := b.browser()
		key, rec := webhookd.GenerateAPIKey(b.main.ID, "temp", b.clock)
		if err := b.store.CreateAPIKey(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
		k.signIn(t, `{"api_key":"`+key+`"}`)
		if err := b.store.RevokeAPIKey(t.Context(), b.main.ID, rec.ID); err != nil {
			t.Fatal(err)
		}
		b.clock.Advance(api.KeyCacheTTL + time.Second)
		k.do(t, "GET", "/v1/webhooks", "").fails(t, 401, "UNAUTHENTICATED", "no longer valid")
		ad.do(t, "GET", "/v1/projects", "").ok(t, nil)
		b.clock.Advance(api.SessionLifetime)
		ad.do(t, "GET", "/v1/projects", "").fails(t, 401, "UNAUTHENTICATED", "expired")
	})
}

func TestPortalLinks(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open openStoreFunc) {
		b := csetup(t, open)
		admin := b.as(adminKey)
		var w webhook
		admin.do(t, "POST", "/v1/projects/main/webhooks", `{"uri":"https://example.com/h","subscribed_events":["batch.succeeded"]}`).ok(t, &w)

		type link struct {
			URL        string `json:"url"`
			Project    string `json:"project"`
			Role       string `json:"role"`
			ExpireTime string `json:"expire_time"`
		}
		var view link
		admin.do(t, "POST", "/v1/projects/main:createPortalLink", `{"role":"view"}`).ok(t, &view)
		wantExpire := b.clock.Now().Add(api.DefaultPortalLinkTTL).Format(time.RFC3339)
		if !strings.HasPrefix(view.URL, b.srv.URL+"/console/#portal=wpl_") || view.Project != b.main.ID || view.Role != "view" || view.ExpireTime != wantExpire {
			t.Fatalf("portal link = %+v, want one for %s expiring at %s", view, b.main.ID, wantExpire)
		}
		// A project's own key makes links for itself only; bad input is a 400.
		var manage link
		b.as(b.mainKey).do(t, "POST", "/v1/projects/main:createPortalLink", `{"role":"manage_webhooks","ttl":"600s"}`).ok(t, &manage)
		b.as(b.mainKey).do(t, "POST", "/v1/projects/other:createPortalLink", `{}`).fails(t, 404, "NOT_FOUND", "")
		admin.do(t, "POST", "/v1/projects/main:createPortalLink", `{"role":"owner"}`).fails(t, 400, "INVALID_ARGUMENT", "role")
		admin.do(t, "POST", "/v1/projects/main:createPortalLink", `{"ttl":"48h"}`).fails(t, 400, "INVALID_ARGUMENT", "ttl")
		admin.do(t, "POST", "/v1/projects/main:createPortalLink", `{"ttl":"soon"}`).fails(t, 400, "INVALID_ARGUMENT", "ttl")

		token := func(l link) string { return l.URL[strings.Index(l.URL, "#portal=")+len("#portal="):] }

		// view: reads the project's webhooks, events and deliveries; changes nothing.
		v := b.browser()
		s := v.signIn(t, `{"portal_token":"`+token(view)+`"}`)
		if s.Kind != "portal" || s.Role != "view" || s.Project == nil || s.Project.ID != b.main.ID || s.ExpireTime != wantExpire {
			t.Fatalf("portal session = %+v", s)
		}
		v.do(t, "GET", "/v1/webhooks/"+w.ID, "").ok(t, nil)
		v.do(t, "GET", "/v1/projects/main/events", "").ok(t, nil)
		v.do(t, "POST", "/v1/webhooks/"+w.ID+":ping", "").fails(t, 403, "PERMISSION_DENIED", "")
		v.do(t, "POST", "/v1/events", `{"type":"batch.succeeded"}`).fails(t, 403, "PERMISSION_DENIED", "")
		v.do(t, "POST", "/v1/events:batchPublish", `{"events":[{"type":"batch.succeeded"}]}`).fails(t, 403, "PERMISSION_DENIED", "")
		v.do(t, "POST", "/v1/projects/main:createPortalLink", `{}`).fails(t, 403, "PERMISSION_DENIED", "")
		v.do(t, "GET", "/v1/projects/other/webhooks", "").fails(t, 404, "NOT_FOUND", "")
		v.do(t, "GET", "/v1/projects", "").fails(t, 403, "PERMISSION_DENIED", "")

		// manage_webhooks: changes webhooks, still publishes nothing.
		m := b.browser()
		m.signIn(t, `{"portal_token":"`+token(manage)+`"}`)
		m.do(t, "POST", "/v1/webhooks/"+w.ID+":ping", "").ok(t, nil)
		m.do(t, "POST", "/v1/webhooks", `{"uri":"https://example.com/2","subscribed_events":["batch.failed"]}`).ok(t, nil)
		m.do(t, "POST", "/v1/events", `{"type":"batch.succeeded"}`).fails(t, 403, "PERMISSION_DENIED", "")

		// Edited and expired links are refused, and so are their sessions.
		b.browser().do(t, "POST", "/console/session", `{"portal_token":"`+token(view)+`x"}`).fails(t, 401, "UNAUTHENTICATED", "not valid")
		b.browser().do(t, "POST", "/console/session", `{"portal_token":"`+strings.Replace(token(view), "wpl_", "wpl_x", 1)+`"}`).
			fails(t, 401, "UNAUTHENTICATED", "not valid")
		b.clock.Advance(10 * time.Minute)
		m.do(t, "GET", "/v1/webhooks", "").fails(t, 401, "UNAUTHENTICATED", "expired")
		v.do(t, "GET", "/v1/webhooks", "").ok(t, nil)
		b.clock.Advance(50 * time.Minute)
		v.do(t, "GET", "/v1/webhooks", "").fails(t, 401, "UNAUTHENTICATED", "expired")
		b.browser().do(t, "POST", "/console/session", `{"portal_token":"`+token(view)+`"}`).fails(t, 401, "UNAUTHENTICATED", "expired")
	})
}

func TestConsoleServed(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open openStoreFunc) {
		b := csetup(t, open)
		br := b.browser()
		if res := br.raw(t, "GET", "/"); res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/console/" {
			t.Fatalf("GET / = %d to %q, want a redirect to /console/", res.StatusCode, res.Header.Get("Location"))
		}
		for _, path := range []string{"/console/", "/console/webhooks/wh_x", "/console/events"} {
			res := br.raw(t, "GET", path)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
				!strings.Contains(string(body), `src="/console/app.js"`) {
				t.Fatalf("GET %s = %d %s: %.200s", path, res.StatusCode, res.Header.Get("Content-Type"), body)
			}
			if got := res.Header.Get("Content-Security-Policy"); got != console.ContentSecurityPolicy {
				t.Errorf("GET %s: CSP %q", path, got)
			}
		}
		res := br.raw(t, "GET", "/console/app.js")
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") || res.Header.Get("ETag") == "" {
			t.Fatalf("GET /console/app.js = %d %v", res.StatusCode, res.Header)
		}
		if res := br.raw(t, "GET", "/console/missing.js"); res.StatusCode != 404 {
			t.Errorf("GET /console/missing.js = %d, want 404", res.StatusCode)
		}
		if res := br.raw(t, "POST", "/console/"); res.StatusCode != 405 {
			t.Errorf("POST /console/ = %d, want 405", res.StatusCode)
		}
	})
}

func (c *client) raw(t *testing.T, method, path string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, c.b.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
