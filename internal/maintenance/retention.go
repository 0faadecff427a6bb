package maintenance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/webhookd/webhookd"
)

// RetentionConfig says how long finished events are kept, and how pruning
// paces itself. Zero fields take the defaults named on them.
//
// Pruning works in batches of Batch events, each its own short
// transaction, so that the SQLite writer and PostgreSQL row locks are held
// for one batch only. Between batches it pauses for Pause, which lets the
// delivery engine's claims and results (queued on the same SQLite writer)
// in. One run deletes at most PerRun events, so a large backlog (retention
// turned on over an old database) is worked off over several runs instead
// of holding the maintenance lock for long.
type RetentionConfig struct {
	// Succeeded is how long an event is kept after its last delivery
	// finished, when all succeeded (or it had none). Default 30 days.
	Succeeded time.Duration
	// Failed is the same for events with a failed delivery: they are what
	// an operator recovers or investigates, so the default is three times
	// longer, 90 days. It must be at least Succeeded.
	Failed time.Duration
	// Batch is how many events one transaction deletes. Default 500.
	Batch int
	// Pause is the wait between batches. Default 10ms; negative: none
	// (the loop only yields).
	Pause time.Duration
	// PerRun is the most events one run deletes. Default 200 batches.
	PerRun int
}

// WithDefaults returns c with every unset field filled in.
func (c RetentionConfig) WithDefaults() RetentionConfig {
	if c.Succeeded == 0 {
		c.Succeeded = 30 * 24 * time.Hour
	}
	if c.Failed == 0 {
		c.Failed = 90 * 24 * time.Hour
	}
	if c.Batch <= 0 {
		c.Batch = 500
	}
	if c.Pause == 0 {
		c.Pause = 10 * time.Millisecond
	}
	if c.PerRun <= 0 {
		c.PerRun = 200 * c.Batch
	}
	return c
}

// Validate checks the retention periods.
func (c RetentionConfig) Validate() error {
	var errs []error
	if c.Succeeded <= 0 {
		errs = append(errs, fmt.Errorf("retention must be positive, got %v", c.Succeeded))
	}
	if c.Failed < c.Succeeded {
		// Failures are what an operator recovers: never drop them first.
		errs = append(errs, fmt.Errorf("failed retention %v must be at least retention %v", c.Failed, c.Succeeded))
	}
	return errors.Join(errs...)
}

// Pruned is what one retention run did.
type Pruned struct {
	Events, Batches, Uploads, Files int
}

// Expired files (job outputs past their retention) are deleted filesBatch at
// a time, at most filesPerRun a run: a file may hold 64 MiB of pieces, and
// the SQLite writer is shared with deliveries.
const (
	filesBatch  = 16
	filesPerRun = 64 * filesBatch
)

// Prune deletes events past their retention, batch after batch, until a
// batch comes back short (nothing more is due) or the per-run cap is
// reached, then discards expired upload sessions and deletes the files past
// their ExpireTime (job outputs, see lro.Config.OutputRetention). The cutoffs are fixed at
// the start of the run, so a run always ends. It takes no lock: RunOnce
// calls it under the maintenance lock.
func (m *Maintainer) Prune(ctx context.Context) (Pruned, error) {
	r, st := m.cfg.Retention, m.cfg.Store
	var stats Pruned
	began := time.Now() // real time: how long the run took, for the log
	now := m.cfg.Clock.Now()
	p := webhookd.PruneParams{
		SucceededBefore: now.Add(-r.Succeeded),
		FailedBefore:    now.Add(-r.Failed),
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
	for ctx.Err() == nil && stats.Files < filesPerRun {
		n, err := st.DeleteExpiredFiles(ctx, filesBatch)
		if err != nil {
			errs = append(errs, fmt.Errorf("delete expired files: %w", err))
			break
		}
		stats.Files += n
		if n < filesBatch {
			break
		}
		if err := pause(ctx, r.Pause); err != nil {
			errs = append(errs, err)
			break
		}
	}
	level := slog.LevelDebug
	if stats.Events > 0 || stats.Uploads > 0 || stats.Files > 0 {
		level = slog.LevelInfo
	}
	m.cfg.Logger.Log(ctx, level, "retention",
		"events_pruned", stats.Events, "batches", stats.Batches, "uploads_expired", stats.Uploads, "files_expired", stats.Files,
		"capped", stats.Events >= r.PerRun, "duration", time.Since(began).Round(time.Millisecond))
	return stats, errors.Join(errs...)
}

// pause waits d between batches, or only yields the processor when d is not
// positive; it returns early when ctx ends.
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
