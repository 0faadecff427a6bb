package delivery

import (
	"context"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/tracing"
)

// The attributes of an attempt's span, beside OpenTelemetry's HTTP client
// ones (server.address, server.port, http.response.status_code,
// error.type).
const (
	attrAttempt  = attribute.Key("webhookd.attempt.number")
	attrOutcome  = attribute.Key("webhookd.attempt.outcome")
	attrDelivery = attribute.Key("webhookd.delivery.id")
	attrEvent    = attribute.Key("webhookd.event.id")
	attrType     = attribute.Key("webhookd.event.type")
)

// startAttempt starts the span of an attempt of c, a child of the publish
// request's span (the event's traceparent) when it had one. Only called
// with tracing on.
func (e *Engine) startAttempt(ctx context.Context, c *webhookd.Claim) (context.Context, trace.Span) {
	d := c.Delivery
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", "POST"),
		attrAttempt.Int(d.AttemptCount + 1),
		attrDelivery.String(d.ID),
		attrEvent.String(d.EventID),
		attrType.String(c.EventType),
	}
	if u, err := url.Parse(d.URI); err == nil { // never the path or query: they may hold a token
		attrs = append(attrs, attribute.String("server.address", u.Hostname()))
		if p, err := strconv.Atoi(u.Port()); err == nil {
			attrs = append(attrs, attribute.Int("server.port", p))
		}
	}
	return e.tracer.Start(tracing.ContextWith(ctx, c.TraceParent), "webhookd.delivery.attempt",
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// endAttempt ends an attempt's span with what it did.
func endAttempt(span trace.Span, out attemptOutcome, sent bool) {
	if !sent {
		span.SetAttributes(attrOutcome.String("abandoned"))
		span.End()
		return
	}
	res := out.result
	span.SetAttributes(attrOutcome.String(string(res.Outcome)))
	if a := res.Attempt; a != nil {
		if a.StatusCode != 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", a.StatusCode))
		}
		if a.ErrorStage != "" {
			span.SetAttributes(attribute.String("error.type", a.ErrorStage))
			span.SetStatus(codes.Error, a.Error)
		}
	} else if res.Outcome == webhookd.OutcomeFailed {
		span.SetStatus(codes.Error, res.Error)
	}
	span.End()
}

// traceParent is the traceparent an attempt sends: its span's with tracing
// on, else the publish request's as it was stored, so that the receiver's
// trace continues the publisher's either way.
func traceParent(ctx context.Context, c *webhookd.Claim) string {
	if tp := tracing.TraceParent(ctx); tp != "" {
		return tp
	}
	return c.TraceParent
}

// traceID is the trace id of an attempt, for its log lines: "" when it has
// no trace.
func traceID(ctx context.Context, c *webhookd.Claim) string {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	return tracing.TraceID(c.TraceParent)
}
