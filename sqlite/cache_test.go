package sqlite

import (
	"database/sql"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
)

// TestPageCacheSizes guards the bound on SQLite's page cache pool, which
// the connections of the process share (see writerCacheKiB): only the writer
// has a large cache; every reader and the checkpointer have a small one.
func TestPageCacheSizes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "cache.db"), Options{ReadConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	check := func(name string, c *sql.Conn, wantKiB int) {
		t.Helper()
		var got int
		if err := c.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != -wantKiB {
			t.Errorf("%s: cache_size = %d, want %d (KiB)", name, got, -wantKiB)
		}
	}
	conn := func(db *sql.DB) *sql.Conn {
		t.Helper()
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	check("writer", conn(s.writer), writerCacheKiB)
	check("reader 1", conn(s.reader), readCacheKiB) // held, so that the next is another connection
	check("reader 2", conn(s.reader), readCacheKiB)
	check("checkpointer", conn(s.ckpt.db), readCacheKiB)
}

// TestWithCacheCopies: each kind of connection adds its own cache size to
// the shared parameters, which must stay as they were.
func TestWithCacheCopies(t *testing.T) {
	t.Parallel()
	params := url.Values{"_pragma": {"temp_store(memory)", "wal_autocheckpoint(10000)"}}
	a, b := withCache(params, 100), withCache(params, 200)
	if want := []string{"temp_store(memory)", "wal_autocheckpoint(10000)"}; !slices.Equal(params["_pragma"], want) {
		t.Errorf("params _pragma = %q, want %q", params["_pragma"], want)
	}
	if got := a["_pragma"][2]; got != "cache_size(-100)" {
		t.Errorf("first copy: %q, want cache_size(-100)", got)
	}
	if got := b["_pragma"][2]; got != "cache_size(-200)" {
		t.Errorf("second copy: %q, want cache_size(-200)", got)
	}
}
