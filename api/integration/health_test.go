package integration_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/activity"
	"github.com/webhookd/webhookd/api"
)

// TestDeliveryHealth covers GET /deliveryStats and GET /destinations: the
// recorder's last hour merged with the store's backlog and the circuits.
func TestDeliveryHealth(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open openStoreFunc) {
		var rec *activity.Recorder
		b := csetup(t, open, func(c *api.Config) {
			rec = activity.New(c.Clock)
			c.Activity = rec
			c.Circuits = func(dest string) string {
				if dest == "https://down.example:443" {
					return "open"
				}
				return "closed"
			}
			c.ConcurrencyLimits = func(dest string) int {
				if dest == "https://down.example:443" {
					return 1
				}
				return 24
			}
		})
		c := b.as(b.mainKey)
		var up, down webhook
		c.do(t, "POST", "/v1/webhooks", `{"uri":"https://up.example/h","subscribed_events":["batch.succeeded"]}`).ok(t, &up)
		c.do(t, "POST", "/v1/webhooks", `{"uri":"https://DOWN.example/h","subscribed_events":["batch.succeeded"]}`).ok(t, &down)
		c.do(t, "POST", "/v1/events", `{"type":"batch.succeeded"}`).ok(t, nil)
		// The engine's observations: up answers, down fails.
		now := b.clock.Now()
		rec.Record(activity.Attempt{ProjectID: b.main.ID, Destination: "https://up.example:443", URI: up.URI, WebhookID: up.ID,
			Time: now, Attempted: true, Latency: 4 * time.Millisecond, Outcome: webhookd.OutcomeSucceeded})
		rec.Record(activity.Attempt{ProjectID: b.main.ID, Destination: "https://down.example:443", URI: down.URI, WebhookID: down.ID,
			Time: now, Attempted: true, Latency: 900 * time.Millisecond, Outcome: webhookd.OutcomeRetry, ErrorStage: "status"})

		var st struct {
			Points []struct {
				Attempts, Succeeded, Failed int
				Backlog                     *int
			} `json:"points"`
			Attempts     int      `json:"attempts"`
			SuccessRate  *float64 `json:"success_rate"`
			P99LatencyMS *float64 `json:"p99_latency_ms"`
			Backlog      int      `json:"backlog"`
			OpenCircuits int      `json:"open_circuits"`
		}
		c.do(t, "GET", "/v1/deliveryStats", "").ok(t, &st)
		last := st.Points[len(st.Points)-1]
		if len(st.Points) != 60 || st.Attempts != 2 || *st.SuccessRate != 0.5 || *st.P99LatencyMS != 1000 ||
			st.Backlog != 2 || st.OpenCircuits != 1 || last.Attempts != 2 || last.Failed != 1 || last.Backlog == nil || *last.Backlog != 2 {
			t.Fatalf("deliveryStats = %s", dump(st))
		}

		var ds struct {
			Destinations []struct {
				Destination  string   `json:"destination"`
				CircuitState string   `json:"circuit_state"`
				Limit        int      `json:"concurrency_limit"`
				FailingSince string   `json:"failing_since"`
				Attempts     int      `json:"attempts"`
				SuccessRate  *float64 `json:"success_rate"`
				Backlog      int      `json:"backlog"`
				Webhooks     []string `json:"webhooks"`
			} `json:"destinations"`
		}
		c.do(t, "GET", "/v1/destinations", "").ok(t, &ds)
		if len(ds.Destinations) != 2 {
			t.Fatalf("destinations = %s", dump(ds))
		}
		dn, u := ds.Destinations[0], ds.Destinations[1]
		if dn.Destination != "https://down.example:443" || dn.CircuitState != "open" || dn.Limit != 1 || dn.FailingSince == "" || *dn.SuccessRate != 0 ||
			dn.Backlog != 1 || len(dn.Webhooks) != 1 || dn.Webhooks[0] != down.ID {
			t.Errorf("down = %s", dump(dn))
		}
		if u.CircuitState != "closed" || u.Limit != 24 || u.FailingSince != "" || *u.SuccessRate != 1 || u.Backlog != 1 {
			t.Errorf("up = %s", dump(u))
		}
		// Another project sees its own (nothing); a portal view may look.
		var none struct{ Destinations []any }
		b.as(b.otherKey).do(t, "GET", "/v1/destinations", "").ok(t, &none)
		if len(none.Destinations) != 0 {
			t.Errorf("another project's destinations = %s", dump(none))
		}
	})
}

// TestDeliveryStream covers GET /deliveries:stream: a project's attempts
// arrive as server-sent events, another project's never do, and the stream
// ends when the recorder closes (server shutdown).
func TestDeliveryStream(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open openStoreFunc) {
		var rec *activity.Recorder
		b := csetup(t, open, func(c *api.Config) {
			rec = activity.New(c.Clock)
			c.Activity = rec
		})
		req, _ := http.NewRequestWithContext(t.Context(), "GET", b.srv.URL+"/v1/projects/main/deliveries:stream", nil)
		req.Header.Set("x-goog-api-key", b.mainKey)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("stream answered %d %s", res.StatusCode, res.Header.Get("Content-Type"))
		}
		lines := bufio.NewScanner(res.Body)
		lines.Scan() // the opening comment means the subscription is in place
		rec.Record(activity.Attempt{ProjectID: b.other.ID, EventID: "msg_other", Time: b.clock.Now(), Outcome: webhookd.OutcomeSucceeded})
		rec.Record(activity.Attempt{ProjectID: b.main.ID, EventID: "msg_main", EventType: "batch.succeeded", URI: "https://x/h",
			Time: b.clock.Now(), Attempted: true, Number: 1, StatusCode: 503, Outcome: webhookd.OutcomeRetry, ErrorStage: "status"})
		var event, data string
		for lines.Scan() {
			line := lines.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				event = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				data = v
				break
			}
		}
		var a struct {
			EventID    string `json:"event_id"`
			Outcome    string `json:"outcome"`
			StatusCode int    `json:"status_code"`
			ErrorStage string `json:"error_stage"`
		}
		if err := json.Unmarshal([]byte(data), &a); err != nil || event != "attempt" || a.EventID != "msg_main" ||
			a.Outcome != "retry" || a.StatusCode != 503 || a.ErrorStage != "status" {
			t.Fatalf("first event %q %s (%v), want main's attempt", event, data, err)
		}
		rec.Close()
		for lines.Scan() {
		}
		b.as(b.mainKey).do(t, "GET", "/v1/projects/other/deliveries:stream", "").fails(t, 404, "NOT_FOUND", "")
	})
}
