package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/sqlite"
	"github.com/webhookd/webhookd/storetest"
)

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, clock webhookd.Clock) webhookd.Store {
		return open(t, filepath.Join(t.TempDir(), "webhookd.db"), clock)
	})
}

// open opens a store at path and closes it when the test ends.
func open(t *testing.T, path string, clock webhookd.Clock) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{Clock: clock, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}
