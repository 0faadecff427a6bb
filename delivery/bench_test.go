package delivery_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

// BenchmarkEngine measures delivered events per second from a SQLite backlog
// to loopback receivers: one receiver (the per-destination cap matters) and
// many (the pool and the claim path matter).
//
//	go test -run '^$' -bench Engine -benchtime 2000x ./delivery
func BenchmarkEngine(b *testing.B) {
	for _, dests := range []int{1, 16} {
		b.Run("destinations="+strconv.Itoa(dests), func(b *testing.B) {
			benchEngine(b, dests)
		})
	}
}

func benchEngine(b *testing.B, dests int) {
	h := setup(b, nil)
	var whs []*webhookd.Webhook
	for range dests {
		rc := newReceiver(b, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
		wh, _ := h.webhook(rc.URL)
		whs = append(whs, wh)
	}
	for i := range b.N {
		h.publish(whs[i%dests].ID)
	}
	cfg := h.config()
	cfg.Logger = nil // no per-delivery log lines in the measurement
	b.ResetTimer()
	start := time.Now()
	h.start(cfg)
	h.waitFor("the backlog", func() bool {
		st, err := h.store.QueueStats(b.Context())
		return err == nil && st.Pending == 0
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
}
