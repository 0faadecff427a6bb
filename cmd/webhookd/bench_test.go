package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/signing"
)

// TestBenchSmoke runs every scenario end to end on the embedded store with a
// handful of events, and checks only that it completes and that the counts
// match: timing is never asserted here (the numbers come from the command).
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts webhookd in-process")
	}
	tests := []struct {
		scenario string
		args     []string
	}{
		{scenarioHMAC, []string{"--fanout", "3", "--destinations", "2"}},
		{scenarioRS256, []string{"--fanout", "2", "--destinations", "2"}},
		{scenarioFailing, []string{"--fail-rate", "0.05"}},
		{scenarioHang, []string{"--rate", "200"}},
		// batchPublish, with a last call shorter than the others (40 = 5×7 + 5)
		{scenarioHMAC, []string{"--batch", "7"}},
		{scenarioRS256, []string{"--batch", "7", "--rate", "400"}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario+strings.Join(tt.args, ""), func(t *testing.T) {
			args := append([]string{"--scenario", tt.scenario, "--events", "40", "--max-wait", "20s"}, tt.args...)
			o, err := parseBenchFlags(args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			res, err := benchRun(t.Context(), o, &stderr)
			if err != nil {
				t.Fatalf("bench: %v\n%s", err, stderr.String())
			}
			want := o.events * o.fanout
			if res.expected != want || res.delivered != want {
				t.Errorf("expected %d, delivered %d; want %d of %d", res.expected, res.delivered, want, want)
			}
			if res.rawBefore.Sent != want || res.rawAfter.Sent != want || res.accepted != o.events || res.rejected != 0 {
				t.Errorf("raw sent %d and %d (want %d), accepted %d (want %d), rejected %d",
					res.rawBefore.Sent, res.rawAfter.Sent, want, res.accepted, o.events, res.rejected)
			}
			if res.latency.Count != want {
				t.Errorf("latency sample has %d deliveries, want %d", res.latency.Count, want)
			}
			if hang := tt.scenario == scenarioHang; (res.alone != nil) != hang || (res.answering != nil) != hang {
				t.Errorf("comparison phases alone %v, answering %v; want both only for the hang scenario", res.alone != nil, res.answering != nil)
			}
			if (res.warmup != nil) != (o.rate > 0) {
				t.Errorf("warm-up %v; want one exactly with --rate", res.warmup != nil)
			}
			for _, p := range res.phases() {
				events := o.events
				if p == res.warmup {
					events = o.warmup
				}
				if want := events * o.fanout; p.accepted != events || p.delivered != want || p.latency.Count != want {
					t.Errorf("phase %q: accepted %d, delivered %d, latency sample %d; want %d, %d, %d",
						p.name, p.accepted, p.delivered, p.latency.Count, events, want, want)
				}
			}
			if wantExtra := map[bool]int{true: o.events}[tt.scenario == scenarioHang]; res.extraReceived != wantExtra {
				t.Errorf("the extra destination received %d, want %d (the answering phase's events, in the hang scenario)", res.extraReceived, wantExtra)
			}
			if tt.scenario == scenarioFailing && res.injected == 0 {
				t.Error("the failing scenario failed no first attempt")
			}
			if measured := res.signBefore.perSecond > 0 && res.signAfter.perSecond > 0; measured != (tt.scenario == scenarioRS256) {
				t.Errorf("signing rate before %.0f/s and after %.0f/s; want both measured only for rs256", res.signBefore.perSecond, res.signAfter.perSecond)
			}
			var out bytes.Buffer
			res.print(&out)
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, "result deliveries_per_s=") {
				t.Errorf("last line %q is not the result line", last)
			}
		})
	}
}

func TestParseBenchFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(*testing.T, *benchOptions)
	}{
		{name: "defaults", check: func(t *testing.T, o *benchOptions) {
			if o.scenario != scenarioHMAC || o.events != 10000 || o.fanout != 1 || o.concurrency != 16 {
				t.Errorf("defaults = %+v", o)
			}
		}},
		{name: "rs256 publishes fewer events by default", args: []string{"--scenario", "rs256"}, check: func(t *testing.T, o *benchOptions) {
			if o.events != 3000 {
				t.Errorf("events = %d, want 3000", o.events)
			}
		}},
		{name: "raw concurrency follows what the engine may use", args: []string{"--fanout", "8", "--destinations", "8"}, check: func(t *testing.T, o *benchOptions) {
			if o.concurrency != 64 {
				t.Errorf("concurrency = %d, want min(64 workers, 8×16)", o.concurrency)
			}
		}},
		{name: "several urls", args: []string{"--url", "http://127.0.0.1:1/, http://127.0.0.1:2", "--api-key", "k"}, check: func(t *testing.T, o *benchOptions) {
			if len(o.urls) != 2 || o.urls[0] != "http://127.0.0.1:1" {
				t.Errorf("urls = %q", o.urls)
			}
		}},
		{name: "open loop warms up for a second", args: []string{"--rate", "500"}, check: wantWarmup(500)},
		{name: "warm-up at most the run", args: []string{"--rate", "500", "--events", "40"}, check: wantWarmup(40)},
		{name: "closed loop does not warm up", check: wantWarmup(0)},
		{name: "warm-up turned off", args: []string{"--rate", "500", "--warmup", "0"}, check: wantWarmup(0)},
		{name: "unknown scenario", args: []string{"--scenario", "fast"}, wantErr: "--scenario"},
		{name: "more destinations than fan-out", args: []string{"--destinations", "2"}, wantErr: "--destinations"},
		{name: "dynamic fan-out over the uris limit", args: []string{"--scenario", "rs256", "--fanout", "21", "--destinations", "1"}, wantErr: "at most 20"},
		{name: "url without key", args: []string{"--url", "http://127.0.0.1:1"}, wantErr: "--api-key"},
		{name: "fail rate above one", args: []string{"--fail-rate", "2"}, wantErr: "--fail-rate"},
		{name: "stray argument", args: []string{"now"}, wantErr: "unexpected argument"},
		{name: "batch over the batchPublish limit", args: []string{"--batch", "101"}, wantErr: "at most 100"},
		{name: "empty batch", args: []string{"--batch", "0"}, wantErr: "--batch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := parseBenchFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, errUsage) {
					t.Fatalf("err = %v, want a usage error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, o)
		})
	}
}

// wantWarmup checks the warm-up's length.
func wantWarmup(n int) func(*testing.T, *benchOptions) {
	return func(t *testing.T, o *benchOptions) {
		t.Helper()
		if o.warmup != n {
			t.Errorf("warmup = %d, want %d", o.warmup, n)
		}
	}
}

// BenchmarkSignHMACEnvelope is the static delivery's signing cost: one
// Standard Webhooks signature of a typical envelope per live secret (two
// during a rotation's grace period). The dynamic delivery's cost is
// signing.BenchmarkSignDelivery (one RS256 JWT).
func BenchmarkSignHMACEnvelope(b *testing.B) {
	body := benchEnvelope()
	for _, n := range []int{1, 2} {
		keys := make([][]byte, n)
		for i := range keys {
			k, err := signing.ParseSecret(signing.GenerateSecret())
			if err != nil {
				b.Fatal(err)
			}
			keys[i] = k
		}
		b.Run("secrets="+string(rune('0'+n)), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				signing.SignHMAC(keys, "msg_2Vq3bJ9kLx0sT4aW8yZ1cR6e", 1769083200, body)
			}
		})
	}
}
