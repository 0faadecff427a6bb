package storetest

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

func (s suite) projects(t *testing.T) {
	s.test(t, "CreateGetFind", func(t *testing.T, b *bundle) {
		got, err := b.store.GetProject(b.ctx, b.project.ID)
		must(t, err)
		if d := diff(b.project, got); d != "" {
			t.Errorf("GetProject (-want +got):\n%s", d)
		}
		got, err = b.store.FindProjectByName(b.ctx, b.project.Name)
		must(t, err)
		if d := diff(b.project, got); d != "" {
			t.Errorf("FindProjectByName (-want +got):\n%s", d)
		}

		_, err = b.store.GetProject(b.ctx, webhookd.NewID(webhookd.PrefixProject))
		requireCode(t, err, webhookd.ENOTFOUND)
		_, err = b.store.FindProjectByName(b.ctx, "no such project")
		requireCode(t, err, webhookd.ENOTFOUND)
	})

	s.test(t, "CreateAssignsIDAndTime", func(t *testing.T, b *bundle) {
		p := &webhookd.Project{Name: "unnamed"}
		must(t, b.store.CreateProject(b.ctx, p))
		if !strings.HasPrefix(p.ID, webhookd.PrefixProject) || !p.CreateTime.Equal(b.clock.Now()) {
			t.Fatalf("CreateProject assigned ID %q, CreateTime %v; want %s… and %v", p.ID, p.CreateTime, webhookd.PrefixProject, b.clock.Now())
		}
		got, err := b.store.GetProject(b.ctx, p.ID)
		must(t, err)
		if d := diff(p, got); d != "" {
			t.Errorf("GetProject (-want +got):\n%s", d)
		}
	})

	s.test(t, "DuplicateNameConflicts", func(t *testing.T, b *bundle) {
		err := b.store.CreateProject(b.ctx, &webhookd.Project{
			ID: webhookd.NewID(webhookd.PrefixProject), Name: b.project.Name, CreateTime: b.clock.Now(),
		})
		requireCode(t, err, webhookd.ECONFLICT)
	})

	s.test(t, "ListOldestFirst", func(t *testing.T, b *bundle) {
		want := []*webhookd.Project{b.project}
		for _, name := range []string{"b", "a", "c"} {
			b.clock.Advance(time.Second)
			want = append(want, b.newProject(t, name))
		}
		got, err := b.store.ListProjects(b.ctx)
		must(t, err)
		if d := diff(want, got); d != "" {
			t.Errorf("ListProjects (-want +got):\n%s", d)
		}
	})

	s.test(t, "Update", func(t *testing.T, b *bundle) {
		p := *b.project
		p.Name = "renamed"
		p.Audience = "client-123"
		must(t, b.store.UpdateProject(b.ctx, &p))
		got, err := b.store.GetProject(b.ctx, p.ID)
		must(t, err)
		if d := diff(&p, got); d != "" {
			t.Errorf("GetProject after update (-want +got):\n%s", d)
		}

		p.ID = webhookd.NewID(webhookd.PrefixProject)
		requireCode(t, b.store.UpdateProject(b.ctx, &p), webhookd.ENOTFOUND)
	})
}

func (s suite) apiKeys(t *testing.T) {
	s.test(t, "CreateFindByHash", func(t *testing.T, b *bundle) {
		k, secret := b.newKey(t, b.project.ID)
		hash := sha256.Sum256([]byte(secret))
		got, err := b.store.FindAPIKey(b.ctx, hash[:])
		must(t, err)
		if d := diff(k, got); d != "" {
			t.Errorf("FindAPIKey (-want +got):\n%s", d)
		}

		other := sha256.Sum256([]byte(secret + "x"))
		_, err = b.store.FindAPIKey(b.ctx, other[:])
		requireCode(t, err, webhookd.ENOTFOUND)
	})

	s.test(t, "CreateAssignsIDAndTime", func(t *testing.T, b *bundle) {
		hash := sha256.Sum256([]byte("k"))
		k := &webhookd.APIKey{ProjectID: b.project.ID, Hash: hash[:], Prefix: "k"}
		must(t, b.store.CreateAPIKey(b.ctx, k))
		if !strings.HasPrefix(k.ID, webhookd.PrefixAPIKey) || !k.CreateTime.Equal(b.clock.Now()) {
			t.Fatalf("CreateAPIKey assigned ID %q, CreateTime %v", k.ID, k.CreateTime)
		}
		got, err := b.store.FindAPIKey(b.ctx, hash[:])
		must(t, err)
		if d := diff(k, got); d != "" {
			t.Errorf("FindAPIKey (-want +got):\n%s", d)
		}
	})

	s.test(t, "ListScopedOldestFirst", func(t *testing.T, b *bundle) {
		other := b.newProject(t, "other")
		k1, _ := b.newKey(t, b.project.ID)
		b.clock.Advance(time.Second)
		b.newKey(t, other.ID)
		k2, _ := b.newKey(t, b.project.ID)

		got, err := b.store.ListAPIKeys(b.ctx, b.project.ID)
		must(t, err)
		if d := diff([]*webhookd.APIKey{k1, k2}, got); d != "" {
			t.Errorf("ListAPIKeys (-want +got):\n%s", d)
		}
	})

	s.test(t, "Revoke", func(t *testing.T, b *bundle) {
		other := b.newProject(t, "other")
		k, secret := b.newKey(t, b.project.ID)
		hash := sha256.Sum256([]byte(secret))

		// Another project cannot revoke it, nor can an unknown id be revoked.
		requireCode(t, b.store.RevokeAPIKey(b.ctx, other.ID, k.ID), webhookd.ENOTFOUND)
		requireCode(t, b.store.RevokeAPIKey(b.ctx, b.project.ID, webhookd.NewID(webhookd.PrefixAPIKey)), webhookd.ENOTFOUND)
		_, err := b.store.FindAPIKey(b.ctx, hash[:])
		must(t, err)

		b.clock.Advance(time.Minute)
		must(t, b.store.RevokeAPIKey(b.ctx, b.project.ID, k.ID))
		_, err = b.store.FindAPIKey(b.ctx, hash[:])
		requireCode(t, err, webhookd.ENOTFOUND)

		keys, err := b.store.ListAPIKeys(b.ctx, b.project.ID)
		must(t, err)
		k.RevokeTime = timePtr(b.clock.Now())
		if d := diff([]*webhookd.APIKey{k}, keys); d != "" {
			t.Errorf("ListAPIKeys after revoke (-want +got):\n%s", d)
		}

		// Revoking again is harmless and keeps the first revocation time.
		b.clock.Advance(time.Minute)
		must(t, b.store.RevokeAPIKey(b.ctx, b.project.ID, k.ID))
		keys, err = b.store.ListAPIKeys(b.ctx, b.project.ID)
		must(t, err)
		if d := diff([]*webhookd.APIKey{k}, keys); d != "" {
			t.Errorf("ListAPIKeys after second revoke (-want +got):\n%s", d)
		}
	})
}
