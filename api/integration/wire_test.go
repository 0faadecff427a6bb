package integration_test

import (
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/api"
)

// nested returns a JSON value that nests objects levels deep: {"a":{"a":…1…}}.
func nested(levels int) string {
	return strings.Repeat(`{"a":`, levels) + "1" + strings.Repeat("}", levels)
}

// TestJSONDepthLimit: every JSON body the API decodes may nest at most
// api.MaxJSONDepth levels (the body is the first); deeper is a 400 naming
// the field, before anything is stored.
func TestJSONDepthLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	deepest := nested(api.MaxJSONDepth - 1) // data's own levels, under the body's
	b.publish(t, `{"type":"batch.failed","data":`+deepest+`}`)
	tests := []struct {
		name, path, body, text string
	}{
		{"data 5,000 levels deep", "/v1/events", `{"type":"batch.failed","data":` + nested(5000) + `}`, "data nests JSON deeper than 64 levels"},
		{"data one level too deep", "/v1/events", `{"type":"batch.failed","data":` + nested(api.MaxJSONDepth) + `}`, "data nests JSON deeper than 64 levels"},
		{"user_metadata too deep", "/v1/events", `{"type":"batch.failed","webhook_config":{"user_metadata":` + nested(api.MaxJSONDepth-1) + `}}`, "webhook_config nests JSON deeper"},
		{"an event of a batch", "/v1/events:batchPublish", `{"events":[{"type":"batch.failed","data":` + nested(api.MaxJSONDepth-2) + `}]}`, "events nests JSON deeper"},
		{"past Go's own limit", "/v1/events", `{"type":"batch.failed","data":` + nested(20000) + `}`, "not valid JSON"},
		{"a webhook's ignored field", "/v1/webhooks", `{"uri":"https://a.test","subscribed_events":["batch.failed"],"create_time":` + nested(100) + `}`, "create_time nests JSON deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.call(t, "POST", tt.path, tt.body).fails(t, 400, "INVALID_ARGUMENT", tt.text)
		})
	}
	var list struct {
		Events []event `json:"events"`
	}
	b.call(t, "GET", "/v1/events", "").ok(t, &list)
	if len(list.Events) != 1 {
		t.Errorf("%d events stored; want only the one at the limit", len(list.Events))
	}
}

// TestIdempotentReplayKeepsCreateTime: the answer to a publish that an
// idempotency key repeats shows the same create_time, to the digit, as the
// first answer, whatever precision the clock has.
func TestIdempotentReplayKeepsCreateTime(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.clock.Advance(123456789 * time.Nanosecond)
	first := b.publish(t, `{"type":"batch.failed","idempotency_key":"k-precision"}`)
	again := b.publish(t, `{"type":"batch.failed","idempotency_key":"k-precision"}`)
	batch := b.batchPublish(t, `{"events":[{"type":"batch.failed","idempotency_key":"k-precision"}]}`)
	var got event
	b.call(t, "GET", "/v1/events/"+first.ID, "").ok(t, &got)
	for _, ev := range []event{again, batch[0], got} {
		if ev.ID != first.ID || ev.CreateTime != first.CreateTime {
			t.Errorf("event %s create_time %s; the first answer said %s %s", ev.ID, ev.CreateTime, first.ID, first.CreateTime)
		}
	}
}

// TestJSONDepthLimitOfJobs: the job routes' bodies go through the same
// decoder, and the same limit.
func TestJSONDepthLimitOfJobs(t *testing.T) {
	t.Parallel()
	ob := setupOps(t, "")
	for _, tt := range []struct{ name, path, body, text string }{
		{"an interaction's input", "/v1/interactions", `{"model":"gemini-2.5-flash","input":` + nested(5000) + `}`, "input nests JSON deeper than 64 levels"},
		{"a batch's request", "/v1/models/gemini-2.5-flash:batchGenerateContent",
			`{"batch":{"inputConfig":{"requests":{"requests":[{"request":` + nested(api.MaxJSONDepth) + `}]}}}}`, "batch nests JSON deeper"},
		{"a video's webhookConfig", "/v1/models/veo-3.0-generate-001:predictLongRunning",
			`{"instances":[{"prompt":"a cat"}],"webhookConfig":{"userMetadata":` + nested(api.MaxJSONDepth) + `}}`, "webhook_config nests JSON deeper than 64 levels (sent as webhookConfig)."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ob.call(t, "POST", tt.path, tt.body).fails(t, 400, "INVALID_ARGUMENT", tt.text)
		})
	}
	var list operationList
	ob.call(t, "GET", "/v1/operations", "").ok(t, &list)
	if len(list.Operations) != 0 {
		t.Errorf("%d operations created; want none", len(list.Operations))
	}
}
