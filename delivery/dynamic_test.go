package delivery_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/webhookd/webhookd"
	rkit "github.com/webhookd/webhookd/receiver"
	"github.com/webhookd/webhookd/signing"
)

// TestDynamicDeliveryVerifies is the dynamic golden check: a webhook_config
// delivery signed by the real key ring verifies with the receiver kit against
// the ring's JWKS, for the destination URI as audience, and only for it.
func TestDynamicDeliveryVerifies(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	ring, err := signing.NewKeyRing(t.Context(), signing.KeyRingConfig{Store: h.store, Sealer: h.sealer, Logger: h.log})
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(ring.JWKS())
	}))
	t.Cleanup(jwks.Close)
	rc := newReceiver(t, ok)
	uri := rc.URL + "/dynamic"
	ev, _, err := h.store.PublishEvent(t.Context(), webhookd.NewEvent{
		ProjectID: h.project.ID, Type: webhookd.EventInteractionCompleted, Source: "api",
		Data:          []byte(`{"id":"interactions/abc"}`),
		WebhookConfig: &webhookd.WebhookConfig{URIs: []string{uri}},
	})
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "https://webhookd.test"
	cfg := h.config()
	cfg.JWTSigner, cfg.Issuer = ring, issuer
	h.start(cfg)

	if d := h.waitDone(ev.ID); d.State != webhookd.DeliverySucceeded {
		t.Fatalf("delivery = %+v", d)
	}
	req := <-rc.arrived
	verify := func(audience string) (*rkit.Event, error) {
		client := &http.Client{Transport: &http.Transport{}}
		defer client.CloseIdleConnections()
		v, err := rkit.NewVerifier(rkit.Config{JWKSURL: jwks.URL, Audience: audience, Issuer: issuer, HTTPClient: client})
		if err != nil {
			t.Fatal(err)
		}
		return v.Verify(t.Context(), req.header, req.body)
	}
	got, err := verify(uri)
	if err != nil {
		t.Fatalf("receiver kit rejects the delivery: %v", err)
	}
	if got.Kind != rkit.KindJWT || got.ID != ev.ID || got.Type != ev.Type {
		t.Errorf("verified event = kind %s, id %s, type %s; want jwt, %s, %s", got.Kind, got.ID, got.Type, ev.ID, ev.Type)
	}
	if _, err := verify("https://someone-else.test/hook"); err == nil {
		t.Error("the token verifies for another audience")
	}
}
