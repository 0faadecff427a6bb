package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

func (s suite) webhooks(t *testing.T) {
	s.test(t, "CreateGet", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded, webhookd.EventVideoGenerated)
		if d := diff(w, b.webhook(t, w)); d != "" {
			t.Errorf("GetWebhook (-want +got):\n%s", d)
		}
	})

	s.test(t, "CreateAssignsIDsAndTimes", func(t *testing.T, b *bundle) {
		w := &webhookd.Webhook{
			ProjectID:        b.project.ID,
			URI:              "https://example.com/h",
			SubscribedEvents: []string{webhookd.EventBatchFailed},
			State:            webhookd.WebhookEnabled,
			Secrets:          []webhookd.SigningSecret{{Sealed: []byte("sealed"), Truncated: "whsec_ab..."}},
		}
		must(t, b.store.CreateWebhook(b.ctx, w))
		now := b.clock.Now()
		if !strings.HasPrefix(w.ID, webhookd.PrefixWebhook) || !w.CreateTime.Equal(now) || !w.UpdateTime.Equal(now) {
			t.Fatalf("CreateWebhook assigned ID %q, CreateTime %v, UpdateTime %v", w.ID, w.CreateTime, w.UpdateTime)
		}
		sec := w.Secrets[0]
		if !strings.HasPrefix(sec.ID, webhookd.PrefixSecret) || sec.WebhookID != w.ID || !sec.CreateTime.Equal(now) {
			t.Fatalf("CreateWebhook assigned secret %+v", sec)
		}
		if d := diff(w, b.webhook(t, w)); d != "" {
			t.Errorf("GetWebhook (-want +got):\n%s", d)
		}
	})

	s.test(t, "HeadersReachClaims", func(t *testing.T, b *bundle) {
		w := &webhookd.Webhook{
			ProjectID:        b.project.ID,
			URI:              "https://example.com/h",
			SubscribedEvents: []string{webhookd.EventBatchSucceeded},
			Headers:          map[string]string{"X-Api-Key": "abc", "x-tenant": "t-1"},
			Secrets:          []webhookd.SigningSecret{b.newSecret("")},
		}
		must(t, b.store.CreateWebhook(b.ctx, w))
		if d := diff(w, b.webhook(t, w)); d != "" {
			t.Errorf("GetWebhook (-want +got):\n%s", d)
		}
		list, err := b.store.ListWebhooks(b.ctx, b.project.ID, webhookd.Page{Size: 10})
		must(t, err)
		if len(list) != 1 || diff(w.Headers, list[0].Headers) != "" {
			t.Errorf("ListWebhooks headers = %v, want %v", list, w.Headers)
		}
		plain := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		b.publish(t, webhookd.NewEvent{Type: webhookd.EventBatchSucceeded})
		cs := b.claim(t, 10, time.Minute)
		if len(cs) != 2 {
			t.Fatalf("claimed %d deliveries, want 2", len(cs))
		}
		for _, c := range cs {
			want := map[string]string(nil)
			if c.Delivery.WebhookID == w.ID {
				want = w.Headers
			} else if c.Delivery.WebhookID != plain.ID {
				t.Fatalf("claimed a delivery of webhook %q", c.Delivery.WebhookID)
			}
			if d := diff(want, c.Headers); d != "" {
				t.Errorf("claim of webhook %s: headers (-want +got):\n%s", c.Delivery.WebhookID, d)
			}
		}
	})

	s.test(t, "ProjectScoped", func(t *testing.T, b *bundle) {
		other := b.newProject(t, "other")
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)

		_, err := b.store.GetWebhook(b.ctx, other.ID, w.ID)
		requireCode(t, err, webhookd.ENOTFOUND)
		_, err = b.store.GetWebhook(b.ctx, b.project.ID, webhookd.NewID(webhookd.PrefixWebhook))
		requireCode(t, err, webhookd.ENOTFOUND)

		foreign := *w
		foreign.ProjectID = other.ID
		foreign.Name = "hijacked"
		requireCode(t, b.store.UpdateWebhook(b.ctx, &foreign), webhookd.ENOTFOUND)
		requireCode(t, b.store.DeleteWebhook(b.ctx, other.ID, w.ID), webhookd.ENOTFOUND)
		err = b.store.RotateSecret(b.ctx, other.ID, w.ID, b.newSecret(w.ID), b.clock.Now())
		requireCode(t, err, webhookd.ENOTFOUND)

		list, err := b.store.ListWebhooks(b.ctx, other.ID, webhookd.Page{Size: 10})
		must(t, err)
		if len(list) != 0 {
			t.Errorf("ListWebhooks of another project = %d webhooks, want 0", len(list))
		}
		// Nothing the other project tried changed the webhook.
		if d := diff(w, b.webhook(t, w)); d != "" {
			t.Errorf("GetWebhook (-want +got):\n%s", d)
		}
	})

	s.test(t, "Update", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		b.clock.Advance(time.Hour)

		u := *w
		u.Name = "renamed"
		u.URI = "https://example.org/elsewhere"
		u.SubscribedEvents = []string{webhookd.EventBatchFailed, webhookd.EventInteractionCompleted}
		u.State = webhookd.WebhookDisabled
		u.Headers = map[string]string{"X-Api-Key": "k1", "authorization": "Bearer t"}
		u.Filter = `data.amount > 1000`
		u.UpdateTime = b.clock.Now()
		u.FailingSince = timePtr(epoch.Add(time.Minute))
		// Secrets and CreateTime are not written by UpdateWebhook.
		u.Secrets = nil
		u.CreateTime = b.clock.Now()
		must(t, b.store.UpdateWebhook(b.ctx, &u))

		want := u
		want.Secrets = w.Secrets
		want.CreateTime = w.CreateTime
		if d := diff(&want, b.webhook(t, w)); d != "" {
			t.Errorf("GetWebhook after update (-want +got):\n%s", d)
		}

		// FailingSince, headers and filter can be cleared again.
		want.FailingSince = nil
		want.Headers = nil
		want.Filter = ""
		want.State = webhookd.WebhookEnabled
		must(t, b.store.UpdateWebhook(b.ctx, &want))
		if d := diff(&want, b.webhook(t, w)); d != "" {
			t.Errorf("GetWebhook after second update (-want +got):\n%s", d)
		}
	})

	s.test(t, "ListPaged", func(t *testing.T, b *bundle) {
		other := b.newProject(t, "other")
		var want []*webhookd.Webhook
		for i := range 5 {
			if i != 2 { // webhooks 1 and 2 share a CreateTime: ID breaks the tie
				b.clock.Advance(time.Second)
			}
			want = append(want, b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded))
			b.newWebhook(t, other.ID, webhookd.EventBatchSucceeded)
		}
		if want[2].ID < want[1].ID {
			want[1], want[2] = want[2], want[1]
		}

		all, err := b.store.ListWebhooks(b.ctx, b.project.ID, webhookd.Page{Size: 100})
		must(t, err)
		if d := diff(want, all); d != "" {
			t.Fatalf("ListWebhooks (-want +got):\n%s", d)
		}

		tests := []struct {
			name  string
			after int // index of the last item of the previous page; -1 for none
			size  int
			want  []*webhookd.Webhook
		}{
			{"first page", -1, 2, want[:2]},
			{"size+1 tells more exist", -1, 3, want[:3]},
			{"after tied time", 1, 2, want[2:4]},
			{"last partial page", 3, 2, want[4:]},
			{"after the last", 4, 2, nil},
			{"size larger than rest", 0, 10, want[1:]},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				page := webhookd.Page{Size: tt.size}
				if tt.after >= 0 {
					page.After = webhookd.Cursor{Time: want[tt.after].CreateTime, ID: want[tt.after].ID}
				}
				got, err := b.store.ListWebhooks(b.ctx, b.project.ID, page)
				must(t, err)
				if d := diff(tt.want, got); d != "" {
					t.Errorf("ListWebhooks(%+v) (-want +got):\n%s", page, d)
				}
			})
		}
	})

	s.test(t, "RotateSecret", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		s1 := w.Secrets[0]

		// Rotation with grace: the old secret keeps signing for 24 h.
		b.clock.Advance(time.Hour)
		s2 := b.newSecret(w.ID)
		grace1 := b.clock.Now().Add(webhookd.RotationGrace)
		must(t, b.store.RotateSecret(b.ctx, b.project.ID, w.ID, s2, grace1))
		s1.ExpireTime = timePtr(grace1)
		rotated := b.webhook(t, w)
		if d := diff([]webhookd.SigningSecret{s2, s1}, rotated.Secrets); d != "" {
			t.Fatalf("secrets after first rotation (-want +got):\n%s", d)
		}
		if !rotated.UpdateTime.Equal(s2.CreateTime) {
			t.Fatalf("UpdateTime after a rotation = %v, want the new secret's CreateTime %v", rotated.UpdateTime, s2.CreateTime)
		}

		// A later rotation with a later expiry keeps s1's earlier one.
		b.clock.Advance(time.Hour)
		s3 := b.newSecret(w.ID)
		grace2 := b.clock.Now().Add(webhookd.RotationGrace)
		must(t, b.store.RotateSecret(b.ctx, b.project.ID, w.ID, s3, grace2))
		s2.ExpireTime = timePtr(grace2)
		if d := diff([]webhookd.SigningSecret{s3, s2, s1}, b.webhook(t, w).Secrets); d != "" {
			t.Fatalf("secrets after second rotation (-want +got):\n%s", d)
		}

		// Once s1's grace has passed it is no longer returned.
		b.clock.Set(grace1)
		if d := diff([]webhookd.SigningSecret{s3, s2}, b.webhook(t, w).Secrets); d != "" {
			t.Fatalf("secrets at s1's expiry (-want +got):\n%s", d)
		}
		list, err := b.store.ListWebhooks(b.ctx, b.project.ID, webhookd.Page{Size: 10})
		must(t, err)
		if len(list) != 1 {
			t.Fatalf("ListWebhooks = %d webhooks, want 1", len(list))
		}
		if d := diff([]webhookd.SigningSecret{s3, s2}, list[0].Secrets); d != "" {
			t.Fatalf("ListWebhooks secrets at s1's expiry (-want +got):\n%s", d)
		}

		// Immediate revocation: only the new secret is live.
		s4 := b.newSecret(w.ID)
		must(t, b.store.RotateSecret(b.ctx, b.project.ID, w.ID, s4, b.clock.Now()))
		if d := diff([]webhookd.SigningSecret{s4}, b.webhook(t, w).Secrets); d != "" {
			t.Fatalf("secrets after immediate rotation (-want +got):\n%s", d)
		}
	})

	s.test(t, "Delete", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		keep := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		must(t, b.store.DeleteWebhook(b.ctx, b.project.ID, w.ID))

		_, err := b.store.GetWebhook(b.ctx, b.project.ID, w.ID)
		requireCode(t, err, webhookd.ENOTFOUND)
		requireCode(t, b.store.DeleteWebhook(b.ctx, b.project.ID, w.ID), webhookd.ENOTFOUND)
		requireCode(t, b.store.UpdateWebhook(b.ctx, w), webhookd.ENOTFOUND)
		list, err := b.store.ListWebhooks(b.ctx, b.project.ID, webhookd.Page{Size: 10})
		must(t, err)
		if d := diff([]*webhookd.Webhook{keep}, list); d != "" {
			t.Errorf("ListWebhooks after delete (-want +got):\n%s", d)
		}
	})

	s.test(t, "DeleteFailsPendingDeliveriesKeepsHistory", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		done := b.publishTo(t, w)
		c := b.claimOne(t, done, time.Minute)
		b.record(t, webhookd.Result{DeliveryID: done.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeSucceeded, Attempt: b.attempt(200, "")})
		leased := b.publishTo(t, w)
		lc := b.claimOne(t, leased, time.Minute)
		queued := b.publishTo(t, w)

		b.clock.Advance(time.Second)
		must(t, b.store.DeleteWebhook(b.ctx, b.project.ID, w.ID))

		for _, d := range []*webhookd.Delivery{leased, queued} {
			got := b.delivery(t, d)
			if got.State != webhookd.DeliveryFailed || got.LastError != "webhook deleted" {
				t.Errorf("delivery %s after delete: state %q, last error %q; want failed, %q", d.ID, got.State, got.LastError, "webhook deleted")
			}
			if got.WebhookID != w.ID {
				t.Errorf("delivery %s after delete: WebhookID %q, want %q kept for history", d.ID, got.WebhookID, w.ID)
			}
		}
		if got := b.delivery(t, done); got.State != webhookd.DeliverySucceeded {
			t.Errorf("succeeded delivery after delete: state %q", got.State)
		}
		if n := len(b.attempts(t, done)); n != 1 {
			t.Errorf("attempts of the succeeded delivery after delete = %d, want 1", n)
		}

		// The claim held across the delete cannot revive the delivery.
		b.record(t, webhookd.Result{DeliveryID: leased.ID, LeaseToken: lc.Delivery.LeaseToken, Outcome: webhookd.OutcomeSucceeded, Attempt: b.attempt(200, "")})
		if got := b.delivery(t, leased); got.State != webhookd.DeliveryFailed {
			t.Errorf("leased delivery after late result: state %q, want failed", got.State)
		}
		b.clock.Advance(time.Hour)
		if cs := b.claim(t, 10, time.Minute); len(cs) != 0 {
			t.Errorf("claimed %v after delete, want none", claimIDs(cs))
		}
	})
}
