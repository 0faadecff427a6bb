package delivery_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/signing"
)

// TestDeliveryVerifies is the golden check: what the engine sends verifies
// with the official Standard Webhooks Go library, and is recorded.
func TestDeliveryVerifies(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	rc := newReceiver(t, ok)
	wh, secret := h.webhook(rc.URL + "/hooks")
	ev := h.publish(wh.ID)
	h.start(h.config())

	d := h.waitDone(ev.ID)
	if d.State != webhookd.DeliverySucceeded || d.AttemptCount != 1 || d.LastStatusCode != http.StatusNoContent {
		t.Fatalf("delivery = %+v, want succeeded after 1 attempt with 204", d)
	}
	req := <-rc.arrived
	if string(req.body) != string(ev.Payload) {
		t.Errorf("body = %s, want the event payload %s", req.body, ev.Payload)
	}
	if got := req.header.Get("webhook-id"); got != ev.ID {
		t.Errorf("webhook-id = %q, want the event id %q", got, ev.ID)
	}
	wh2, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh2.Verify(req.body, req.header); err != nil {
		t.Errorf("official library does not verify the delivery: %v", err)
	}
	as := h.attempts(d.ID)
	if len(as) != 1 || as[0].StatusCode != http.StatusNoContent || as[0].Error != "" || as[0].Latency <= 0 {
		t.Errorf("attempts = %+v", as)
	}
}

// TestCustomHeaders: a webhook's own headers go with every attempt, retries
// included, beside the signature headers they cannot replace.
func TestCustomHeaders(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	wh, secret := h.webhook(rc.URL + "/hooks")
	wh.Headers = map[string]string{"X-Api-Key": "key-1", "x-tenant": "acme", "User-Agent": "acme-gateway"}
	if err := h.store.UpdateWebhook(t.Context(), wh); err != nil {
		t.Fatal(err)
	}
	ev := h.publish(wh.ID)
	h.start(h.config())
	if d := h.waitDone(ev.ID); d.State != webhookd.DeliverySucceeded || d.AttemptCount != 2 {
		t.Fatalf("delivery = %+v, want succeeded at the second attempt", d)
	}
	seen := rc.seen()
	if len(seen) != 2 {
		t.Fatalf("receiver saw %d requests, want 2", len(seen))
	}
	verify, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	for i, req := range seen {
		for name, want := range map[string]string{"X-Api-Key": "key-1", "X-Tenant": "acme", "User-Agent": "acme-gateway", "Webhook-Id": ev.ID} {
			if got := req.header.Values(name); len(got) != 1 || got[0] != want {
				t.Errorf("attempt %d: %s = %q, want [%q]", i+1, name, got, want)
			}
		}
		if err := verify.Verify(req.body, req.header); err != nil {
			t.Errorf("attempt %d does not verify: %v", i+1, err)
		}
	}
}

