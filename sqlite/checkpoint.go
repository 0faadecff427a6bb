package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
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
// connection of its own runs a PASSIVE checkpoint every checkpointInterval:
// it copies what no reader still needs without taking the write lock, so the
// writer never waits for it and the copying runs on another core.
//
// That alone does not keep the WAL short. SQLite starts the WAL over from its
// beginning only when a writer finds every frame copied, and at hundreds of
// commits a second some commit always lands while the background checkpoint
// runs, so the WAL grew to wal_autocheckpoint anyway (about every 2 s at 500
// events/s), and the commit that crossed it stalled for a checkpoint of its
// own: hundreds of milliseconds whenever the disk was busy. So each round
// ends with a second checkpoint on the writer's connection, which no commit
// can interleave with: it copies only the frames committed during the first
// (a millisecond or two of the writer's time), and the next commit starts
// the WAL over. The writer's own checkpoint stays, at 10000 pages, as a
// safety net should this fall behind.
type checkpointer struct {
	db   *sql.DB
	quit chan struct{}
	done chan struct{}
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
			for _, conn := range []*sql.DB{db, s.writer} {
				if _, err := conn.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
					s.log.Debug("sqlite: background checkpoint", "err", err)
				}
			}
			cancel()
		}
	}()
	return nil
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
