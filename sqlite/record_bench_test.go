package sqlite_test

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

// BenchmarkRecordResults measures RecordResults alone: one op is one
// delivery's result (a success with its attempt), written in batches of
// 100 as the engine writes them; publishing and claiming run with the timer
// stopped. One webhook, as most deliveries of a batch share few webhooks.
func BenchmarkRecordResults(b *testing.B) {
	const batch = 100
	s, projectID := benchProject(b, 1)
	ctx := b.Context()
	e := webhookd.NewEvent{ProjectID: projectID, Type: webhookd.EventBatchSucceeded, Data: []byte(`{"id":"batches/b1"}`)}
	results := make([]webhookd.Result, 0, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		b.StopTimer()
		for range batch {
			if _, _, err := s.PublishEvent(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
		cs, err := s.ClaimDeliveries(ctx, batch, time.Minute)
		if err != nil || len(cs) != batch {
			b.Fatalf("claimed %d, %v; want %d", len(cs), err, batch)
		}
		results = successes(results, cs)
		b.StartTimer()
		if err := s.RecordResults(ctx, results); err != nil {
			b.Fatal(err)
		}
	}
}