// TestRotation: during the grace both the old and the new secret verify;
// after an immediate revocation only the newest does.
func TestRotation(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	rc := newReceiver(t, ok)
	wh, first := h.webhook(rc.URL)
	h.start(h.config())

	rotate := func(expireOthers time.Time) string {
		s := signing.GenerateSecret()
		err := h.store.RotateSecret(t.Context(), h.project.ID, wh.ID, webhookd.SigningSecret{Sealed: h.sealer.Seal([]byte(s)), Truncated: signing.TruncateSecret(s)}, expireOthers)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	deliver := func() request {
		ev := h.publish(wh.ID)
		if d := h.waitDone(ev.ID); d.State != webhookd.DeliverySucceeded {
			t.Fatalf("delivery %+v", d)
		}
		return <-rc.arrived
	}
	verifies := func(req request, secret string) bool {
		w, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		return w.Verify(req.body, req.header) == nil
	}

	second := rotate(time.Now().Add(webhookd.RotationGrace))
	req := deliver()
	if !verifies(req, first) || !verifies(req, second) {
		t.Errorf("during the grace: old verifies %v, new verifies %v; want both", verifies(req, first), verifies(req, second))
	}
	third := rotate(time.Now())
	req = deliver()
	if verifies(req, first) || verifies(req, second) || !verifies(req, third) {
		t.Errorf("after immediate revocation: first %v, second %v, third %v; want only the third",
			verifies(req, first), verifies(req, second), verifies(req, third))
	}
	if n := len(strings.Fields(req.header.Get("webhook-signature"))); n != 1 {
		t.Errorf("%d signatures after immediate revocation, want 1", n)
	}
}

// TestFaultsAreRetried: each kind of failing receiver is retried with the
// same webhook-id until it answers 2xx, and each attempt says why it failed.
func TestFaultsAreRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		failures int
		fail     func(w http.ResponseWriter, r *http.Request)
		errText  string
		stage    delivery.Stage
		headers  string // a line the failed attempts keep of the response's headers
		policy   delivery.RetryPolicy
		minGap   time.Duration
	}{
		{name: "500", failures: 2, fail: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "database on fire", http.StatusInternalServerError)
		}, errText: "receiver answered 500 Internal Server Error", stage: delivery.StageStatus, headers: "Content-Type: text/plain; charset=utf-8"},
		{name: "hangs past the timeout", failures: 1, fail: func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}, errText: "within 500ms", stage: delivery.StageTimeout},
		{name: "resets the connection", failures: 2, fail: func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
			}
		}, errText: "before it answered", stage: delivery.StageConnection},
		{name: "302", failures: 2, fail: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, errText: "receiver answered 302 Found; redirects are not followed", stage: delivery.StageStatus, headers: "Location: /elsewhere"},
		{name: "429 with Retry-After", failures: 1, fail: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}, errText: "429 Too Many Requests (Retry-After: 1)", stage: delivery.StageStatus, headers: "Retry-After: 1",
			// A 2s step lets the 1s Retry-After be honoured (it is capped
			// at the largest step).
			policy: delivery.RetryPolicy{Schedule: []time.Duration{10 * time.Millisecond, 2 * time.Second}, Window: 10 * time.Second},
			minGap: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := setup(t, nil)
			rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if n <= tt.failures {
					tt.fail(w, r)
					return
				}
				w.WriteHeader(http.StatusNoContent)
			})
			wh, secret := h.webhook(rc.URL)
			ev := h.publish(wh.ID)
			cfg := h.config()
			if tt.name == "hangs past the timeout" {
				cfg.Timeout = 500 * time.Millisecond
			}
			if tt.policy.Schedule != nil {
				cfg.Policy = tt.policy
			}
			h.start(cfg)

			d := h.waitDone(ev.ID)
			if d.State != webhookd.DeliverySucceeded || d.AttemptCount != tt.failures+1 {
				t.Fatalf("delivery = %s after %d attempts, want succeeded after %d", d.State, d.AttemptCount, tt.failures+1)
			}
			as := h.attempts(d.ID)
			for i, a := range as[:tt.failures] {
				if !strings.Contains(a.Error, tt.errText) {
					t.Errorf("attempt %d error = %q, want it to contain %q", i+1, a.Error, tt.errText)
				}
				if a.ErrorStage != string(tt.stage) {
					t.Errorf("attempt %d stage = %q, want %q", i+1, a.ErrorStage, tt.stage)
				}
				if !strings.Contains("\n"+a.ResponseHeaders+"\n", "\n"+tt.headers+"\n") || (tt.headers == "") != (a.ResponseHeaders == "") {
					t.Errorf("attempt %d headers = %q, want a line %q", i+1, a.ResponseHeaders, tt.headers)
				}
			}
			if last := as[len(as)-1]; last.Error != "" || last.ErrorStage != "" || last.StatusCode != http.StatusNoContent {
				t.Errorf("last attempt = %+v, want a clean 204", last)
			}
			reqs := rc.seen()
			if len(reqs) != tt.failures+1 {
				t.Fatalf("receiver saw %d requests, want %d", len(reqs), tt.failures+1)
			}
			verifier, _ := standardwebhooks.NewWebhook(secret)
			for i, req := range reqs {
				if got := req.header.Get("webhook-id"); got != ev.ID {
					t.Errorf("request %d webhook-id = %q, want %q on every retry", i+1, got, ev.ID)
				}
				if err := verifier.Verify(req.body, req.header); err != nil {
					t.Errorf("request %d does not verify: %v", i+1, err)
				}
			}
			if tt.minGap > 0 {
				// Attempt times are when each attempt started (stored to the
				// microsecond); the receiver's arrival times would add noise.
				if gap := as[1].Time.Sub(as[0].Time); gap < tt.minGap-time.Millisecond {
					t.Errorf("retry came %v after the 429, want at least the Retry-After %v", gap, tt.minGap)
				}
			}
		})
	}
}

