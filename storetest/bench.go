package storetest

import (
	"testing"

	"github.com/webhookd/webhookd"
)

// PublishConcurrently publishes ne from b's parallel goroutines (see
// testing.B.SetParallelism) until b is done, as the API does under load,
// and reports events/s.
func PublishConcurrently(b *testing.B, s webhookd.Store, ne webhookd.NewEvent) {
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := s.PublishEvent(b.Context(), ne); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
