package delivery_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/delivery"
)

// TestIsolation: with a hanging destination holding a backlog of 1000
// events, deliveries to a healthy destination still go out, while the
// hanging one holds no more than its cap of workers. The attempt timeout is
// longer than the test, so the hanging attempts are all still held while the
// healthy ones are measured: a healthy delivery that arrives at all was not
// queued behind them. Latencies are logged, never asserted (speed is the
// benchmark's to check: webhookd bench --scenario hang).
func TestIsolation(t *testing.T) {
	t.Parallel()
	const (
		backlog = 1000
		samples = 15
		limit   = 4
	)
	h := setup(t, nil)
	healthy := newReceiver(t, ok)
	hanging := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done() // until the engine gives up on it
	})
	whHealthy, _ := h.webhook(healthy.URL)

	cfg := h.config()
	cfg.Workers = 16
	cfg.PerDestinationLimit = limit
	cfg.Timeout = time.Minute
	cfg.ShutdownGrace = time.Millisecond // the hanging attempts are abandoned at the end
	cfg.JWTSigner = &tokenSigner{}

	measure := func(e *delivery.Engine) []time.Duration {
		var lat []time.Duration
		for range samples {
			ev := h.publish(whHealthy.ID)
			start := time.Now()
			e.Notify()
			deadline := time.After(waitLimit)
		wait:
			for {
				select {
				case req := <-healthy.arrived:
					if req.header.Get("webhook-id") == ev.ID {
						lat = append(lat, req.at.Sub(start))
						break wait
					}
				case <-deadline:
					t.Fatalf("the healthy destination's delivery of %s did not arrive within %v", ev.ID, waitLimit)
				}
			}
		}
		slices.Sort(lat)
		return lat
	}
	e1, stop1 := h.start(cfg)
	measure(e1) // warm up connections and statements
	base := measure(e1)
	stop1()

	// The whole backlog is due at once when the next engine starts: the
	// worst moment, before the hanging destination's circuit opens.
	// Dynamic deliveries make the backlog in a few transactions: each event
	// goes to 100 URIs of the hanging destination (one destination: same
	// scheme, host and port).
	for i := range backlog / 100 {
		uris := make([]string, 100)
		for j := range uris {
			uris[j] = fmt.Sprintf("%s/hook?n=%d", hanging.URL, i*100+j)
		}
		_, _, err := h.store.PublishEvent(t.Context(), webhookd.NewEvent{
			ProjectID: h.project.ID, Type: webhookd.EventBatchSucceeded, Source: "api",
			WebhookConfig: &webhookd.WebhookConfig{URIs: uris},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The cap is on the engine's side: count requests in flight where it
	// sends them (the receiver sees a timed-out request end a little after
	// the engine has moved on).
	counted := &countingTransport{RoundTripper: delivery.NewTransport(nil), host: hanging.Listener.Addr().String()}
	cfg.Transport = counted
	e2, _ := h.start(cfg)
	for range limit { // the hanging destination now holds its cap of workers
		<-hanging.arrived
	}
	loaded := measure(e2)

	median := func(d []time.Duration) time.Duration { return d[len(d)/2] }
	t.Logf("healthy destination, event to first attempt: baseline median %v max %v; beside the hanging backlog median %v max %v",
		median(base), base[len(base)-1], median(loaded), loaded[len(loaded)-1])
	if n := len(hanging.seen()); n != limit {
		t.Errorf("the hanging destination received %d requests while its attempts were held, want its cap %d", n, limit)
	}
	if m := counted.max.Load(); m > limit {
		t.Errorf("hanging destination had %d attempts in flight, cap is %d", m, limit)
	}
	st, err := h.store.QueueStats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending < backlog-limit*2 {
		t.Errorf("%d deliveries pending, want the hanging backlog (~%d) still there", st.Pending, backlog)
	}
}

// countingTransport records the most requests to host it had in flight at
// once.
type countingTransport struct {
	http.RoundTripper
	host          string
	inflight, max atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != c.host {
		return c.RoundTripper.RoundTrip(r)
	}
	n := c.inflight.Add(1)
	defer c.inflight.Add(-1)
	for m := c.max.Load(); n > m && !c.max.CompareAndSwap(m, n); m = c.max.Load() {
	}
	return c.RoundTripper.RoundTrip(r)
}

func (c *countingTransport) CloseIdleConnections() {
	c.RoundTripper.(*http.Transport).CloseIdleConnections()
}
