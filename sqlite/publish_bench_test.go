package sqlite_test

import (
	"fmt"
	"testing"

	"github.com/webhookd/webhookd"
)

// BenchmarkPublishEvents measures the outbox write of a batch publish (POST
// /v1/events:batchPublish): one op is one event of a batch of 100, each
// with one delivery.
func BenchmarkPublishEvents(b *testing.B) {
	const batch = 100
	s, projectID := benchProject(b, 1)
	events := make([]webhookd.NewEvent, batch)
	for i := range events {
		events[i] = webhookd.NewEvent{ProjectID: projectID, Type: webhookd.EventBatchSucceeded, Source: "api",
			Data: fmt.Appendf(nil, `{"id":"batches/b%d","output_file_uri":"files/f1","error_count":0}`, i)}
	}
	b.ReportAllocs()
	for done := 0; done < b.N; done += batch {
		if _, err := s.PublishEvents(b.Context(), events); err != nil {
			b.Fatal(err)
		}
	}
}
