package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"
)

// checkpointInterval is how often the background checkpointer runs.
const checkpointInterval = 200 * time.Millisecond

// checkpointer copies the WAL into the database file in the background.
//
// Left to itself, the connection that commits runs the checkpoint when the
// WAL passes wal_autocheckpoint pages, and every write waits behind the copy:
// at SQLite's default of 1000 pages that is a small stall often, and the hot
// pages (the due index, the tails of the tables) are copied again and again;
// at 10000 it is a stall of a hundred milliseconds and more now and then,
// which showed as the p99 latency at 500 events/s. Instead, a goroutine with a
// connection of its own runs PASSIVE checkpoints every checkpointInterval:
// they copy what no reader still needs without taking the write lock, so the
// writer never waits for them and the copying runs on another core.
//
// That alone does not keep the WAL short. SQLite starts the WAL over from its
// beginning only when a write transaction begins with every frame copied,
// and a checkpoint copies only the frames committed before it started: at
// hundreds of commits a second some commit lands while it runs (about 3 ms
// for the 1000 frames of a round at 500 events/s), and the WAL grew to
// wal_autocheckpoint anyway, where the commit that crossed it stalled for a
// checkpoint of its own. So each round checkpoints again until a checkpoint
// finds no frame added since the one before: the frames that landed during
// the first take a fraction of a millisecond to copy, and after two or three
// passes the WAL is whole in the file and the next commit starts it over.
// Only when it never stands still within ckptPasses (a steady stream of
// commits) does the round end with a checkpoint on the writer's connection,
// which no commit can interleave with; before, every round ended so, and it
// stalled every write for 0.7–0.9 ms five times a second, which was where a
// third to a half of the slowest 1% of events at 500 events/s had waited.
// The writer's own checkpoint stays, at 10000 pages, as a safety net should
// this fall behind.
type checkpointer struct {
	db   *sql.DB
	quit chan struct{}
	done chan struct{}

	rounds, onWriter atomic.Int64 // rounds run, and those that ended on the writer, for tests
}

func (s *Store) startCheckpointer(path string, params url.Values) error {
	db, err := openOne(path, params)
	if err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	c := &checkpointer{db: db, quit: make(chan struct{}), done: make(chan struct{})}
	s.ckpt = c
	go func() {
		defer close(c.done)
		tick := time.NewTicker(checkpointInterval)
		defer tick.Stop()
		for {
			select {
			case <-c.quit:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), busyTimeout)
			s.checkpointRound(ctx, c)
			cancel()
		}
	}()
	return nil
}

// ckptPasses is how many checkpoints a round runs on the checkpointer's
// connection, at most, waiting for the WAL to stand still.
const ckptPasses = 4

// checkpointRound runs one round of checkpoints (see checkpointer): on c's
// connection until one finds the WAL as the one before it left it, else (or
// when one fails) at last on the writer's connection.
func (s *Store) checkpointRound(ctx context.Context, c *checkpointer) {
	c.rounds.Add(1)
	prev := -1
	for range ckptPasses {
		frames, copied, err := checkpoint(ctx, c.db)
		if err != nil {
			s.log.Debug("sqlite: background checkpoint", "err", err)
			break
		}
		if frames == copied && frames == prev {
			return // no commit since the last pass, which copied it all
		}
		prev = frames
	}
	c.onWriter.Add(1)
	if _, _, err := checkpoint(ctx, s.writer); err != nil {
		s.log.Debug("sqlite: background checkpoint on the writer", "err", err)
	}
}

// checkpoint runs a PASSIVE checkpoint on db and returns the frames in the
// WAL as it saw them and how many of those are now copied into the
// database; -1 copied when SQLite reports it could not finish.
func checkpoint(ctx context.Context, db *sql.DB) (frames, copied int, err error) {
	var busy int
	err = db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
	if err == nil && busy != 0 {
		copied = -1 // never equal to frames: not done
	}
	return frames, copied, err
}

func (s *Store) stopCheckpointer() error {
	if s.ckpt == nil {
		return nil
	}
	close(s.ckpt.quit)
	<-s.ckpt.done
	err := s.ckpt.db.Close()
	s.ckpt = nil
	return err
}
