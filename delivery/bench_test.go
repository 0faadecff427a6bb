package delivery_test

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/signing"
)

// BenchmarkEngine measures delivered events per second from a SQLite backlog
// to loopback receivers — one receiver (the per-destination cap and queue
// matter) and sixteen — against raw signed POSTs to the same receivers with
// the same concurrency, in the same run, and reports the ratio.
//
//	go test -run '^$' -bench Engine -benchtime 5000x ./delivery
func BenchmarkEngine(b *testing.B) {
	for _, dests := range []int{1, 16} {
		b.Run("destinations="+strconv.Itoa(dests), func(b *testing.B) { benchEngine(b, dests) })
	}
}

func benchEngine(b *testing.B, dests int) {
	h := setup(b, nil)
	var whs []*webhookd.Webhook
	for range dests {
		rc := newReceiver(b, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
		done := make(chan struct{})
		b.Cleanup(func() { close(done) })
		go func() { // the receiver's log is not needed here
			for {
				select {
				case <-rc.arrived:
				case <-done:
					return
				}
			}
		}()
		wh, _ := h.webhook(rc.URL)
		whs = append(whs, wh)
	}
	var payload []byte
	for i := range b.N {
		payload = h.publish(whs[i%dests].ID).Payload
	}
	cfg := h.config()
	cfg.Logger = nil // no per-delivery log lines in the measurement
	cfg.Transport = delivery.NewTransport(nil)

	b.ResetTimer()
	start := time.Now()
	h.start(cfg)
	h.waitFor("the backlog", func() bool {
		st, err := h.store.QueueStats(b.Context())
		return err == nil && st.Pending == 0
	})
	engineRate := float64(b.N) / time.Since(start).Seconds()
	b.StopTimer()

	// Raw: the same number of HMAC-signed POSTs, as many at once as the
	// engine's workers.
	key, _ := signing.ParseSecret(signing.GenerateSecret())
	client := &http.Client{Transport: delivery.NewTransport(nil)}
	jobs := make(chan string, b.N)
	for i := range b.N {
		jobs <- whs[i%dests].URI
	}
	close(jobs)
	start = time.Now()
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for uri := range jobs {
				req, _ := http.NewRequest(http.MethodPost, uri, bytes.NewReader(payload))
				ts := time.Now().Unix()
				req.Header.Set("webhook-id", "msg_x")
				req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
				req.Header.Set("webhook-signature", signing.SignHMAC([][]byte{key}, "msg_x", ts, payload))
				if resp, err := client.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	rawRate := float64(b.N) / time.Since(start).Seconds()
	client.CloseIdleConnections()
	b.ReportMetric(engineRate, "deliveries/s")
	b.ReportMetric(rawRate, "raw-posts/s")
	b.ReportMetric(rawRate/engineRate, "raw/engine")
}
