package handoff_test

import (
	"errors"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/handoff"
)

// target admits by URI: "take" is taken, "later" put off, the rest left.
type target struct {
	later  time.Time
	claims []*webhookd.Claim
	taken  int
	takes  int
}

func (g *target) Admit(uri string) (bool, time.Time) {
	switch uri {
	case "take":
		return true, time.Time{}
	case "later":
		return false, g.later
	}
	return false, time.Time{}
}

func (g *target) Lease() time.Duration { return time.Minute }

func (g *target) Take(claims []*webhookd.Claim, taken int) {
	g.claims, g.taken, g.takes = claims, taken, g.takes+1
}

func TestTx(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	g := &target{later: now.Add(time.Hour)}
	var p handoff.Point
	if p.Begin(now) != nil {
		t.Fatal("Begin without a Target: want a nil Tx")
	}
	remove := p.HandOffTo(g)

	w := &webhookd.Webhook{ID: "w1", State: webhookd.WebhookEnabled, Secrets: []webhookd.SigningSecret{{ID: "s1"}}}
	ev := &webhookd.Event{ID: "msg_1", ProjectID: "p", Type: "batch.succeeded", Payload: []byte(`{}`), CreateTime: now}
	admit := func(tx *handoff.Tx, dest webhookd.Destination) *webhookd.Delivery {
		d := ev.NewDelivery(dest)
		tx.Admit(ev, dest, &d)
		return &d
	}

	tx := p.Begin(now)
	taken := admit(tx, webhookd.Destination{Webhook: w, URI: "take"})
	later := admit(tx, webhookd.Destination{URI: "later"})
	if tx.Claimable() {
		t.Error("Claimable after a take and a put-off, want false")
	}
	left := admit(tx, webhookd.Destination{URI: "left"})
	dynamic := admit(tx, webhookd.Destination{URI: "take"})

	if taken.LeaseToken == "" || taken.LeaseToken != dynamic.LeaseToken || !taken.NextAttemptTime.Equal(now.Add(time.Minute)) {
		t.Errorf("taken deliveries: tokens %q and %q due %v; want one shared token, due at the lease's end", taken.LeaseToken, dynamic.LeaseToken, taken.NextAttemptTime)
	}
	if later.LeaseToken != "" || !later.NextAttemptTime.Equal(g.later) {
		t.Errorf("put off: token %q due %v, want none due %v", later.LeaseToken, later.NextAttemptTime, g.later)
	}
	if left.LeaseToken != "" || !left.NextAttemptTime.Equal(now) || !tx.Claimable() {
		t.Errorf("left: token %q due %v, Claimable %v; want none due at once, Claimable", left.LeaseToken, left.NextAttemptTime, tx.Claimable())
	}
	if !tx.Taken() || len(tx.Claims) != 2 {
		t.Fatalf("Taken %v with %d claims, want 2", tx.Taken(), len(tx.Claims))
	}
	c := tx.Claims[0]
	if *c.Delivery != *taken || c.EventType != ev.Type || string(c.Payload) != "{}" || c.WebhookState != w.State || len(c.Secrets) != 1 {
		t.Errorf("static claim = %+v, want the delivery with the event's type and payload and the webhook's state and secrets", c)
	}
	if c := tx.Claims[1]; c.WebhookState != "" || c.Secrets != nil {
		t.Errorf("dynamic claim has webhook state %q and secrets %v", c.WebhookState, c.Secrets)
	}

	lookups := 0
	if err := tx.SetAudiences(func(p string) (string, error) { lookups++; return "aud-" + p, nil }); err != nil {
		t.Fatal(err)
	}
	if lookups != 1 || tx.Claims[0].Audience != "aud-p" || tx.Claims[1].Audience != "aud-p" {
		t.Errorf("SetAudiences: %d lookups, audiences %q %q; want one lookup for the one project", lookups, tx.Claims[0].Audience, tx.Claims[1].Audience)
	}
	boom := errors.New("boom")
	if err := tx.SetAudiences(func(string) (string, error) { return "", boom }); !errors.Is(err, boom) {
		t.Errorf("SetAudiences with a failing lookup = %v, want %v", err, boom)
	}

	tx.Settle(true)
	if g.takes != 1 || g.taken != 2 || len(g.claims) != 2 {
		t.Errorf("after a commit: Take called %d times with %d claims, taken %d; want once, 2, 2", g.takes, len(g.claims), g.taken)
	}

	failed := p.Begin(now)
	admit(failed, webhookd.Destination{URI: "take"})
	failed.Settle(false)
	if g.takes != 2 || g.taken != 1 || g.claims != nil {
		t.Errorf("after a rollback: Take(%v, %d), want no claims and the take settled", g.claims, g.taken)
	}

	none := p.Begin(now)
	admit(none, webhookd.Destination{URI: "left"})
	none.Settle(true)
	if g.takes != 2 {
		t.Error("Take called for a transaction that took nothing")
	}

	remove()
	if p.Begin(now) != nil {
		t.Error("Begin after remove: want a nil Tx")
	}
	var nilTx *handoff.Tx
	d := admit(nilTx, webhookd.Destination{URI: "take"})
	if d.LeaseToken != "" || !d.NextAttemptTime.Equal(now) || nilTx.Taken() || nilTx.Claimable() {
		t.Errorf("a nil Tx changed the delivery: %+v", d)
	}
	nilTx.Settle(true)
}
