package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/api"
	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/signing"
)

// TestPortalLinkCommand makes a link with the CLI and opens it on a server
// that shares the database and the master key, as an operator's would.
func TestPortalLinkCommand(t *testing.T) {
	const master = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	env := map[string]string{"WEBHOOKD_MASTER_KEY": master, "WEBHOOKD_PUBLIC_URL": "https://hooks.example"}
	old := envLookup
	envLookup = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	t.Cleanup(func() { envLookup = old })

	path := filepath.Join(t.TempDir(), "portal.db")
	db := "sqlite:" + path
	if _, _, err := runCLI(t, db, "migrate"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, db, "projects", "create", "acme"); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCLI(t, db, "portal-link", "--project", "acme", "--role", "manage_webhooks", "--ttl", "30m")
	if err != nil {
		t.Fatalf("portal-link: %v (%s)", err, errOut)
	}
	link := strings.TrimSpace(out)
	if !strings.HasPrefix(link, "https://hooks.example/console/#portal=wpl_") || !strings.Contains(errOut, "manage_webhooks") {
		t.Fatalf("portal-link printed %q / %q", out, errOut)
	}
	if _, _, err := runCLI(t, db, "portal-link", "--project", "acme", "--role", "owner"); err == nil {
		t.Error("portal-link accepted the role owner")
	}
	if _, _, err := runCLI(t, db, "portal-link", "--project", "nope"); err == nil {
		t.Error("portal-link made a link for a project that does not exist")
	}

	clock := fakeclock.New(time.Now().UTC())
	st, err := openStore(t.Context(), db, false, clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, _ := signing.ParseMasterKey(master)
	sealer, _ := signing.NewSealer(key)
	h, err := api.New(api.Config{Store: st, Sealer: sealer, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	token := link[strings.Index(link, "#portal=")+len("#portal="):]
	signIn := func() int {
		res, err := http.Post(srv.URL+"/console/session", "application/json", strings.NewReader(`{"portal_token":"`+token+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := signIn(); code != http.StatusOK {
		t.Fatalf("signing in with the CLI's link: %d", code)
	}
	clock.Advance(31 * time.Minute)
	if code := signIn(); code != http.StatusUnauthorized {
		t.Fatalf("signing in with the link 31 minutes later: %d, want 401", code)
	}
}
