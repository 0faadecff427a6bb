package sqlite

import (
	"os"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

// TestCheckpointRoundsEndOffTheWriter publishes one event every 5 ms for
// six checkpoint rounds, a commit landing in every checkpoint's copy, and
// checks that the rounds still leave the WAL whole in the file without a
// checkpoint on the writer's connection (which stalls every write), and that
// the WAL starts over: without that it would grow by a round's frames every
// round.
func TestCheckpointRoundsEndOffTheWriter(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, p := openWithWebhook(t)
	var path string
	if err := s.reader.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
		t.Fatal(err)
	}

	var maxWAL int64
	start := s.ckpt.rounds.Load()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for s.ckpt.rounds.Load() < start+6 {
		<-tick.C
		if _, _, err := s.PublishEvent(ctx, webhookd.NewEvent{ProjectID: p.ID, Type: webhookd.EventBatchSucceeded, Data: []byte(`{"id":"batches/b"}`)}); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path + "-wal"); err == nil {
			maxWAL = max(maxWAL, fi.Size())
		}
	}
	rounds, onWriter := s.ckpt.rounds.Load()-start, s.ckpt.onWriter.Load()
	t.Logf("%d rounds, %d ended on the writer; WAL at most %d KiB", rounds, onWriter, maxWAL>>10)
	if onWriter > rounds/2 {
		t.Errorf("%d of %d rounds ended with a checkpoint on the writer's connection, want at most half", onWriter, rounds)
	}
	// A round (200 ms) of commits at one per 5 ms is about 40 commits of
	// nine pages, 1.5 MiB; six rounds without a restart would be 9 MiB.
	if limit := int64(4 << 20); maxWAL > limit {
		t.Errorf("the WAL reached %d KiB, want under %d KiB: it did not start over", maxWAL>>10, limit>>10)
	}
}
