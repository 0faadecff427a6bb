package integration_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/postgres"
	"github.com/webhookd/webhookd/sqlite"
)

// openStoreFunc opens a fresh, empty, migrated store closed when t ends.
type openStoreFunc func(t *testing.T, clock webhookd.Clock) webhookd.Store

// eachStore runs f as a parallel subtest on each backend: SQLite always,
// PostgreSQL when WEBHOOKD_TEST_POSTGRES_URL is set (it says why it skips
// otherwise). Routes that reach new store methods are tested through it,
// so that the API answers the same on both.
func eachStore(t *testing.T, f func(t *testing.T, open openStoreFunc)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		f(t, func(t *testing.T, clock webhookd.Clock) webhookd.Store {
			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "webhookd.db"), sqlite.Options{Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := os.Getenv("WEBHOOKD_TEST_POSTGRES_URL")
		if url == "" {
			t.Skip("WEBHOOKD_TEST_POSTGRES_URL not set: skipping the PostgreSQL run")
		}
		f(t, func(t *testing.T, clock webhookd.Clock) webhookd.Store {
			schema := "test_" + strings.ToLower(webhookd.NewID(""))
			t.Cleanup(func() { dropSchema(t, url, schema) })
			s, err := postgres.Open(t.Context(), url, postgres.Options{Clock: clock, Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		})
	})
}

func dropSchema(t *testing.T, url, schema string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
	}
}
