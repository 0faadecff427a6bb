package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/webhookd/webhookd/internal/logtest"
	"github.com/webhookd/webhookd/internal/tracing"
)

// TestTracePublishToReceiver: one publish with a traceparent, to a receiver
// that fails once and then accepts, gives the span tree publish request →
// store commit and publish request → attempt 1 (503, retry) and attempt 2
// (204, succeeded), all in the publisher's trace; the receiver sees that
// trace in the traceparent of both attempts, each naming its attempt's span
// as the parent; and the failed attempt's log line carries the trace id.
func TestTracePublishToReceiver(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	var mu sync.Mutex
	var got []string // the traceparent of each attempt, in order
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("traceparent"))
		n := len(got)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)

	base, logs := startServe(t, tp)

	const publisherTrace, publisherSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	publishTraced(t, base, recv.URL+"/hook", "00-"+publisherTrace+"-"+publisherSpan+"-01")

	// Both attempts ended: their spans are exported when they end.
	var spans tracetest.SpanStubs
	deadline := time.Now().Add(20 * time.Second)
	for {
		spans = exp.GetSpans()
		if len(byName(spans, "webhookd.delivery.attempt")) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spans after 20 s: %v", names(spans))
		}
		time.Sleep(20 * time.Millisecond)
	}

	publish := byName(spans, "POST /events")
	if len(publish) != 1 {
		t.Fatalf("publish request spans %d; want 1 (spans: %v)", len(publish), names(spans))
	}
	pub := publish[0]
	if pub.SpanContext.TraceID().String() != publisherTrace || pub.Parent.SpanID().String() != publisherSpan || !pub.Parent.IsRemote() {
		t.Errorf("publish span: trace %s, parent %s; want the publisher's trace and span", pub.SpanContext.TraceID(), pub.Parent.SpanID())
	}
	if pub.SpanKind != trace.SpanKindServer {
		t.Errorf("publish span kind %v; want server", pub.SpanKind)
	}
	commit := byName(spans, "webhookd.store.publish")
	if len(commit) != 1 || commit[0].Parent.SpanID() != pub.SpanContext.SpanID() {
		t.Errorf("store commit spans %+v; want one, a child of the publish request's", commit)
	}

	attempts := byName(spans, "webhookd.delivery.attempt")
	recvHost := strings.TrimPrefix(recv.URL, "http://")
	recvHost = recvHost[:strings.LastIndexByte(recvHost, ':')]
	for i, a := range attempts {
		wantStatus, wantOutcome := int64(503), "retry"
		if i == 1 {
			wantStatus, wantOutcome = 204, "succeeded"
		}
		at := attrs(a)
		if a.Parent.SpanID() != pub.SpanContext.SpanID() || a.SpanContext.TraceID().String() != publisherTrace {
			t.Errorf("attempt %d: parent %s in trace %s; want the publish request's span %s", i+1, a.Parent.SpanID(), a.SpanContext.TraceID(), pub.SpanContext.SpanID())
		}
		if at["webhookd.attempt.number"] != int64(i+1) || at["http.response.status_code"] != wantStatus ||
			at["webhookd.attempt.outcome"] != wantOutcome || at["server.address"] != recvHost {
			t.Errorf("attempt %d attributes %v; want number %d, status %d, outcome %s, server.address %s", i+1, at, i+1, wantStatus, wantOutcome, recvHost)
		}
		if a.SpanKind != trace.SpanKindClient {
			t.Errorf("attempt %d kind %v; want client", i+1, a.SpanKind)
		}
	}

	// The receiver continues the publisher's trace on every attempt.
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("receiver got %d attempts; want 2", len(got))
	}
	for i, h := range got {
		sc, ok := tracing.Parse(h)
		if !ok || sc.TraceID().String() != publisherTrace || sc.SpanID() != attempts[i].SpanContext.SpanID() {
			t.Errorf("attempt %d: the receiver got traceparent %q; want trace %s, parent %s (the attempt's span)",
				i+1, h, publisherTrace, attempts[i].SpanContext.SpanID())
		}
	}

	// The failed attempt's log line leads to the trace.
	waitFor(t, "the failed attempt's log line", func() bool {
		return strings.Contains(logs.String(), `msg="delivery attempts failed"`)
	})
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `msg="delivery attempts failed"`) && !strings.Contains(l, "trace_id="+publisherTrace) {
			t.Errorf("failed-attempt log line without the trace id %s:\n%s", publisherTrace, l)
		}
	}
}

// startServe runs serve in-process with tp as its tracer provider (nil:
// tracing off) until the test ends, and returns its base URL and its log.
func startServe(t *testing.T, tp trace.TracerProvider) (string, *logtest.Buffer) {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr
	cfg := defaultConfig()
	cfg.Addr = addr
	cfg.DB = "sqlite:" + filepath.Join(dir, "webhookd.db")
	cfg.APIKey = crashAPIKey
	cfg.Dev = true
	cfg.MasterKey = strings.Repeat("ab", 32)
	cfg.RetrySchedule = "50ms"
	if tp != nil {
		cfg.tracing = tp
	}
	logs := &logtest.Buffer{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, io.Discard, slog.New(slog.NewTextHandler(logs, nil))) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	waitReady(t, base)

	return base, logs
}

// publishTraced publishes an event to uri with traceparent.
func publishTraced(t *testing.T, base, uri, traceparent string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"type": "batch.succeeded", "data": map[string]any{"id": "batches/1"},
		"webhook_config": map[string]any{"uris": []string{uri}},
	})
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/events", bytes.NewReader(body))
	req.Header.Set("x-goog-api-key", crashAPIKey)
	req.Header.Set("traceparent", traceparent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("publish: %d %s", resp.StatusCode, rb)
	}
}

// TestTraceParentWithTracingOff: with tracing off (the default) the
// publisher's traceparent is still kept with the event and sent, as it
// came, with every attempt, so that the receiver continues its trace.
func TestTraceParentWithTracingOff(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Header.Get("traceparent"):
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	base, _ := startServe(t, nil)
	const sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	publishTraced(t, base, recv.URL+"/hook", sent)
	select {
	case h := <-got:
		if h != sent {
			t.Errorf("the receiver got traceparent %q; want the publisher's %q", h, sent)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no attempt within 20 s")
	}
}

func byName(spans tracetest.SpanStubs, name string) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

func attrs(s tracetest.SpanStub) map[string]any {
	m := map[string]any{}
	for _, kv := range s.Attributes {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	waitFor(t, "readyz", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
