package delivery

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/signing"
)

// BenchmarkAttemptTracing measures one attempt of a claim published with a
// traceparent (signing, the loopback POST, the outcome) with tracing off
// (no tracer provider: the default), with OpenTelemetry's no-op provider,
// and on (the SDK, every span sampled and batched to an exporter that
// drops them). Run it with -count so that the three interleave:
//
//	go test -run '^$' -bench AttemptTracing -benchmem -count 6 ./delivery
func BenchmarkAttemptTracing(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	sealer, err := signing.NewSealer(make([]byte, signing.MasterKeySize))
	if err != nil {
		b.Fatal(err)
	}
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { _ = sdk.Shutdown(context.Background()) })
	for _, tc := range []struct {
		name string
		tp   trace.TracerProvider
	}{
		{"off", nil},
		{"noop", noop.NewTracerProvider()},
		{"on", sdk},
	} {
		b.Run("tracing="+tc.name, func(b *testing.B) {
			tr := NewTransport(nil)
			b.Cleanup(tr.CloseIdleConnections)
			e, err := New(Config{
				Store:  struct{ webhookd.Store }{}, // an attempt reads and writes nothing
				Sealer: sealer, Transport: tr, AllowHTTP: true, TracerProvider: tc.tp,
				Timeout: 5 * time.Second,
			})
			if err != nil {
				b.Fatal(err)
			}
			c := staticClaim(srv.URL+"/hook", `{"type":"batch.succeeded","version":"v1","timestamp":"2026-03-01T12:00:00Z","data":{"id":"batches/1"}}`,
				sealedSecret(sealer, signing.GenerateSecret(), nil))
			c.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
			key := webhookd.DestinationOf(c.Delivery.URI)
			b.ReportAllocs()
			for b.Loop() {
				out, sent := e.attempt(b.Context(), key, c)
				if !sent || out.result.Outcome != webhookd.OutcomeSucceeded {
					b.Fatalf("attempt: sent %v, outcome %s", sent, out.result.Outcome)
				}
			}
		})
	}
}
