package storetest

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

func (s suite) signingKeys(t *testing.T) {
	s.test(t, "CreateListUpdateDelete", func(t *testing.T, b *bundle) {
		keys, err := b.store.ListSigningKeys(b.ctx)
		must(t, err)
		if len(keys) != 0 {
			t.Fatalf("ListSigningKeys of an empty store = %d keys", len(keys))
		}

		var created []*webhookd.SigningKey
		for range 3 {
			k := &webhookd.SigningKey{
				ID:               webhookd.NewID("kid_"),
				Algorithm:        "RS256",
				SealedPrivateKey: randomBytes(1200),
				CreateTime:       b.clock.Now(),
			}
			must(t, b.store.CreateSigningKey(b.ctx, k))
			created = append(created, k)
			b.clock.Advance(time.Hour)
		}
		newestFirst := []*webhookd.SigningKey{created[2], created[1], created[0]}
		keys, err = b.store.ListSigningKeys(b.ctx)
		must(t, err)
		if d := diff(newestFirst, keys); d != "" {
			t.Fatalf("ListSigningKeys (-want +got):\n%s", d)
		}

		// Update writes only the retire and expire times.
		u := *created[0]
		u.RetireTime = timePtr(b.clock.Now())
		u.ExpireTime = timePtr(b.clock.Now().Add(2 * time.Hour))
		u.Algorithm = "HS256"
		u.SealedPrivateKey = []byte("replaced")
		must(t, b.store.UpdateSigningKey(b.ctx, &u))
		created[0].RetireTime, created[0].ExpireTime = u.RetireTime, u.ExpireTime
		keys, err = b.store.ListSigningKeys(b.ctx)
		must(t, err)
		if d := diff(newestFirst, keys); d != "" {
			t.Fatalf("ListSigningKeys after update (-want +got):\n%s", d)
		}

		must(t, b.store.DeleteSigningKey(b.ctx, created[1].ID))
		keys, err = b.store.ListSigningKeys(b.ctx)
		must(t, err)
		if d := diff([]*webhookd.SigningKey{created[2], created[0]}, keys); d != "" {
			t.Fatalf("ListSigningKeys after delete (-want +got):\n%s", d)
		}

		missing := &webhookd.SigningKey{ID: created[1].ID, RetireTime: timePtr(b.clock.Now())}
		requireCode(t, b.store.UpdateSigningKey(b.ctx, missing), webhookd.ENOTFOUND)
		requireCode(t, b.store.DeleteSigningKey(b.ctx, created[1].ID), webhookd.ENOTFOUND)
	})

	s.test(t, "DuplicateIDConflicts", func(t *testing.T, b *bundle) {
		k := &webhookd.SigningKey{ID: "kid_1", Algorithm: "RS256", SealedPrivateKey: []byte("a"), CreateTime: b.clock.Now()}
		must(t, b.store.CreateSigningKey(b.ctx, k))
		requireCode(t, b.store.CreateSigningKey(b.ctx, k), webhookd.ECONFLICT)
	})
}