// TestRetryWindowEnds: a receiver that always fails is retried, with the
// same webhook-id, until the window ends; then the delivery is failed.
func TestRetryWindowEnds(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	wh, _ := h.webhook(rc.URL)
	ev := h.publish(wh.ID)
	cfg := h.config()
	cfg.Policy = delivery.RetryPolicy{Schedule: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}, Window: 480 * time.Millisecond}
	cfg.Breaker.FailureThreshold = 1000 // this test is about the window, not the breaker
	h.start(cfg)

	d := h.waitDone(ev.ID)
	if d.State != webhookd.DeliveryFailed {
		t.Fatalf("state = %s, want failed", d.State)
	}
	as := h.attempts(d.ID)
	// How many fit depends on how busy the machine is; the bounds do not.
	if len(as) < 3 {
		t.Errorf("%d attempts in a 480ms window of 10/20/40ms gaps, want at least 3", len(as))
	}
	span := as[len(as)-1].Time.Sub(as[0].Time)
	if span < 460*time.Millisecond { // the last attempt falls in the final 20ms of the window
		t.Errorf("last attempt %v after the first, want it in the final 1/24 of the 480ms window", span)
	}
	for i, req := range rc.seen() {
		if got := req.header.Get("webhook-id"); got != ev.ID {
			t.Errorf("request %d webhook-id = %q, want %q", i+1, got, ev.ID)
		}
	}
	if !strings.Contains(d.LastError, "503") {
		t.Errorf("last error = %q", d.LastError)
	}
}

