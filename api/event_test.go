package api

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/webhookd/webhookd"
)

// noTypes is an EventTypeStore of a project that defined no type.
type noTypes struct{ webhookd.EventTypeStore }

func (noTypes) GetEventType(context.Context, string, string) (*webhookd.EventType, error) {
	return nil, webhookd.NotFound("EventType")
}

// noEventTypes is the lookup of a request in a project without types.
func noEventTypes(s *Server) *typeLookup {
	l := s.newTypeLookup(context.Background(), "prj_fuzz")
	l.store = noTypes{}
	return l
}

// FuzzParseBatchPublish checks that no body panics the batch publish
// parser, that every error is an INVALID_ARGUMENT naming a field, and that
// what it accepts is 1 to MaxBatchPublishEvents events, each exactly what
// POST /events makes of the same object: the two routes validate alike.
func FuzzParseBatchPublish(f *testing.F) {
	for _, seed := range []string{
		`{"events":[{"type":"batch.succeeded","data":{"id":"b1"}}]}`,
		`{"events":[{"type":"batch.completed","idempotencyKey":"k"},{"type":"video.generated","idempotency_key":"k"}]}`,
		`{"events":[{"type":"interaction.completed","webhookConfig":{"uris":["https://x.test/1"],"userMetadata":{"t":[1,null]}}}]}`,
		`{"events":[{"type":"batch.failed","webhook_config":{"uris":["http://x.test"]}}]}`,
		`{"events":[{"type":"batch.failed","data":{"user_metadata":1},"webhook_config":{"user_metadata":{"a":"b"}}}]}`,
		`{"events":[]}`, `{"events":[null]}`, `{"events":["x"]}`, `{"events":{}}`, `{"events":[{}],"x":1}`,
		`{"events":[{"type":"batch.failed","type":"x"}]}`, `{}`, `[]`, ``, `{"events":[{"type":"batch.failed"}] `,
	} {
		f.Add([]byte(seed))
	}
	s := &Server{cfg: Config{}.withDefaults()}
	s.cfg.MaxBodyBytes = 512 // so that the fuzzer reaches the bound of one event
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := s.parseBatchPublish(noEventTypes(s), body)
		if err != nil {
			var e *webhookd.Error
			if !errors.As(err, &e) || (e.Code != webhookd.EINVALID && e.Code != webhookd.ETOOLARGE) || e.Field == "" || e.Message == "" {
				t.Fatalf("parseBatchPublish error %#v is not an INVALID_ARGUMENT naming a field", err)
			}
			return
		}
		if len(events) == 0 || len(events) > MaxBatchPublishEvents {
			t.Fatalf("accepted %d events", len(events))
		}
		var in struct {
			Events []json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal(body, &in); err != nil || len(in.Events) != len(events) {
			t.Fatalf("accepted %q, which does not hold %d events: %v", body, len(events), err)
		}
		for i, raw := range in.Events {
			o, err := decodeObject("", raw, publishEventSchema)
			if err != nil {
				t.Fatalf("events[%d] was accepted in a batch but not as a POST /events body: %v", i, err)
			}
			single, err := s.newEvent(noEventTypes(s), o)
			if err != nil {
				t.Fatalf("events[%d] was accepted in a batch but not as a POST /events body: %v", i, err)
			}
			if !reflect.DeepEqual(single, events[i]) {
				t.Fatalf("events[%d] = %+v in a batch, %+v alone", i, events[i], single)
			}
			if _, ok := s.cfg.Catalog.Canonical(events[i].Type); !ok || !json.Valid(events[i].Data) || events[i].Data[0] != '{' {
				t.Fatalf("events[%d] = %+v: unknown type or data not an object", i, events[i])
			}
		}
	})
}

// BenchmarkParseBatchPublish measures the parse of a POST
// /events:batchPublish body of 100 events like `webhookd bench` sends, per
// event.
//
//	go test -run '^$' -bench ParseBatchPublish -benchmem ./api
func BenchmarkParseBatchPublish(b *testing.B) {
	s := &Server{cfg: Config{}.withDefaults()}
	s.cfg.URIPolicy.AllowHTTP = true // the bench's receivers are on loopback
	for _, tc := range []struct{ name, event string }{
		{"static", `{"type":"batch.succeeded","data":{"id":"batches/bench-12345","output_file_uri":"files/bench-12345-results.jsonl","error_count":0}}`},
		{"dynamic", `{"type":"batch.succeeded","data":{"id":"batches/bench-12345","output_file_uri":"files/bench-12345-results.jsonl","error_count":0},"webhook_config":{"uris":["http://127.0.0.1:40000/hook"],"user_metadata":{"run":"bench"}}}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			body := []byte(`{"events":[` + strings.Repeat(tc.event+",", 99) + tc.event + `]}`)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.parseBatchPublish(noEventTypes(s), body); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/event")
		})
	}
}

// TestPublishWebhookConfigLimits: POST /events checks webhook_config with
// the limits of a job's (webhookd.ValidateWebhookConfig): user_metadata is
// bounded, as it was for jobs only.
func TestPublishWebhookConfigLimits(t *testing.T) {
	t.Parallel()
	s := &Server{cfg: Config{}.withDefaults()}
	metadata := func(n int) string { return `{"k":"` + strings.Repeat("x", n-8) + `"}` }
	uris := func(n int) string { return `["https://a.test/` + strings.Repeat(`","https://a.test/`, n-1) + `"]` }
	tests := []struct {
		name, body string
		field      string // of the error; "" when the event is accepted
	}{
		{"metadata at the limit", `{"type":"batch.failed","webhook_config":{"user_metadata":` + metadata(webhookd.MaxUserMetadataBytes) + `}}`, ""},
		{"metadata a byte over", `{"type":"batch.failed","webhook_config":{"user_metadata":` + metadata(webhookd.MaxUserMetadataBytes+1) + `}}`, "webhook_config.user_metadata"},
		{"the most URIs", `{"type":"batch.failed","webhook_config":{"uris":` + uris(webhookd.MaxWebhookConfigURIs) + `}}`, ""},
		{"a URI too many", `{"type":"batch.failed","webhook_config":{"uris":` + uris(webhookd.MaxWebhookConfigURIs+1) + `}}`, "webhook_config.uris"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := decodeObject("", []byte(tt.body), publishEventSchema)
			if err != nil {
				t.Fatal(err)
			}
			ne, err := s.newEvent(noEventTypes(s), o)
			if tt.field == "" {
				if err != nil || ne.WebhookConfig == nil {
					t.Fatalf("newEvent = %+v, %v; want it accepted", ne.WebhookConfig, err)
				}
				return
			}
			var e *webhookd.Error
			if !errors.As(err, &e) || e.Code != webhookd.EINVALID || e.Field != tt.field {
				t.Fatalf("newEvent err = %v; want EINVALID on %s", err, tt.field)
			}
		})
	}
}
