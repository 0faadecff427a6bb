package delivery_test

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/delivery"
)

// TestGuardRefusesALiteralOnce: a destination whose URI is an IP literal the
// guard refuses fails at its first try, without an attempt and without
// retries: no DNS change can make the address allowed.
func TestGuardRefusesALiteralOnce(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	rc := newReceiver(t, ok)
	wh, _ := h.webhook(rc.URL) // http://127.0.0.1:port
	ev := h.publish(wh.ID)
	cfg := h.config()
	cfg.Transport = nil // the default: guarded, nothing allowed
	cfg.Policy = delivery.RetryPolicy{Schedule: []time.Duration{10 * time.Millisecond}, Window: time.Hour}
	h.start(cfg)

	h.waitFor("the delivery to fail", func() bool { return h.delivery(ev.ID).State == webhookd.DeliveryFailed })
	d := h.delivery(ev.ID)
	// The address's class is the server log's (TestRefusalsSayNoMore).
	if d.AttemptCount != 0 || d.LastError != "destination is not allowed" {
		t.Errorf("delivery after %d attempts, error %q; want failed without an attempt: destination is not allowed", d.AttemptCount, d.LastError)
	}
	if n := len(rc.seen()); n != 0 {
		t.Errorf("the loopback receiver saw %d requests", n)
	}
}
