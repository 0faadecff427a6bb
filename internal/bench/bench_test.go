package bench

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/signing"
)

func TestParseBenchFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(*testing.T, *Options)
	}{
		{name: "defaults", check: func(t *testing.T, o *Options) {
			if o.scenario != ScenarioHMAC || o.events != 10000 || o.fanout != 1 || o.concurrency != 32 {
				t.Errorf("defaults = %+v", o)
			}
		}},
		{name: "rs256 publishes fewer events by default", args: []string{"--scenario", "rs256"}, check: func(t *testing.T, o *Options) {
			if o.events != 3000 {
				t.Errorf("events = %d, want 3000", o.events)
			}
		}},
		{name: "raw concurrency follows what the engine may use", args: []string{"--fanout", "8", "--destinations", "8"}, check: func(t *testing.T, o *Options) {
			if o.concurrency != 64 {
				t.Errorf("concurrency = %d, want min(64 workers, 8×16)", o.concurrency)
			}
		}},
		{name: "several urls", args: []string{"--url", "http://127.0.0.1:1/, http://127.0.0.1:2", "--api-key", "k"}, check: func(t *testing.T, o *Options) {
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
		{name: "db without url", args: []string{"--db", "postgres://127.0.0.1/test"}, wantErr: "--db needs --url"},
		{name: "fail rate above one", args: []string{"--fail-rate", "2"}, wantErr: "--fail-rate"},
		{name: "stray argument", args: []string{"now"}, wantErr: "unexpected argument"},
		{name: "batch over the batchPublish limit", args: []string{"--batch", "101"}, wantErr: "at most 100"},
		{name: "empty batch", args: []string{"--batch", "0"}, wantErr: "--batch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := Parse(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrUsage) {
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
func wantWarmup(n int) func(*testing.T, *Options) {
	return func(t *testing.T, o *Options) {
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
	body := envelope()
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
