package filter_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/filter"
)

// BenchmarkRoute100 routes one event to 100 subscribed webhooks, each with
// a typical filter of its own (a threshold, an equality, a prefix, a list
// membership, a field test), against the same webhooks without filters:
// what filters add to routing, compiled programs kept.
func BenchmarkRoute100(b *testing.B) {
	const n = 100
	typ := webhookd.EventBatchSucceeded
	filters := []string{
		`data.amount > %d && data.currency == "EUR"`,
		`type.startsWith("batch.") && data.error_count == 0`,
		`has(data.region) && data.region in ["eu", "us", "r%d"]`,
		`data.output_file_uri.endsWith(".jsonl") && data.amount >= %d`,
		`user_metadata.tenant == "acme" || data.amount < %d`,
	}
	ne := webhookd.NewEvent{
		ProjectID: "p", Type: typ,
		Data: []byte(`{"id":"batches/b1","output_file_uri":"files/b1-results.jsonl","error_count":0,` +
			`"amount":1500,"currency":"EUR","region":"eu","user_metadata":{"tenant":"acme"}}`),
		WebhookConfig: &webhookd.WebhookConfig{UserMetadata: []byte(`{"tenant":"acme"}`)},
	}
	hooks := func(filtered bool) []*webhookd.Webhook {
		ws := make([]*webhookd.Webhook, n)
		for i := range ws {
			ws[i] = &webhookd.Webhook{ID: fmt.Sprint("w", i), URI: fmt.Sprint("https://r.example/", i),
				State: webhookd.WebhookEnabled, SubscribedEvents: []string{typ}}
			if filtered {
				f := filters[i%len(filters)]
				if i%len(filters) != 1 {
					f = fmt.Sprintf(f, i)
				}
				ws[i].Filter = f
			}
		}
		return ws
	}
	now := time.Now()
	for _, bc := range []struct {
		name     string
		filtered bool
	}{{"none", false}, {"filters", true}} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := filter.NewCompiler(nil)
			if err != nil {
				b.Fatal(err)
			}
			ws := hooks(bc.filtered)
			want := len(webhookd.Subscribers(ws, c, ne, now)) // compiles the programs, once
			if want == 0 {
				b.Fatal("no webhook passes the benchmark's event")
			}
			b.ReportAllocs()
			for b.Loop() {
				if got := len(webhookd.Subscribers(ws, c, ne, now)); got != want {
					b.Fatalf("routed to %d, want %d", got, want)
				}
			}
		})
	}
}
