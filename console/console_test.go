package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/console"
)

func TestServesBelowPrefix(t *testing.T) {
	t.Parallel()
	h, err := console.New("/gemini-proxy")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, wantType, wantBody string
		wantCode                 int
	}{
		{"/gemini-proxy/console/", "text/html", `src="/gemini-proxy/console/app.js"`, 200},
		{"/gemini-proxy/console/webhooks/wh_1", "text/html", `href="/gemini-proxy/console/style.css"`, 200},
		{"/gemini-proxy/console/app.js", "text/javascript", "", 200},
		{"/gemini-proxy/console/style.css", "text/css", "", 200},
		{"/gemini-proxy/console/nope.png", "text/plain", "", 404},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != tt.wantCode || !strings.HasPrefix(rec.Header().Get("Content-Type"), tt.wantType) || !strings.Contains(string(body), tt.wantBody) {
			t.Errorf("GET %s = %d %q %.120q", tt.path, rec.Code, rec.Header().Get("Content-Type"), body)
		}
		if rec.Header().Get("Content-Security-Policy") != console.ContentSecurityPolicy {
			t.Errorf("GET %s: no CSP", tt.path)
		}
	}
	// A revalidation with the ETag costs no body.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/gemini-proxy/console/app.js", nil))
	req := httptest.NewRequest(http.MethodGet, "/gemini-proxy/console/app.js", nil)
	req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
	rec2 := httptest.NewRecorder()
	h.ServeHTTP(rec2, req)
	if rec2.Code != http.StatusNotModified || rec2.Body.Len() != 0 {
		t.Errorf("revalidation = %d with %d bytes, want 304 without a body", rec2.Code, rec2.Body.Len())
	}
}
