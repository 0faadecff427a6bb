package tracing

import (
	"context"
	"strings"
	"testing"
)

// TestFromEnv: tracing is off unless the OTEL_* variables ask for an
// exporter, and they choose it.
func TestFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		want    string // the exporter; "" for off
		wantErr string
	}{
		{"nothing set: off", nil, "", ""},
		{"none", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, "", ""},
		{"console", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, "console", ""},
		{"otlp defaults to http/protobuf", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, "otlp (http/protobuf)", ""},
		{"an endpoint alone turns it on", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, "otlp (http/protobuf)", ""},
		{"a traces endpoint alone", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, "otlp (http/protobuf)", ""},
		{"grpc", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "otlp (grpc)", ""},
		{"the traces protocol wins", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, "otlp (http/protobuf)", ""},
		{"disabled wins", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}, "", ""},
		{"an unknown exporter", map[string]string{"OTEL_TRACES_EXPORTER": "jaeger"}, "", `OTEL_TRACES_EXPORTER "jaeger"`},
		{"an unknown protocol", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "", `"http/json"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := FromEnv(context.Background(), func(k string) string { return tt.env[k] }, "test")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v; want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if p != nil {
				got = p.Exporter
				_ = p.Shutdown(context.Background())
			}
			if got != tt.want {
				t.Errorf("exporter %q; want %q", got, tt.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct{ in, want string }{
		{tp, tp},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"},
		{"", ""},
		{"garbage", ""},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", ""}, // an all-zero trace id is invalid
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", ""},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""}, // version ff is forbidden
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
	if got := TraceID(tp); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("TraceID = %q", got)
	}
	if got := TraceID(""); got != "" {
		t.Errorf("TraceID of nothing = %q", got)
	}
}

// FuzzNormalize: whatever a caller sends as traceparent, what webhookd
// keeps is nothing or a canonical traceparent that reads back the same.
func FuzzNormalize(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if n == "" {
			return
		}
		if len(n) != 55 || Normalize(n) != n || len(TraceID(n)) != 32 {
			t.Fatalf("Normalize(%q) = %q: not canonical", s, n)
		}
	})
}
