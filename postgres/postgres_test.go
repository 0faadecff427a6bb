package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/postgres"
	"github.com/webhookd/webhookd/storetest"
)

// testURL returns the database the tests may use, or skips the test.
func testURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("WEBHOOKD_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("WEBHOOKD_TEST_POSTGRES_URL not set: skipping PostgreSQL tests")
	}
	return url
}

// testSchema returns a fresh schema name, dropped when t ends. Every test
// gets its own schema, so tests run in parallel on one database.
func testSchema(t testing.TB) string {
	t.Helper()
	url := testURL(t)
	schema := "test_" + strings.ToLower(webhookd.NewID(""))
	t.Cleanup(func() {
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
	})
	return schema
}

// openStore opens a store on schema, closed when t ends.
func openStore(t testing.TB, schema string, clock webhookd.Clock) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), testURL(t), postgres.Options{
		Clock:  clock,
		Logger: testLogger(t),
		Schema: schema,
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newStore opens a store on a fresh schema.
func newStore(t testing.TB, clock webhookd.Clock) *postgres.Store {
	t.Helper()
	return openStore(t, testSchema(t), clock)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	testURL(t)
	storetest.Run(t, func(t *testing.T, clock webhookd.Clock) webhookd.Store {
		return newStore(t, clock)
	})
}

func TestOpenBadURL(t *testing.T) {
	t.Parallel()
	_, err := postgres.Open(context.Background(), "postgres://%zz", postgres.Options{})
	if err == nil {
		t.Fatal("Open with a malformed URL succeeded")
	}
	if got := fmt.Sprint(err); !strings.HasPrefix(got, "postgres: ") {
		t.Errorf("error %q does not say where it came from", got)
	}
}

// testLogger sends the store's logs to the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
