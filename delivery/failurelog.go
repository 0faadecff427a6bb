package delivery

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/webhookd/webhookd"
)

// failureLog writes failed attempts to the log at WARN, at most one line per
// destination per interval, with how many failed since its last line. At
// DEBUG only, a receiver that answers 500 or refuses connections went
// unnoticed at the default level; a line per attempt would drown the log
// when a busy destination goes down. The line names the destination by
// scheme, host and port, never by its full URI, whose path or query may
// hold a token.
type failureLog struct {
	log   *slog.Logger
	clock webhookd.Clock
	every time.Duration

	mu    sync.Mutex
	dests map[string]*failures
	timer *time.Timer // writes the counts left when failures stop; nil when not set
}

// failures are a destination's failed attempts since its last line.
type failures struct {
	lineAt time.Time // when its last line was written
	failed int
	gaveUp int           // of failed, the last attempt of their delivery
	last   *AttemptError // the latest
	// traceID is the latest's trace, so that the line leads to it; "" when
	// it had none.
	traceID string
}

func newFailureLog(log *slog.Logger, clock webhookd.Clock, every time.Duration) *failureLog {
	return &failureLog{log: log, clock: clock, every: every, dests: map[string]*failures{}}
}

// note counts a failed attempt to dest; gaveUp says that it was its
// delivery's last, traceID is its trace's ("" for none). It writes the destination's line at once when its last
// one is an interval old, and otherwise leaves the count to a later line.
func (f *failureLog) note(dest string, err *AttemptError, gaveUp bool, traceID string) {
	now := f.clock.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.dests[dest]
	if d == nil {
		d = &failures{}
		f.dests[dest] = d
	}
	d.failed++
	if gaveUp {
		d.gaveUp++
	}
	d.last, d.traceID = err, traceID
	if d.lineAt.IsZero() || now.Sub(d.lineAt) >= f.every {
		f.writeLocked(dest, d, now)
		return
	}
	if f.timer == nil {
		f.timer = time.AfterFunc(f.every, f.flush)
	}
}

// flush writes the lines that are due: the counts of destinations whose last
// line is an interval old. Destinations with nothing to count are forgotten
// then, so that the map holds only those that failed recently.
func (f *failureLog) flush() {
	now := f.clock.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.timer = nil
	pending := false
	for dest, d := range f.dests {
		switch {
		case now.Sub(d.lineAt) < f.every:
			pending = pending || d.failed > 0
		case d.failed > 0:
			f.writeLocked(dest, d, now)
		default:
			delete(f.dests, dest)
		}
	}
	if pending {
		f.timer = time.AfterFunc(f.every, f.flush)
	}
}

// stop writes every count left, due or not, and forgets them: the engine is
// stopping.
func (f *failureLog) stop() {
	now := f.clock.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	for dest, d := range f.dests {
		if d.failed > 0 {
			f.writeLocked(dest, d, now)
		}
		delete(f.dests, dest)
	}
}

// writeLocked writes d's line: its counts since the last one, and the latest
// failure's stage and message.
func (f *failureLog) writeLocked(dest string, d *failures, now time.Time) {
	attrs := []slog.Attr{
		slog.String("destination", dest),
		slog.Int("failed", d.failed),
		slog.Int("gave_up", d.gaveUp),
		slog.String("stage", string(d.last.Stage)),
	}
	if d.last.StatusCode != 0 {
		attrs = append(attrs, slog.Int("status", d.last.StatusCode))
	}
	attrs = append(attrs, slog.String("err", d.last.LogText()), slog.Duration("interval", f.every))
	if d.traceID != "" {
		attrs = append(attrs, slog.String("trace_id", d.traceID))
	}
	f.log.LogAttrs(context.Background(), slog.LevelWarn, "delivery attempts failed", attrs...)
	d.lineAt, d.failed, d.gaveUp, d.last, d.traceID = now, 0, 0, nil, ""
}
