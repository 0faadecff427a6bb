package sqlite_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/sqlite"
	"github.com/webhookd/webhookd/storetest"
)

// benchStore opens a store on a fresh file with the system clock, as serve does.
func benchStore(b *testing.B) *sqlite.Store {
	b.Helper()
	s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// benchProject opens a bench store with a project and n enabled webhooks
// subscribed to batch.succeeded, and returns the store and the project's id.
func benchProject(b *testing.B, webhooks int) (*sqlite.Store, string) {
	b.Helper()
	s := benchStore(b)
	p := &webhookd.Project{Name: "bench"}
	if err := s.CreateProject(b.Context(), p); err != nil {
		b.Fatal(err)
	}
	for range webhooks {
		w := &webhookd.Webhook{ProjectID: p.ID, URI: "https://example.com/h", State: webhookd.WebhookEnabled,
			SubscribedEvents: []string{webhookd.EventBatchSucceeded},
			Secrets:          []webhookd.SigningSecret{{Sealed: make([]byte, 60), Truncated: "whsec_x..."}}}
		if err := s.CreateWebhook(b.Context(), w); err != nil {
			b.Fatal(err)
		}
	}
	return s, p.ID
}

// successes returns, in results (reused), a success with its attempt for
// every claim, as the engine records them.
func successes(results []webhookd.Result, cs []*webhookd.Claim) []webhookd.Result {
	now := time.Now()
	results = results[:0]
	for _, c := range cs {
		results = append(results, webhookd.Result{DeliveryID: c.Delivery.ID, LeaseToken: c.Delivery.LeaseToken,
			Outcome: webhookd.OutcomeSucceeded, DisableAfter: 24 * time.Hour,
			Attempt: &webhookd.Attempt{Time: now, StatusCode: 200, Latency: time.Millisecond, ResponseBody: "ok"}})
	}
	return results
}

// BenchmarkPublishEvent measures the outbox write of one event: the event and
// its deliveries in one transaction, by fan-out.
func BenchmarkPublishEvent(b *testing.B) {
	for _, fanout := range []int{1, 10} {
		b.Run(fmt.Sprintf("fanout=%d", fanout), func(b *testing.B) {
			s, projectID := benchProject(b, fanout)
			e := webhookd.NewEvent{ProjectID: projectID, Type: webhookd.EventBatchSucceeded, Source: "api",
				Data: []byte(`{"id":"batches/b1","output_file_uri":"files/f1","error_count":0}`)}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.PublishEvent(b.Context(), e); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*fanout)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkPublishEventConcurrent publishes from many goroutines at once, as
// the API does under load: concurrent calls share commits (group commit).
func BenchmarkPublishEventConcurrent(b *testing.B) {
	s, projectID := benchProject(b, 1)
	e := webhookd.NewEvent{ProjectID: projectID, Type: webhookd.EventBatchSucceeded, Source: "api",
		Data: []byte(`{"id":"batches/b1","output_file_uri":"files/f1","error_count":0}`)}
	b.ReportAllocs()
	b.SetParallelism(16) // goroutines per CPU
	storetest.PublishConcurrently(b, s, e)
}

// BenchmarkClaimRecord measures the engine's store work per delivery: claim a
// batch, then record every result (a success with its attempt) in one
// transaction. One op is one delivery; deliveries are published in batches
// with the timer stopped.
func BenchmarkClaimRecord(b *testing.B) {
	const batch = 100
	s, projectID := benchProject(b, batch) // one event fans out to a whole batch
	ctx := b.Context()
	e := webhookd.NewEvent{ProjectID: projectID, Type: webhookd.EventBatchSucceeded, Data: []byte(`{"id":"batches/b1"}`)}
	results := make([]webhookd.Result, 0, batch)

	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		if _, _, err := s.PublishEvent(ctx, e); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		cs, err := s.ClaimDeliveries(ctx, batch, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if len(cs) != batch {
			b.Fatalf("claimed %d, want %d", len(cs), batch)
		}
		results = successes(results, cs)
		if err := s.RecordResults(ctx, results); err != nil {
			b.Fatal(err)
		}
		done += batch
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
