package api

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/webhookd/webhookd/internal/tracing"
)

// startRequestSpan starts the server span of a request, a child of the
// caller's traceparent when it sent one. Only called with tracing on; the
// span is named by its route when it ends (endRequestSpan).
func (s *Server) startRequestSpan(r *http.Request) (*http.Request, trace.Span) {
	ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := s.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.EscapedPath())))
	return r.WithContext(ctx), span
}

// endRequestSpan names the span "METHOD /route" and ends it with the status.
func endRequestSpan(span trace.Span, method, route string, code int) {
	span.SetName(method + " " + route)
	span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", code))
	if code >= 500 {
		span.SetStatus(codes.Error, http.StatusText(code))
	}
	span.End()
}

// traceParentOf is the traceparent an event published by r keeps: its
// request span's with tracing on (a child of the caller's), else the
// caller's own, so that receivers continue the publisher's trace either
// way; "" when there is neither.
func traceParentOf(r *http.Request) string {
	if tp := tracing.TraceParent(r.Context()); tp != "" {
		return tp
	}
	return tracing.Normalize(r.Header.Get(tracing.Header))
}

// startCommitSpan starts the span of a publish's store commit of n events;
// end ends it with the commit's error. With tracing off it returns ctx and
// a no-op.
func (s *Server) startCommitSpan(ctx context.Context, n int) (context.Context, func(error)) {
	if s.tracer == nil {
		return ctx, endNothing
	}
	ctx, span := s.tracer.Start(ctx, "webhookd.store.publish", trace.WithAttributes(attribute.Int("webhookd.event.count", n)))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "publish failed")
		}
		span.End()
	}
}

func endNothing(error) {}
