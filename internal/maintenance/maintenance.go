// Package maintenance is webhookd's singleton upkeep, run on a schedule
// beside the API and the delivery engine: signing-key rotation and expiry,
// and retention (deleting old history). When several processes share one
// PostgreSQL database, only the one holding the maintenance lock does it;
// the others reload the key ring, so that they sign with the current key.
package maintenance

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/webhookd/webhookd"
)

// KeyRing is the part of *signing.KeyRing that maintenance drives.
type KeyRing interface {
	// Maintain rotates and expires keys; only the lock holder calls it.
	Maintain(ctx context.Context) error
	// Reload reads the keys another process may have rotated.
	Reload(ctx context.Context) error
}

// Locker is implemented by stores shared by several processes (PostgreSQL's
// advisory locks), so that maintenance runs on one of them at a time.
type Locker interface {
	TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error)
}

// lockName is the advisory lock maintenance takes.
const lockName = "webhookd-maintenance"

// Config configures a Maintainer. Zero fields take the defaults named on
// them (WithDefaults).
type Config struct {
	// Store is the database maintained. Required. When it is a Locker,
	// maintenance runs only while it holds the lock.
	Store webhookd.Store
	// Keys is the signing key ring. Required.
	Keys KeyRing
	// Clock tells the time that retention counts from. Default: the
	// system clock.
	Clock webhookd.Clock
	// Logger receives maintenance's log lines. Default: discard.
	Logger *slog.Logger
	// Every is how often maintenance runs. Default 1m.
	Every time.Duration
	// Retention says what history is kept, and how pruning paces itself.
	Retention RetentionConfig
}

// WithDefaults returns c with every unset field filled in: the one place
// that knows maintenance's defaults.
func (c Config) WithDefaults() Config {
	if c.Clock == nil {
		c.Clock = webhookd.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Every <= 0 {
		c.Every = time.Minute
	}
	c.Retention = c.Retention.WithDefaults()
	return c
}

// Maintainer runs maintenance. Create it with New.
type Maintainer struct {
	cfg Config
}

// New checks cfg and returns a Maintainer; nothing runs until Run.
func New(cfg Config) (*Maintainer, error) {
	cfg = cfg.WithDefaults()
	if cfg.Store == nil || cfg.Keys == nil {
		return nil, errors.New("maintenance: Config.Store and Config.Keys are required")
	}
	if err := cfg.Retention.Validate(); err != nil {
		return nil, err
	}
	return &Maintainer{cfg: cfg}, nil
}

// Run maintains every Config.Every until ctx ends. A failed run is logged
// and the next one tries again.
func (m *Maintainer) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := m.RunOnce(ctx); err != nil && !errors.Is(err, context.Canceled) {
			m.cfg.Logger.Warn("maintenance", "err", err)
		}
	}
}

// RunOnce is one maintenance run. Retention runs even when key maintenance
// fails: one must not starve the other.
func (m *Maintainer) RunOnce(ctx context.Context) error {
	if l, ok := m.cfg.Store.(Locker); ok {
		unlock, held, err := l.TryLock(ctx, lockName)
		if err != nil {
			return err
		}
		if !held {
			return m.cfg.Keys.Reload(ctx)
		}
		defer unlock()
	}
	keyErr := m.cfg.Keys.Maintain(ctx)
	_, pruneErr := m.Prune(ctx)
	return errors.Join(keyErr, pruneErr)
}
