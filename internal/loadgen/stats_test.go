package loadgen

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sample []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value is every percentile", ms(7), 99, 7 * time.Millisecond},
		{"median of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 1..100 is 99", ms(hundred...), 99, 99 * time.Millisecond},
		{"p50 of 1..100 is 50", ms(hundred...), 50, 50 * time.Millisecond},
		{"p100 is the max", ms(hundred...), 100, 100 * time.Millisecond},
		{"a tiny p is the min", ms(3, 5, 9), 0.1, 3 * time.Millisecond},
		{"p99 of ten is the max, not an interpolation", ms(1, 1, 1, 1, 1, 1, 1, 1, 1, 50), 99, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Percentile(tt.sample, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tt.sample, tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarizeSorts(t *testing.T) {
	t.Parallel()
	got := Summarize([]time.Duration{5, 1, 4, 2, 3})
	want := Latencies{Count: 5, P50: 3, P95: 5, P99: 5, Max: 5}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
}

func TestRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n       int
		elapsed time.Duration
		want    float64
	}{
		{1000, 2 * time.Second, 500},
		{10, 0, 0},
		{10, -time.Second, 0},
	}
	for _, tt := range tests {
		if got := Rate(tt.n, tt.elapsed); got != tt.want {
			t.Errorf("Rate(%d, %v) = %v, want %v", tt.n, tt.elapsed, got, tt.want)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	t.Parallel()
	got := ParseMetrics(`# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 5.36
webhookd_deliveries_total{outcome="deferred"} 64
webhookd_x{a="b c",d="}"} 1e3 1712345678000
broken{a="b"}
not_a_number NaNa
`)
	want := map[string]float64{
		"process_cpu_seconds_total":                     5.36,
		`webhookd_deliveries_total{outcome="deferred"}`: 64,
		`webhookd_x{a="b c",d="}"}`:                     1000,
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
