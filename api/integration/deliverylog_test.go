package integration_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

type deliveryOut struct {
	ID             string `json:"id"`
	EventID        string `json:"event_id"`
	WebhookID      string `json:"webhook_id"`
	State          string `json:"state"`
	LastStatusCode int    `json:"last_status_code"`
	Attempts       []struct {
		Number          int               `json:"number"`
		StatusCode      int               `json:"status_code"`
		Error           string            `json:"error"`
		ErrorStage      string            `json:"error_stage"`
		ResponseHeaders map[string]string `json:"response_headers"`
		ResponseBody    string            `json:"response_body"`
	} `json:"attempts"`
}

// TestDeliveryLogRoutes covers GET /events with its filters, GET
// /webhooks/{id}/deliveries, and attempts with their stage and headers.
func TestDeliveryLogRoutes(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open openStoreFunc) {
		b := csetup(t, open)
		c := b.as(b.mainKey)
		var w webhook
		c.do(t, "POST", "/v1/webhooks", `{"uri":"https://example.com/h","subscribed_events":["batch.succeeded","batch.failed"]}`).ok(t, &w)
		start := b.clock.Now()
		var okEv, badEv struct{ ID string }
		c.do(t, "POST", "/v1/events", `{"type":"batch.succeeded","data":{"n":1}}`).ok(t, &okEv)
		b.clock.Advance(time.Minute)
		c.do(t, "POST", "/v1/events", `{"type":"batch.failed","data":{"n":2}}`).ok(t, &badEv)

		// What the engine would record: a success, and a 502 with its answer.
		claims, err := b.store.ClaimDeliveries(t.Context(), 10, time.Minute)
		if err != nil || len(claims) != 2 {
			t.Fatalf("claimed %d (%v), want 2", len(claims), err)
		}
		for _, cl := range claims {
			r := webhookd.Result{DeliveryID: cl.Delivery.ID, LeaseToken: cl.Delivery.LeaseToken, Outcome: webhookd.OutcomeSucceeded,
				Attempt: &webhookd.Attempt{Time: b.clock.Now(), StatusCode: 204, Latency: 3 * time.Millisecond}}
			if cl.Delivery.EventID == badEv.ID {
				r.Outcome = webhookd.OutcomeFailed
				r.Attempt = &webhookd.Attempt{Time: b.clock.Now(), StatusCode: 502, Latency: 40 * time.Millisecond,
					Error: "the receiver answered HTTP 502", ErrorStage: "status",
					ResponseHeaders: "Content-Type: text/html\nRetry-After: 30", ResponseBody: "<script>alert(1)</script>"}
			}
			if err := b.store.RecordResults(t.Context(), []webhookd.Result{r}); err != nil {
				t.Fatal(err)
			}
		}

		list := func(query string) []string {
			t.Helper()
			var out struct{ Events []struct{ ID string } }
			c.do(t, "GET", "/v1/events?"+query, "").ok(t, &out)
			ids := []string{}
			for _, e := range out.Events {
				ids = append(ids, e.ID)
			}
			return ids
		}
		tests := []struct {
			query string
			want  []string
		}{
			{"", []string{badEv.ID, okEv.ID}},
			{"type=batch.completed", []string{okEv.ID}}, // the alias is the canonical type
			{"delivery_state=failed", []string{badEv.ID}},
			{"deliveryState=succeeded", []string{okEv.ID}},
			{"start_time=" + url.QueryEscape(start.Add(time.Second).Format(time.RFC3339)), []string{badEv.ID}},
			{"end_time=" + url.QueryEscape(start.Add(time.Second).Format(time.RFC3339)), []string{okEv.ID}},
		}
		for _, tt := range tests {
			if d := diff(tt.want, list(tt.query)); d != "" {
				t.Errorf("GET /v1/events?%s (-want +got):\n%s", tt.query, d)
			}
		}
		c.do(t, "GET", "/v1/events?delivery_state=lost", "").fails(t, 400, "INVALID_ARGUMENT", "delivery_state")
		c.do(t, "GET", "/v1/events?start_time=yesterday", "").fails(t, 400, "INVALID_ARGUMENT", "start_time")

		// The webhook's deliveries, newest first, by state, paged.
		var ds struct {
			Deliveries    []deliveryOut `json:"deliveries"`
			NextPageToken string        `json:"next_page_token"`
		}
		c.do(t, "GET", "/v1/webhooks/"+w.ID+"/deliveries", "").ok(t, &ds)
		if len(ds.Deliveries) != 2 || ds.Deliveries[0].EventID != badEv.ID || ds.Deliveries[0].Attempts != nil {
			t.Fatalf("webhook deliveries = %s, want 2, newest first, without attempts", dump(ds))
		}
		c.do(t, "GET", "/v1/webhooks/"+w.ID+"/deliveries?state=failed&page_size=1", "").ok(t, &ds)
		if len(ds.Deliveries) != 1 || ds.Deliveries[0].State != "failed" || ds.NextPageToken != "" {
			t.Fatalf("failed deliveries = %s", dump(ds))
		}
		c.do(t, "GET", "/v1/webhooks/"+w.ID+"/deliveries?page_size=1", "").ok(t, &ds)
		next := ds.NextPageToken
		c.do(t, "GET", "/v1/webhooks/"+w.ID+"/deliveries?page_size=1&page_token="+next, "").ok(t, &ds)
		if len(ds.Deliveries) != 1 || ds.Deliveries[0].EventID != okEv.ID || ds.NextPageToken != "" {
			t.Fatalf("second page = %s", dump(ds))
		}
		b.as(b.otherKey).do(t, "GET", "/v1/webhooks/"+w.ID+"/deliveries", "").ok(t, &ds)
		if len(ds.Deliveries) != 0 {
			t.Fatalf("another project's key lists %s", dump(ds))
		}
		b.as(b.otherKey).do(t, "GET", "/v1/webhooks/"+w.ID+"/deliveries?page_token="+next, "").fails(t, 400, "INVALID_ARGUMENT", "page_token")

		// Each attempt: its stage and the receiver's headers and body, as stored.
		var evds struct{ Deliveries []deliveryOut }
		c.do(t, "GET", "/v1/events/"+badEv.ID+"/deliveries", "").ok(t, &evds)
		a := evds.Deliveries[0].Attempts
		if len(a) != 1 || a[0].StatusCode != 502 || a[0].ErrorStage != "status" || a[0].ResponseBody != "<script>alert(1)</script>" ||
			a[0].ResponseHeaders["Content-Type"] != "text/html" || a[0].ResponseHeaders["Retry-After"] != "30" {
			t.Fatalf("attempt = %s", dump(a))
		}
	})
}

// diff reports the difference between two id lists.
func diff(want, got []string) string {
	if len(want) == 0 && len(got) == 0 {
		return ""
	}
	if dump(want) == dump(got) {
		return ""
	}
	return "-" + dump(want) + "\n+" + dump(got)
}
