// Package tracing is webhookd's OpenTelemetry wiring: a tracer provider
// chosen by the standard OTEL_* environment variables (off unless they ask
// for an exporter), and the W3C traceparent that follows an event from its
// publish request to every delivery attempt, so that a receiver's trace
// continues the publisher's.
//
// Tracing off means no tracer at all: the packages that trace hold a nil
// Tracer and skip every span, which costs a nil check.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of every webhookd span.
const ScopeName = "github.com/webhookd/webhookd"

// Header is the W3C Trace Context header webhookd reads from a publish
// request and sends with every attempt.
const Header = "traceparent"

// Tracer returns tp's tracer for webhookd, or nil when tp is nil (tracing
// off).
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(ScopeName)
}

// Provider is a configured tracer provider and how to stop it.
type Provider struct {
	*sdktrace.TracerProvider
	// Exporter names the exporter chosen: "otlp (http/protobuf)",
	// "otlp (grpc)" or "console".
	Exporter string
}

// FromEnv returns the tracer provider the OTEL_* environment (read through
// getenv) asks for, or nil when it asks for none. Tracing is on when
// OTEL_TRACES_EXPORTER is "otlp" or "console", or, with it unset, when an
// OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). OTEL_SDK_DISABLED=true and
// OTEL_TRACES_EXPORTER=none turn it off. The OTLP protocol is
// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL:
// "http/protobuf" (the default) or "grpc". The exporters read their
// endpoint, headers, timeout and TLS settings, and the SDK its sampler
// (OTEL_TRACES_SAMPLER) and batching (OTEL_BSP_*), from the environment
// themselves; the resource takes OTEL_SERVICE_NAME (default "webhookd")
// and OTEL_RESOURCE_ATTRIBUTES.
func FromEnv(ctx context.Context, getenv func(string) string, version string) (*Provider, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return nil, nil
	}
	exporter := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")))
	if exporter == "" && (getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "") {
		exporter = "otlp"
	}
	var (
		exp  sdktrace.SpanExporter
		name string
		err  error
	)
	switch exporter {
	case "", "none":
		return nil, nil
	case "console":
		exp, err = stdouttrace.New(stdouttrace.WithWriter(os.Stdout))
		name = "console"
	case "otlp":
		protocol := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
		if protocol == "" {
			protocol = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
		}
		switch protocol {
		case "", "http/protobuf":
			exp, err = otlptracehttp.New(ctx)
			name = "otlp (http/protobuf)"
		case "grpc":
			exp, err = otlptracegrpc.New(ctx)
			name = "otlp (grpc)"
		default:
			return nil, fmt.Errorf("tracing: OTEL_EXPORTER_OTLP_PROTOCOL %q: want http/protobuf or grpc", protocol)
		}
	default:
		return nil, fmt.Errorf("tracing: OTEL_TRACES_EXPORTER %q: want otlp, console or none", exporter)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: %s exporter: %w", name, err)
	}
	res, err := resource.Merge(
		resource.NewSchemaless(semconv.ServiceName("webhookd"), semconv.ServiceVersion(version)),
		resource.Environment(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Provider{TracerProvider: tp, Exporter: name}, nil
}

// TraceParent returns the traceparent header of the span in ctx, or "" when
// ctx has no valid span context.
func TraceParent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c[Header]
}

// Parse returns the remote span context of a traceparent header value, and
// whether it is a valid one (W3C Trace Context, version 00 or a later one
// read as 00).
func Parse(traceparent string) (trace.SpanContext, bool) {
	if traceparent == "" {
		return trace.SpanContext{}, false
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{Header: traceparent})
	sc := trace.SpanContextFromContext(ctx)
	return sc, sc.IsValid()
}

// Normalize returns the traceparent to keep for a header value: the same
// trace and parent in canonical version-00 form, or "" when it is not a
// valid traceparent (an invalid one is ignored, as the W3C spec says).
func Normalize(traceparent string) string {
	sc, ok := Parse(traceparent)
	if !ok {
		return ""
	}
	return TraceParent(trace.ContextWithRemoteSpanContext(context.Background(), sc))
}

// ContextWith returns ctx with the span of traceparent as its remote
// parent; ctx as it is when traceparent is not valid.
func ContextWith(ctx context.Context, traceparent string) context.Context {
	sc, ok := Parse(traceparent)
	if !ok {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

// TraceID returns the trace id of a traceparent, in hex, or "".
func TraceID(traceparent string) string {
	// "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>": the stored
	// value is canonical, so the id is where the spec puts it.
	if len(traceparent) < 35 || traceparent[2] != '-' {
		return ""
	}
	return traceparent[3:35]
}
