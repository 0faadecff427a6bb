package main

import (
	"bytes"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestDestinationsRefusedAtCreate runs `webhookd serve` outside dev mode and
// checks that an IP literal the dial guard refuses is refused with 400 when
// it is given — static webhooks (create, update), the publish API and a
// job's webhook_config alike — while WEBHOOKD_ALLOW_DESTINATIONS lets its
// ranges through and host names are left to the guard at dial time.
func TestDestinationsRefusedAtCreate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	bin := buildBinary(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr
	startServer(t, bin, dir, []string{
		"WEBHOOKD_ADDR=" + addr,
		"WEBHOOKD_DB=sqlite:" + filepath.Join(dir, "webhookd.db"),
		"WEBHOOKD_API_KEY=" + crashAPIKey,
		"WEBHOOKD_DEV=0",
		"WEBHOOKD_ALLOW_DESTINATIONS=10.1.2.0/24",
		"WEBHOOKD_MASTER_KEY_FILE=" + filepath.Join(dir, "master.key"),
		"WEBHOOKD_LOG_LEVEL=warn",
	}, base)

	send := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, bytes.NewReader([]byte(body)))
		req.Header.Set("x-goog-api-key", crashAPIKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var created struct {
		ID string `json:"id"`
	}
	call(t, base, "POST", "/v1/webhooks", map[string]any{"uri": "https://10.1.2.3/hook", "subscribed_events": []string{"batch.succeeded"}}, &created)
	call(t, base, "POST", "/v1/webhooks", map[string]any{"uri": "https://hooks.internal.example/hook", "subscribed_events": []string{"batch.succeeded"}}, nil)

	for _, tc := range []struct{ name, method, path, body, field string }{
		{"metadata address", "POST", "/v1/webhooks", `{"uri":"https://169.254.169.254/latest/meta-data","subscribed_events":["batch.succeeded"]}`, "uri"},
		{"loopback", "POST", "/v1/webhooks", `{"uri":"https://127.0.0.1","subscribed_events":["batch.succeeded"]}`, "uri"},
		{"outside the allow-list", "POST", "/v1/webhooks", `{"uri":"https://10.1.3.1/hook","subscribed_events":["batch.succeeded"]}`, "uri"},
		{"update to a ULA", "PATCH", "/v1/webhooks/" + created.ID, `{"uri":"https://[fd00::1]/hook"}`, "uri"},
		{"publish", "POST", "/v1/events", `{"type":"batch.succeeded","webhook_config":{"uris":["https://hooks.example/ok","https://192.168.1.1/x"]}}`, "webhook_config.uris[1]"},
		{"batch publish", "POST", "/v1/events:batchPublish", `{"events":[{"type":"batch.succeeded","webhook_config":{"uris":["https://[::ffff:127.0.0.1]/"]}}]}`, "events[0].webhook_config.uris[0]"},
		{"batch job", "POST", "/v1/models/gemini-2.5-flash:batchGenerateContent",
			`{"batch":{"inputConfig":{"requests":{"requests":[{"request":{"contents":[{"parts":[{"text":"a"}]}]}}]}},"webhookConfig":{"uris":["https://[::1]/x"]}}}`, "uris[0]"},
		{"interaction", "POST", "/v1/interactions", `{"model":"gemini-2.5-flash","input":"hi","background":true,"webhook_config":{"uris":["https://100.64.0.1/x"]}}`, "uris[0]"},
	} {
		code, body := send(tc.method, tc.path, tc.body)
		if code != 400 || !strings.Contains(body, "INVALID_ARGUMENT") || !strings.Contains(body, tc.field) || !strings.Contains(body, "is not an allowed destination") {
			t.Errorf("%s: %d %s; want 400 INVALID_ARGUMENT naming %s as not an allowed destination", tc.name, code, body, tc.field)
		}
		for _, leak := range []string{"loopback", "link-local", "cloud-metadata", "private-network"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s: the answer names the address class (%s): %s", tc.name, leak, body)
			}
		}
	}
}
