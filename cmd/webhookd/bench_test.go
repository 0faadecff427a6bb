package main

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/internal/bench"
)

// TestBenchSmoke runs every scenario end to end on the embedded store with a
// handful of events, and checks only that it completes and that the counts
// match: timing is never asserted here (the numbers come from the command).
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts webhookd in-process")
	}
	const events = 40
	tests := []struct {
		scenario     string
		fanout, rate int // as the args say
		args         []string
	}{
		{bench.ScenarioHMAC, 3, 0, []string{"--fanout", "3", "--destinations", "2"}},
		{bench.ScenarioRS256, 2, 0, []string{"--fanout", "2", "--destinations", "2"}},
		{bench.ScenarioFailing, 1, 0, []string{"--fail-rate", "0.05"}},
		{bench.ScenarioHang, 1, 200, []string{"--rate", "200"}},
		// batchPublish, with a last call shorter than the others (40 = 5×7 + 5)
		{bench.ScenarioHMAC, 1, 0, []string{"--batch", "7"}},
		{bench.ScenarioRS256, 1, 400, []string{"--batch", "7", "--rate", "400"}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario+strings.Join(tt.args, ""), func(t *testing.T) {
			args := append([]string{"--scenario", tt.scenario, "--events", strconv.Itoa(events), "--max-wait", "20s"}, tt.args...)
			o, err := bench.Parse(args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			res, err := bench.Run(t.Context(), o, serveEmbedded, &stderr)
			if err != nil {
				t.Fatalf("bench: %v\n%s", err, stderr.String())
			}
			want := events * tt.fanout
			if res.Expected != want || res.Delivered != want {
				t.Errorf("expected %d, delivered %d; want %d of %d", res.Expected, res.Delivered, want, want)
			}
			if res.RawBefore.Sent != want || res.RawAfter.Sent != want || res.Accepted != events || res.Rejected != 0 {
				t.Errorf("raw sent %d and %d (want %d), accepted %d (want %d), rejected %d",
					res.RawBefore.Sent, res.RawAfter.Sent, want, res.Accepted, events, res.Rejected)
			}
			if res.Latency.Count != want {
				t.Errorf("latency sample has %d deliveries, want %d", res.Latency.Count, want)
			}
			if hang := tt.scenario == bench.ScenarioHang; (res.Alone != nil) != hang || (res.Answering != nil) != hang {
				t.Errorf("comparison phases alone %v, answering %v; want both only for the hang scenario", res.Alone != nil, res.Answering != nil)
			}
			if (res.Warmup != nil) != (tt.rate > 0) {
				t.Errorf("warm-up %v; want one exactly with --rate", res.Warmup != nil)
			}
			for _, p := range res.Phases() {
				n := events
				if p == res.Warmup {
					n = min(tt.rate, events) // a second's worth, at most the run
				}
				if want := n * tt.fanout; p.Accepted != n || p.Delivered != want || p.Latency.Count != want {
					t.Errorf("phase %q: accepted %d, delivered %d, latency sample %d; want %d, %d, %d",
						p.Name, p.Accepted, p.Delivered, p.Latency.Count, n, want, want)
				}
			}
			if wantExtra := map[bool]int{true: events}[tt.scenario == bench.ScenarioHang]; res.ExtraReceived != wantExtra {
				t.Errorf("the extra destination received %d, want %d (the answering phase's events, in the hang scenario)", res.ExtraReceived, wantExtra)
			}
			if tt.scenario == bench.ScenarioFailing && res.Injected == 0 {
				t.Error("the failing scenario failed no first attempt")
			}
			if measured := res.SignBefore.PerSecond > 0 && res.SignAfter.PerSecond > 0; measured != (tt.scenario == bench.ScenarioRS256) {
				t.Errorf("signing rate before %.0f/s and after %.0f/s; want both measured only for rs256", res.SignBefore.PerSecond, res.SignAfter.PerSecond)
			}
			var out bytes.Buffer
			res.Print(&out)
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, "result deliveries_per_s=") {
				t.Errorf("last line %q is not the result line", last)
			}
		})
	}
}
