package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/lro/lrotest"
)

func TestOperationStore(t *testing.T) {
	t.Parallel()
	lrotest.Run(t, func(t *testing.T) lrotest.Harness {
		clock := fakeclock.New(lrotest.T0)
		s := open(t, filepath.Join(t.TempDir(), "webhookd.db"), clock)
		return lrotest.Harness{
			Store: s,
			Clock: clock,
			NewProject: func(t *testing.T) string {
				p := &webhookd.Project{Name: webhookd.NewID("p")}
				if err := s.CreateProject(t.Context(), p); err != nil {
					t.Fatal(err)
				}
				return p.ID
			},
			Events: func(ctx context.Context, projectID string) ([]*webhookd.Event, error) {
				return s.ListEvents(ctx, projectID, webhookd.EventFilter{}, webhookd.Page{})
			},
		}
	})
}