// TestNotAttempted: deliveries that must not be sent are failed without an
// attempt, with the reason.
func TestNotAttempted(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	rc := newReceiver(t, ok)
	disabled, _ := h.webhook(rc.URL)
	evDisabled := h.publish(disabled.ID)
	disabled.State = webhookd.WebhookDisabled
	disabled.UpdateTime = time.Now()
	if err := h.store.UpdateWebhook(t.Context(), disabled); err != nil {
		t.Fatal(err)
	}
	evDynamic, _, err := h.store.PublishEvent(t.Context(), webhookd.NewEvent{
		ProjectID: h.project.ID, Type: webhookd.EventBatchSucceeded, Source: "api",
		WebhookConfig: &webhookd.WebhookConfig{URIs: []string{rc.URL + "/dynamic"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.config()
	var ring *signing.KeyRing // as wired when no key ring was set up
	cfg.JWTSigner = ring
	h.start(cfg)

	for ev, want := range map[string]string{
		evDisabled.ID: "webhook is disabled; not attempted",
		evDynamic.ID:  "dynamic signing is not configured",
	} {
		d := h.waitDone(ev)
		if d.State != webhookd.DeliveryFailed || d.LastError != want || d.AttemptCount != 0 {
			t.Errorf("delivery = %s, %d attempts, error %q; want failed without an attempt: %q", d.State, d.AttemptCount, d.LastError, want)
		}
		if as := h.attempts(d.ID); len(as) != 0 {
			t.Errorf("%d attempts recorded, want none", len(as))
		}
	}
	if n := len(rc.seen()); n != 0 {
		t.Errorf("receiver saw %d requests, want none", n)
	}
}

// TestDynamicDelivery: a webhook_config URI gets the signer's token, with the
// project's audience when it has one.
func TestDynamicDelivery(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	h.project.Audience = "client-42"
	if err := h.store.UpdateProject(t.Context(), h.project); err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t, ok)
	ev, _, err := h.store.PublishEvent(t.Context(), webhookd.NewEvent{
		ProjectID: h.project.ID, Type: webhookd.EventBatchSucceeded, Source: "api",
		WebhookConfig: &webhookd.WebhookConfig{URIs: []string{rc.URL + "/dynamic"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	signer := &tokenSigner{}
	cfg := h.config()
	cfg.JWTSigner, cfg.Issuer = signer, "https://webhookd.example"
	h.start(cfg)

	if d := h.waitDone(ev.ID); d.State != webhookd.DeliverySucceeded {
		t.Fatalf("delivery = %+v", d)
	}
	req := <-rc.arrived
	if got := req.header.Get("webhook-signature"); got != "token-for:client-42" {
		t.Errorf("webhook-signature = %q", got)
	}
	tok := signer.last()
	if tok.Issuer != "https://webhookd.example" || tok.Audience != "client-42" || tok.WebhookID != ev.ID ||
		tok.EventType != ev.Type || string(tok.Body) != string(ev.Payload) {
		t.Errorf("token = %+v", tok)
	}
}

// queueOnly hides every method of a store but the Queue's from the engine:
// publishes then hand nothing off, and their deliveries must be claimed.
type queueOnly struct{ delivery.Queue }

// TestNotify: with polling effectively off, a new event is still attempted
// at once after Notify.
func TestNotify(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	rc := newReceiver(t, ok)
	wh, _ := h.webhook(rc.URL)
	cfg := h.config()
	cfg.Store = queueOnly{h.store}
	cfg.PollInterval = time.Hour
	e, _ := h.start(cfg)
	// The claim the engine makes as it starts may find the first event;
	// every later one can only be found through Notify.
	for range 3 {
		ev := h.publish(wh.ID)
		start := time.Now()
		e.Notify()
		select {
		case req := <-rc.arrived:
			if req.header.Get("webhook-id") != ev.ID {
				t.Fatalf("got %s, want %s", req.header.Get("webhook-id"), ev.ID)
			}
			t.Logf("event to first attempt after Notify: %v", time.Since(start))
		case <-time.After(waitLimit):
			t.Fatal("Notify did not wake the engine")
		}
	}
}

// claimsSeen is a Queue that signals each claim made through it.
type claimsSeen struct {
	delivery.Queue
	claimed chan struct{}
}

func (q claimsSeen) ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]*webhookd.Claim, error) {
	cs, err := q.Queue.ClaimDeliveries(ctx, limit, lease)
	select {
	case q.claimed <- struct{}{}:
	default:
	}
	return cs, err
}

// TestPolled: a delivery nothing woke the engine for is found by the poll,
// and counted as such; one it was woken for is not.
func TestPolled(t *testing.T) {
	t.Parallel()
	run := func(t *testing.T, poll time.Duration, notify bool) float64 {
		h := setup(t, nil)
		rc := newReceiver(t, ok)
		wh, _ := h.webhook(rc.URL)
		reg := prometheus.NewRegistry()
		q := claimsSeen{Queue: h.store, claimed: make(chan struct{}, 1)}
		cfg := h.config()
		cfg.Store = q // no hand-off: every delivery is claimed
		cfg.Registerer = reg
		cfg.PollInterval = poll
		e, _ := h.start(cfg)
		<-q.claimed // the claim the engine makes as it starts, which found nothing
		ev := h.publish(wh.ID)
		if notify {
			e.Notify()
		}
		h.waitDone(ev.ID)
		return gather(t, reg)["webhookd_deliveries_polled_total"]
	}
	t.Run("woken", func(t *testing.T) {
		t.Parallel()
		if got := run(t, time.Hour, true); got != 0 {
			t.Errorf("polled = %v after a wake-up, want 0", got)
		}
	})
	t.Run("polled", func(t *testing.T) {
		t.Parallel()
		if got := run(t, 20*time.Millisecond, false); got != 1 {
			t.Errorf("polled = %v, want 1: only the poll could find it", got)
		}
	})
}

// TestAutoDisable: a webhook failing continuously for DisableAfter is
// disabled, and its pending retries then fail without an attempt.
func TestAutoDisable(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	h := setup(t, clock)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	wh, _ := h.webhook(rc.URL)
	ev := h.publish(wh.ID)
	cfg := h.config()
	cfg.DisableAfter = time.Hour
	cfg.Policy = delivery.RetryPolicy{Schedule: []time.Duration{time.Minute}, Window: 48 * time.Hour}
	cfg.Breaker.FailureThreshold = 1000
	e, _ := h.start(cfg)

	attempted := func(n int) func() bool {
		return func() bool { return h.delivery(ev.ID).AttemptCount >= n }
	}
	h.waitFor("first attempt", attempted(1))
	w, _ := h.store.GetWebhook(t.Context(), h.project.ID, wh.ID)
	if w.State != webhookd.WebhookEnabled || w.FailingSince == nil || !w.FailingSince.Equal(clock.Now()) {
		t.Fatalf("after one failure: state %s, failing since %v; want enabled, failing since now", w.State, w.FailingSince)
	}

	clock.Advance(30 * time.Minute) // retry due; the run is 30m long: still enabled
	e.Notify()
	h.waitFor("second attempt", attempted(2))
	if w, _ := h.store.GetWebhook(t.Context(), h.project.ID, wh.ID); w.State != webhookd.WebhookEnabled {
		t.Fatalf("disabled after a 30m failing run, DisableAfter is 1h")
	}

	clock.Advance(31 * time.Minute) // the run reaches 61m at the third failure
	e.Notify()
	h.waitFor("third attempt", attempted(3))
	w, _ = h.store.GetWebhook(t.Context(), h.project.ID, wh.ID)
	if w.State != webhookd.WebhookDisabledDueToFailedDeliveries {
		t.Fatalf("state = %s after a 61m failing run, want %s", w.State, webhookd.WebhookDisabledDueToFailedDeliveries)
	}

	clock.Advance(2 * time.Minute) // the pending retry comes due on a disabled webhook
	e.Notify()
	d := h.waitDone(ev.ID)
	if d.State != webhookd.DeliveryFailed || d.AttemptCount != 3 || !strings.Contains(d.LastError, "disabled after failing continuously") {
		t.Errorf("delivery = %s after %d attempts, error %q; want failed without a 4th attempt", d.State, d.AttemptCount, d.LastError)
	}
	if n := len(rc.seen()); n != 3 {
		t.Errorf("receiver saw %d requests, want 3", n)
	}
}

// TestLeaseExpiry: an engine stopped with an attempt in flight records
// nothing for it; the delivery stays leased and another engine delivers it
// once the lease ends, with the same webhook-id (at-least-once).
func TestLeaseExpiry(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	h := setup(t, clock)
	release := make(chan struct{})
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			select { // the first engine's attempt hangs until it is abandoned
			case <-r.Context().Done():
			case <-release:
			}
		}
	})
	t.Cleanup(func() { close(release) })
	wh, _ := h.webhook(rc.URL)
	ev := h.publish(wh.ID)

	cfg := h.config()
	cfg.Timeout = 5 * time.Second
	cfg.Lease = 15 * time.Second
	cfg.ShutdownGrace = 10 * time.Millisecond
	_, stop1 := h.start(cfg)
	first := <-rc.arrived
	stop1() // killed mid-flight: the attempt is abandoned after the grace

	d := h.delivery(ev.ID)
	if d.State != webhookd.DeliveryPending || d.AttemptCount != 0 {
		t.Fatalf("after the abandoned attempt: %s, %d attempts; want pending, 0", d.State, d.AttemptCount)
	}
	if st, err := h.store.QueueStats(t.Context()); err != nil || st.Pending != 1 || st.Due != 0 {
		t.Fatalf("queue = %+v, %v; want 1 pending, still leased (not due)", st, err)
	}

	cfg2 := h.config()
	cfg2.Transport = delivery.NewTransport(nil)
	e2, _ := h.start(cfg2)
	clock.Advance(cfg.Lease + time.Second)
	e2.Notify()
	d = h.waitDone(ev.ID)
	if d.State != webhookd.DeliverySucceeded || d.AttemptCount != 1 {
		t.Fatalf("delivery = %s after %d attempts, want succeeded after 1", d.State, d.AttemptCount)
	}
	second := <-rc.arrived
	if first.header.Get("webhook-id") != ev.ID || second.header.Get("webhook-id") != ev.ID {
		t.Errorf("webhook-ids %q, %q; want %q both times", first.header.Get("webhook-id"), second.header.Get("webhook-id"), ev.ID)
	}
}

// TestGracefulShutdown: attempts in flight when Run's context ends finish
// and are recorded.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	release := make(chan struct{})
	rc := newReceiver(t, func(int, http.ResponseWriter, *http.Request) { <-release })
	wh, _ := h.webhook(rc.URL)
	ev := h.publish(wh.ID)
	cfg := h.config()
	cfg.ShutdownGrace = waitLimit
	_, stop := h.start(cfg)
	<-rc.arrived
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	close(release) // the receiver answers while Run is shutting down
	<-stopped
	if d := h.delivery(ev.ID); d.State != webhookd.DeliverySucceeded {
		t.Fatalf("delivery = %s after shutdown, want succeeded (in-flight attempt finished and recorded)", d.State)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	good := newReceiver(t, ok)
	bad := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) })
	whGood, _ := h.webhook(good.URL)
	whBad, _ := h.webhook(bad.URL)
	evGood, evBad := h.publish(whGood.ID), h.publish(whBad.ID)
	reg := prometheus.NewRegistry()
	cfg := h.config()
	cfg.Registerer = reg
	cfg.StatsInterval = 10 * time.Millisecond
	cfg.Policy = delivery.RetryPolicy{Schedule: []time.Duration{time.Hour}, Window: 2 * time.Hour}
	h.start(cfg)
	h.waitDone(evGood.ID)
	h.waitFor("the failed attempt", func() bool { return h.delivery(evBad.ID).AttemptCount == 1 })

	// The queue gauges are refreshed every StatsInterval, not on a signal:
	// poll the registry until they show the settled queue (nothing due).
	var values map[string]float64
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(cfg.StatsInterval) {
		values = gather(t, reg)
		if values["webhookd_queue_due"] == 0 && values["webhookd_queue_oldest_due_age_seconds"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue gauges never settled: %v", values)
		}
	}
	for name, want := range map[string]float64{
		"webhookd_deliveries_total{succeeded}":       1,
		"webhookd_deliveries_total{retry}":           1,
		"webhookd_deliveries_total{failed}":          0,
		"webhookd_delivery_attempt_duration_seconds": 2,
		"webhookd_circuits_open":                     0, // a 404 is an answer, not an outage
		"webhookd_delivery_attempts_in_flight":       0,
		"webhookd_queue_oldest_due_age_seconds":      0,
	} {
		if got, ok := values[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if _, ok := values["webhookd_queue_due"]; !ok {
		t.Error("webhookd_queue_due is not exported")
	}
	if _, err := delivery.New(cfg); err == nil || !strings.Contains(err.Error(), "register metrics") {
		t.Errorf("second engine on the same registry: %v, want a registration error", err)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	tests := []struct {
		name string
		cfg  delivery.Config
		want string
	}{
		{"no store", delivery.Config{}, "Config.Store is required"},
		{"short lease", delivery.Config{Store: h.store, Timeout: 10 * time.Second, Lease: 20 * time.Second}, "lease 20s is shorter than 3× the attempt timeout 10s"},
		{"bad policy", delivery.Config{Store: h.store, Policy: delivery.RetryPolicy{Schedule: []time.Duration{-time.Second}}}, "step 1 is -1s"},
	}
	for _, tt := range tests {
		if _, err := delivery.New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	e, err := delivery.New(delivery.Config{Store: h.store})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	// A second Run is refused whether or not the first has started yet.
	second := make(chan error)
	go func() { second <- e.Run(ctx) }()
	var errs []error
	select {
	case err := <-second:
		errs = append(errs, err)
	case err := <-done:
		errs = append(errs, err)
	}
	cancel()
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "already running") {
		t.Errorf("second Run = %v, want 'already running'", errs[0])
	}
	select {
	case <-done:
	case <-second:
	}
}

// gather returns every sample of reg as name{label values} → value (the
// sample count for histograms).
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetValue() + "}"
			}
			switch {
			case m.Counter != nil:
				values[name] = m.Counter.GetValue()
			case m.Gauge != nil:
				values[name] = m.Gauge.GetValue()
			case m.Histogram != nil:
				values[name] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return values
}

// TestGuardedByDefault: without a Transport the engine dials through a
// netguard that refuses non-public addresses, so a loopback receiver is
// never reached and each attempt says why; the refusal of a host name is
// retried (its DNS may change). TestGuardRefusesALiteralOnce has the IP
// literal.
func TestGuardedByDefault(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	rc := newReceiver(t, ok)
	wh, _ := h.webhook(strings.Replace(rc.URL, "127.0.0.1", "localhost", 1))
	ev := h.publish(wh.ID)
	cfg := h.config()
	cfg.Transport = nil
	cfg.Policy = delivery.RetryPolicy{Schedule: []time.Duration{10 * time.Millisecond}, Window: time.Hour}
	h.start(cfg)

	h.waitFor("two refused attempts", func() bool { return h.delivery(ev.ID).AttemptCount >= 2 })
	d := h.delivery(ev.ID)
	want := "destination localhost is not allowed or does not resolve"
	if d.State != webhookd.DeliveryPending || d.LastError != want || d.LastStatusCode != 0 {
		t.Errorf("delivery = %s, status %d, error %q; want pending (retrying) with %q", d.State, d.LastStatusCode, d.LastError, want)
	}
	if n := len(rc.seen()); n != 0 {
		t.Errorf("the loopback receiver saw %d requests through the default transport", n)
	}
}

// TestQueuedClaimNeedsItsLease: a claim that waited in its destination's
// queue is sent only if its lease still covers a whole attempt; otherwise it
// is put back (and sent later under a new lease), never sent under a lease
// that could end mid-attempt and let another engine send it too.
func TestQueuedClaimNeedsItsLease(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			<-r.Context().Done() // the first attempt times out
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	wh, _ := h.webhook(rc.URL)
	first, second := h.publish(wh.ID), h.publish(wh.ID)
	reg := prometheus.NewRegistry()
	cfg := h.config()
	cfg.Registerer = reg
	cfg.PerDestinationLimit = 1
	cfg.Timeout = 500 * time.Millisecond
	// Less than a queued claim must have left (Timeout + flush + 1s of
	// margin), so the queued second claim is put back instead of sent.
	cfg.Lease = 1500 * time.Millisecond
	h.start(cfg)

	for _, ev := range []*webhookd.Event{first, second} {
		if d := h.waitDone(ev.ID); d.State != webhookd.DeliverySucceeded {
			t.Fatalf("delivery of %s = %s", ev.ID, d.State)
		}
	}
	if got := gather(t, reg)["webhookd_deliveries_total{deferred}"]; got < 1 {
		t.Errorf("deferred = %v, want the queued claim put back at least once", got)
	}
	if n := len(rc.seen()); n < 3 {
		t.Errorf("receiver saw %d requests, want at least 3 (a timeout, then one each)", n)
	}
}

// TestBacklogToOneDestinationIsNotDeferred: a backlog many claim batches
// long for one destination that answers at once is sent without deferrals
// — the queue of a fast destination takes batch after batch, and the engine
// waits for an attempt to end, and for room, instead of claiming deliveries
// only to write them back (as it did before, at a third of the rate).
func TestBacklogToOneDestinationIsNotDeferred(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	rc := newReceiver(t, ok)
	wh, _ := h.webhook(rc.URL)
	const n = 1200
	for range n {
		h.publish(wh.ID)
	}
	reg := prometheus.NewRegistry()
	cfg := h.config()
	cfg.Logger = nil
	cfg.Registerer = reg
	cfg.BatchSize = 50
	h.start(cfg)
	h.waitFor("the backlog", func() bool {
		st, err := h.store.QueueStats(t.Context())
		return err == nil && st.Pending == 0
	})
	m := gather(t, reg)
	if got := m["webhookd_deliveries_total{succeeded}"]; got != n {
		t.Errorf("succeeded = %v, want %d", got, n)
	}
	// A claim for a destination whose slots are full waits in memory for
	// its next free slot: none is deferred, however busy the machine.
	// (Before, a destination whose attempts seemed to stall for 10ms had
	// its claims written back: up to a fifth of this backlog on a loaded
	// machine, and more than half of it before the queue followed the pace.)
	if got := m["webhookd_deliveries_total{deferred}"]; got != 0 {
		t.Errorf("deferred = %v, want 0: claims were written back instead of waiting for a slot", got)
	}
	// That the engine then waits for room for a whole batch, rather than
	// claiming whenever a quarter batch of room frees up, is the pacing's
	// rule, checked by TestPacing: here the sizes of the claims follow how
	// fast the machine drains the queue, which a busy machine changes.
}

// TestHandOff: once the engine runs, a publish hands it the new delivery,
// which it sends without a claim — with no poll or Notify to make one.
func TestHandOff(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	rc := newReceiver(t, ok)
	wh, _ := h.webhook(rc.URL)
	reg := prometheus.NewRegistry()
	cfg := h.config()
	cfg.PollInterval = time.Hour
	cfg.Registerer = reg
	// The first event is claimed as the engine starts; once it arrives,
	// Run has registered for the hand-off.
	first := h.publish(wh.ID)
	h.start(cfg)
	<-rc.arrived
	h.waitDone(first.ID)
	for range 3 {
		ev := h.publish(wh.ID)
		select {
		case req := <-rc.arrived:
			if req.header.Get("webhook-id") != ev.ID {
				t.Fatalf("got %s, want %s", req.header.Get("webhook-id"), ev.ID)
			}
		case <-time.After(waitLimit):
			t.Fatal("a published event was not handed over")
		}
		if d := h.waitDone(ev.ID); d.State != webhookd.DeliverySucceeded || d.AttemptCount != 1 {
			t.Fatalf("handed-over delivery: %s after %d attempts, want succeeded after 1", d.State, d.AttemptCount)
		}
	}
	if got := gather(t, reg)["webhookd_delivery_handoffs_total"]; got != 3 {
		t.Errorf("webhookd_delivery_handoffs_total = %v, want 3", got)
	}
}

// TestHandOffAtShutdown: deliveries handed over while every worker is busy
// are put back, due at once and unleased, when the engine stops, so that the
// next engine sends them without waiting for their lease.
func TestHandOffAtShutdown(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	release := make(chan struct{})
	slow := newReceiver(t, func(int, http.ResponseWriter, *http.Request) { <-release })
	t.Cleanup(func() { close(release) })
	fast := newReceiver(t, ok)
	whSlow, _ := h.webhook(slow.URL)
	whFast, _ := h.webhook(fast.URL)
	cfg := h.config()
	cfg.Workers = 1
	cfg.PollInterval = time.Hour
	cfg.ShutdownGrace = 50 * time.Millisecond
	h.publish(whSlow.ID) // claimed at start; it takes the only worker
	_, stop := h.start(cfg)
	<-slow.arrived

	var waiting []*webhookd.Event
	for range 3 {
		waiting = append(waiting, h.publish(whFast.ID))
	}
	for _, ev := range waiting {
		if d := h.delivery(ev.ID); d.LeaseToken == "" {
			t.Fatalf("%s was not handed over (no lease) while the engine ran", d.ID)
		}
	}
	stop()
	now := time.Now()
	for _, ev := range waiting {
		d := h.delivery(ev.ID)
		if d.State != webhookd.DeliveryPending || d.LeaseToken != "" || d.NextAttemptTime.After(now) || d.AttemptCount != 0 {
			t.Errorf("after shutdown: %s is %s, lease %q, due %v, %d attempts; want pending, unleased, due by %v, no attempt",
				d.ID, d.State, d.LeaseToken, d.NextAttemptTime, d.AttemptCount, now)
		}
	}
	if n := len(fast.seen()); n != 0 {
		t.Fatalf("the fast receiver got %d requests; the only worker was busy", n)
	}
}

// TestConcurrencyLimitAdapts: a destination that answers 503 has its
// in-flight limit halved, which the engine reports (ConcurrencyLimit, the
// destination's health) and exports per destination.
func TestConcurrencyLimitAdapts(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	down := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	wh, _ := h.webhook(down.URL)
	ev := h.publish(wh.ID)
	reg := prometheus.NewRegistry()
	cfg := h.config()
	cfg.Registerer = reg
	cfg.Policy = delivery.RetryPolicy{Schedule: []time.Duration{time.Hour}, Window: 2 * time.Hour}
	e, _ := h.start(cfg)
	key := webhookd.DestinationOf(down.URL)
	if got := e.ConcurrencyLimit(key); got != 16 {
		t.Fatalf("limit before any attempt = %d, want 16", got)
	}
	h.waitFor("the failed attempt", func() bool { return h.delivery(ev.ID).AttemptCount == 1 })
	h.waitFor("the limit to be cut", func() bool { return e.ConcurrencyLimit(key) == 8 })
	if got := gather(t, reg)["webhookd_destination_concurrency_limit{"+key+"}"]; got != 8 {
		t.Errorf("webhookd_destination_concurrency_limit{%s} = %v, want 8", key, got)
	}
}

// watcher registers a webhook to uri subscribed to the operational events.
func (h *harness) watcher(uri string) *webhookd.Webhook {
	h.t.Helper()
	w, _ := h.webhook(uri)
	w.SubscribedEvents = webhookd.OperationalEventTypes
	if err := h.store.UpdateWebhook(h.t.Context(), w); err != nil {
		h.t.Fatal(err)
	}
	return w
}

// envelopeOf decodes a delivered body.
func envelopeOf(t *testing.T, body []byte) (typ string, data map[string]any) {
	t.Helper()
	var env struct {
		Type string
		Data map[string]any
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return env.Type, env.Data
}

// TestGoneDisables: a receiver answering 410 Gone is not retried; its
// webhook is disabled at once, and webhook.disabled reaches another
// webhook of the project, not the disabled one.
func TestGoneDisables(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	gone := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) })
	watch := newReceiver(t, ok)
	wh, _ := h.webhook(gone.URL)
	wh.SubscribedEvents = append(wh.SubscribedEvents, webhookd.OperationalEventTypes...)
	if err := h.store.UpdateWebhook(t.Context(), wh); err != nil {
		t.Fatal(err)
	}
	h.watcher(watch.URL)
	ev := h.publish(wh.ID)
	h.start(h.config())

	d := h.waitDone(ev.ID)
	if d.State != webhookd.DeliveryFailed || d.AttemptCount != 1 || d.LastStatusCode != http.StatusGone {
		t.Fatalf("delivery = %+v, want failed after one attempt answered 410", d)
	}
	var req request
	select {
	case req = <-watch.arrived:
	case <-time.After(waitLimit):
		t.Fatal("webhook.disabled never reached the other webhook")
	}
	typ, data := envelopeOf(t, req.body)
	if typ != webhookd.EventWebhookDisabled || data["webhook_id"] != wh.ID || data["reason"] != webhookd.DisabledGone || data["delivery_id"] != d.ID {
		t.Errorf("the other webhook got %s %v", typ, data)
	}
	got, err := h.store.GetWebhook(t.Context(), h.project.ID, wh.ID)
	if err != nil || got.State != webhookd.WebhookDisabled {
		t.Fatalf("webhook after 410: %+v, %v; want disabled", got, err)
	}
	if n := len(gone.seen()); n != 1 {
		t.Errorf("the gone receiver got %d requests, want 1 (no retries, not its own webhook.disabled)", n)
	}
}

