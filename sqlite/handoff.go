package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/webhookd/webhookd/internal/handoff"
)

var _ handoff.Store = (*Store)(nil)

// HandOffTo makes publishes ask h about each new delivery and hand it those
// it takes (see handoff.Target), until remove is called. The events that
// operation changes publish are only claimed.
func (s *Store) HandOffTo(t handoff.Target) (remove func()) { return s.handOff.HandOffTo(t) }

// fillHandOff completes, inside the publishing transaction, the claims of
// the deliveries it leased: the publish already set their events' type and
// payload; this sets their projects' audience, found by the publish, and
// reads their webhooks' state and secrets, on the writer. Reading them after the commit, on the read pool, would put a
// reader beside every publish, and readers that overlap the checkpoints
// keep the WAL from restarting: it then grows to wal_autocheckpoint, where
// commits stall for a checkpoint of their own (p99 latencies of hundreds
// of milliseconds at 500 events/s).
func (s *Store) fillHandOff(ctx context.Context, tx *sql.Tx, ho *handoff.Tx, found audiences) error {
	if !ho.Taken() {
		return nil
	}
	if err := ho.SetAudiences(func(projectID string) (string, error) { return found.of(ctx, s, tx, projectID) }); err != nil {
		return err
	}
	webhooks, err := s.loadWebhooks(ctx, tx.StmtContext(ctx, s.stmts.handOffWebhooks), ho.Claims)
	if err != nil {
		return fmt.Errorf("sqlite: publish event: hand-off: %w", err)
	}
	webhooks.fill(ho.Claims)
	return nil
}
