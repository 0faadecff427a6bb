package lro_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/internal/tracing"
	"github.com/webhookd/webhookd/lro"
	"github.com/webhookd/webhookd/lro/lrotest"
)

// TestStateChangeSpans: with a tracer, a batch's creation (by the Service)
// and each state change (by the Driver's steps) get a
// webhookd.operation.state_change span naming the states, and the event
// the last change emits keeps that span's traceparent.
func TestStateChangeSpans(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	clock := fakeclock.New(t0)
	store := lrotest.NewMemStore(clock)
	m := newMachine(t, lro.Config{SimJobDuration: jobDuration, TracerProvider: tp})
	d, err := lro.NewDriver(store, lro.NewSimulator(m, store, clock), lro.DriverConfig{
		Lease: time.Minute, Logger: slog.New(slog.DiscardHandler), TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	svc := lro.NewService(m, store, clock, nil)
	ctx := context.Background()
	op, err := svc.CreateBatch(ctx, "prj_1", &lro.BatchRequest{Model: "gemini-3-flash-preview",
		Requests: []lro.InlinedRequest{{Request: json.RawMessage(`{"contents":[{"parts":[{"text":"hi"}]}]}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := d.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Advance(jobDuration)
	}

	type change struct{ name, from, to string }
	var got []change
	var last tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		a := map[string]string{}
		for _, kv := range s.Attributes {
			a[string(kv.Key)] = kv.Value.String()
		}
		if s.Name != "webhookd.operation.state_change" {
			t.Errorf("span %q; want only state changes", s.Name)
		}
		got = append(got, change{a["webhookd.operation.name"], a["webhookd.operation.state.from"], a["webhookd.operation.state.to"]})
		last = s
	}
	want := []change{
		{op.Name(), "", string(webhookd.BatchPending)},
		{op.Name(), string(webhookd.BatchPending), string(webhookd.BatchRunning)},
		{op.Name(), string(webhookd.BatchRunning), string(webhookd.BatchSucceeded)},
	}
	if len(got) != len(want) {
		t.Fatalf("state changes %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("state change %d = %v; want %v", i, got[i], want[i])
		}
	}
	evs, err := store.Events(ctx, "prj_1")
	if err != nil || len(evs) != 1 {
		t.Fatalf("events %v, %v; want the batch's one", evs, err)
	}
	sc, ok := tracing.Parse(evs[0].TraceParent)
	if !ok || sc.SpanID() != last.SpanContext.SpanID() || sc.TraceID() != last.SpanContext.TraceID() {
		t.Errorf("event traceparent %q; want the last state change's span %s", evs[0].TraceParent, last.SpanContext.SpanID())
	}
}
