package main

import (
	"bytes"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
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

// TestRefusalsStayInTheLog: outside dev mode, a host name that resolves to a
// refused address is refused at dial time; the delivery log of the API says
// only that the destination is not allowed or does not resolve, and the
// server log has the address and its class.
func TestRefusalsStayInTheLog(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	bin := buildBinary(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr
	srv := startServer(t, bin, dir, []string{
		"WEBHOOKD_ADDR=" + addr,
		"WEBHOOKD_DB=sqlite:" + filepath.Join(dir, "webhookd.db"),
		"WEBHOOKD_API_KEY=" + crashAPIKey,
		"WEBHOOKD_DEV=0",
		"WEBHOOKD_MASTER_KEY_FILE=" + filepath.Join(dir, "master.key"),
	}, base)

	var ev struct {
		ID string `json:"id"`
	}
	// localhost is a name (in /etc/hosts): accepted, and refused at dial time.
	call(t, base, "POST", "/v1/events", map[string]any{
		"type": "batch.succeeded", "data": map[string]any{},
		"webhook_config": map[string]any{"uris": []string{"https://localhost:9/hook"}},
	}, &ev)
	var out struct {
		Deliveries []struct {
			AttemptCount int `json:"attempt_count"`
			Attempts     []struct {
				Error      string `json:"error"`
				ErrorStage string `json:"error_stage"`
			} `json:"attempts"`
		} `json:"deliveries"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		call(t, base, "GET", "/v1/events/"+ev.ID+"/deliveries", nil, &out)
		if len(out.Deliveries) == 1 && len(out.Deliveries[0].Attempts) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no attempt after 30 s: %+v", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	a := out.Deliveries[0].Attempts[0]
	if a.Error != "destination localhost is not allowed or does not resolve" || a.ErrorStage != "refused" {
		t.Errorf("attempt error %q (stage %s); want only that the destination is not allowed or does not resolve", a.Error, a.ErrorStage)
	}
	srv.stop(t)
	re := regexp.MustCompile(`localhost resolved to a refused address: destination (127\.0\.0\.1|::1) is a loopback address`)
	if logs := srv.logs.String(); !re.MatchString(logs) {
		t.Errorf("the server log does not name the refused address and its class:\n%s", logs)
	}
}