// TestExhaustedIsTold: a delivery whose retries run out publishes
// delivery.exhausted, delivered to the project's subscribers.
func TestExhaustedIsTold(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	failing := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	watch := newReceiver(t, ok)
	wh, _ := h.webhook(failing.URL)
	h.watcher(watch.URL)
	ev := h.publish(wh.ID)
	cfg := h.config()
	cfg.Policy = delivery.RetryPolicy{Schedule: []time.Duration{10 * time.Millisecond}, Window: 100 * time.Millisecond}
	cfg.Breaker.FailureThreshold = 1000
	h.start(cfg)

	d := h.waitDone(ev.ID)
	if d.State != webhookd.DeliveryFailed {
		t.Fatalf("delivery = %+v, want failed", d)
	}
	var req request
	select {
	case req = <-watch.arrived:
	case <-time.After(waitLimit):
		t.Fatal("delivery.exhausted never reached the watcher")
	}
	typ, data := envelopeOf(t, req.body)
	if typ != webhookd.EventDeliveryExhausted || data["delivery_id"] != d.ID || data["event_id"] != ev.ID ||
		data["webhook_id"] != wh.ID || !strings.Contains(data["last_error"].(string), "503") {
		t.Errorf("the watcher got %s %v", typ, data)
	}
}
