package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/webhookd/webhookd"
)

// Retention defaults. Failed deliveries are kept three times longer than
// succeeded ones: they are what an operator recovers or investigates.
const (
	defaultRetention       = 30 * 24 * time.Hour
	defaultFailedRetention = 90 * 24 * time.Hour
)

// Pruning works in batches of pruneBatch events, each its own short
// transaction, so that the SQLite writer and PostgreSQL row locks are held
// for one batch only. Between batches it pauses pruneBatchPause, which lets
// the delivery engine's claims and results (queued on the same SQLite
// writer) in. One maintenance run deletes at most prunePerRun events, so a
// large backlog (retention turned on over an old database) is worked off
// over several runs instead of holding the maintenance lock for long.
const (
	pruneBatch      = 500
	pruneBatchPause = 10 * time.Millisecond
	prunePerRun     = 200 * pruneBatch
)

// retention is the part of maintenance that deletes old history.
type retention struct {
	Clock webhookd.Clock
	// Succeeded and Failed are how long events are kept after their last
	// delivery finished: all succeeded (or none existed), or some failed.
	Succeeded, Failed time.Duration
	// Batch, Pause and PerRun bound the work as described above; tests
	// set a zero Pause (the loop then only yields).
	Batch  int
	Pause  time.Duration
	PerRun int
}

// newRetention returns the retention cfg asks for, with the batch defaults.
func newRetention(cfg Config, clock webhookd.Clock) retention {
	return retention{
		Clock:     clock,
		Succeeded: cfg.Retention,
		Failed:    cfg.FailedRetention,
		Batch:     pruneBatch,
		Pause:     pruneBatchPause,
		PerRun:    prunePerRun,
	}
}

// prunedStats is what one retention run did.
type prunedStats struct {
	Events, Batches, Uploads int
}

// run prunes events past their retention, batch after batch, until a batch
// comes back short (nothing more is due) or the per-run cap is reached, then
// discards expired upload sessions. The cutoffs are fixed at the start of
// the run, so a run always ends.
func (r retention) run(ctx context.Context, st webhookd.Store, logger *slog.Logger) (prunedStats, error) {
	var stats prunedStats
	began := time.Now() // real time: how long the run took, for the log
	now := r.Clock.Now()
	p := webhookd.PruneParams{
		SucceededBefore: now.Add(-r.Succeeded),
		FailedBefore:    now.Add(-r.Failed),
		Limit:           r.Batch,
	}
	var errs []error
	for {
		p.Limit = min(r.Batch, r.PerRun-stats.Events)
		n, err := st.PruneEvents(ctx, p)
		if err != nil {
			errs = append(errs, fmt.Errorf("prune events: %w", err))
			break
		}
		stats.Events += n
		stats.Batches++
		if n < p.Limit || stats.Events >= r.PerRun {
			break
		}
		if err := pause(ctx, r.Pause); err != nil {
			errs = append(errs, err)
			break
		}
	}
	if ctx.Err() == nil {
		n, err := st.DeleteExpiredUploads(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("delete expired uploads: %w", err))
		}
		stats.Uploads = n
	}
	level := slog.LevelDebug
	if stats.Events > 0 || stats.Uploads > 0 {
		level = slog.LevelInfo
	}
	logger.Log(ctx, level, "retention",
		"events_pruned", stats.Events, "batches", stats.Batches, "uploads_expired", stats.Uploads,
		"capped", stats.Events >= r.PerRun, "duration", time.Since(began).Round(time.Millisecond))
	return stats, errors.Join(errs...)
}

// pause waits d between batches, or only yields the processor when d is
// zero; it returns early when ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		runtime.Gosched()
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
