package postgres_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/storetest"
)

// BenchmarkPublishEvent measures the outbox write: one event and its
// deliveries in one transaction, by fan-out.
func BenchmarkPublishEvent(b *testing.B) {
	for _, fanOut := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("webhooks=%d", fanOut), func(b *testing.B) {
			s := newStore(b, nil)
			f := newFixture(b, s, fanOut)
			ne := webhookd.NewEvent{
				ProjectID: f.project.ID,
				Type:      webhookd.EventBatchSucceeded,
				Data:      json.RawMessage(`{"id":"batches/b1","output_file_uri":"files/f1","error_count":0}`),
				Source:    "api",
			}
			for b.Loop() {
				if _, _, err := s.PublishEvent(b.Context(), ne); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*fanOut)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkPublishEventParallel publishes from many goroutines, as API
// handlers do: commits wait on the WAL flush, so throughput comes from
// PostgreSQL flushing many transactions at once, and from the pool having
// connections enough to keep them in flight.
func BenchmarkPublishEventParallel(b *testing.B) {
	s := newStore(b, nil)
	f := newFixture(b, s, 10)
	ne := webhookd.NewEvent{
		ProjectID: f.project.ID,
		Type:      webhookd.EventBatchSucceeded,
		Data:      json.RawMessage(`{"id":"batches/b1"}`),
		Source:    "api",
	}
	b.SetParallelism(8)
	storetest.PublishConcurrently(b, s, ne)
}

// BenchmarkClaimRecord measures the engine's round trip with the store: claim
// a batch, record an attempt for each. Every result is a retry due at once,
// so the queue keeps its depth and every iteration does the same work.
func BenchmarkClaimRecord(b *testing.B) {
	const depth, batch = 2000, 100
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s := newStore(b, clock)
	f := newFixture(b, s, 20)
	for range depth / 20 {
		f.publish(b, s)
	}
	results := make([]webhookd.Result, 0, batch)
	for b.Loop() {
		cs, err := s.ClaimDeliveries(b.Context(), batch, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if len(cs) != batch {
			b.Fatalf("claimed %d, want %d", len(cs), batch)
		}
		results = results[:0]
		for _, c := range cs {
			results = append(results, webhookd.Result{
				DeliveryID:      c.Delivery.ID,
				LeaseToken:      c.Delivery.LeaseToken,
				Outcome:         webhookd.OutcomeRetry,
				NextAttemptTime: clock.Now(),
				Attempt:         &webhookd.Attempt{Time: clock.Now(), StatusCode: 503, Latency: time.Millisecond, Error: "HTTP 503"},
				DisableAfter:    24 * time.Hour,
			})
		}
		if err := s.RecordResults(b.Context(), results); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "deliveries/s")
}
