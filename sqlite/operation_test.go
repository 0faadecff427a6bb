package sqlite_test

import (
	"context"
	"path/filepath"
	"runtime"
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
				return s.ListEvents(ctx, projectID, webhookd.Page{})
			},
		}
	})
}

// TestCommitOperationChangeWakes checks that a job's state change that
// publishes deliveries wakes the delivery engine, as PublishEvent does.
func TestCommitOperationChangeWakes(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "webhookd.db"), nil)
	p := newProjectWithWebhook(t, s)

	woken := make(chan struct{}, 1)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	go func() { _ = s.Listen(ctx, func() { woken <- struct{}{} }) }()

	// Listen registers asynchronously: commit until the first wake arrives.
	for range 1000 {
		err := s.CommitOperationChange(t.Context(), webhookd.OperationChange{
			Events: []webhookd.NewEvent{{ProjectID: p.ID, Type: webhookd.EventBatchSucceeded, Data: []byte(`{"id":"batch_1"}`), Source: "operation:batches/batch_1"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-woken:
			return
		default:
			runtime.Gosched()
		}
	}
	t.Fatal("CommitOperationChange publishing a delivery never woke the listener")
}
