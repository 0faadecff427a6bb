// Package outage logs a dependency's outage once, when it starts and when it
// ends, instead of once per call that failed meanwhile: a database restart
// under load fails hundreds of calls a second, and a line for each would
// bury the one that says what happened.
package outage

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webhookd/webhookd"
)

// Log tracks one dependency's outages. It is safe for concurrent use; its
// zero value is not usable (New).
type Log struct {
	log            *slog.Logger
	clock          webhookd.Clock
	downMsg, upMsg string // the messages of an outage's first and last lines

	down     atomic.Bool // checked without the lock on every success
	mu       sync.Mutex
	since    time.Time
	failures int
}

// New returns a Log that logs to log, on clock's time, an outage's start
// at WARN with the message down and its end at INFO with the message up.
func New(log *slog.Logger, clock webhookd.Clock, down, up string) *Log {
	if clock == nil {
		clock = webhookd.SystemClock{}
	}
	return &Log{log: log, clock: clock, downMsg: down, upMsg: up}
}

// Failed notes a call that failed because the dependency is unavailable. The
// first of an outage is logged at WARN with its error; the rest are counted.
func (l *Log) Failed(ctx context.Context, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures++
	if l.down.Load() {
		return
	}
	l.down.Store(true)
	l.since = l.clock.Now()
	l.log.WarnContext(ctx, l.downMsg, "err", err)
}

// Succeeded notes a call that reached the dependency. The first after an
// outage ends it, with an INFO line saying how long it lasted and how many
// calls failed. It costs an atomic load when there is no outage.
func (l *Log) Succeeded(ctx context.Context) {
	if !l.down.Load() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down.Load() {
		return
	}
	l.down.Store(false)
	l.log.InfoContext(ctx, l.upMsg, "failures", l.failures, "down_for", l.clock.Now().Sub(l.since))
	l.failures = 0
}

// Down says whether an outage is going on: a call failed and none has
// succeeded since.
func (l *Log) Down() bool { return l.down.Load() }
