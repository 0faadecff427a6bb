// Package skipper is a package with a PostgreSQL test, for pgtest's test.
package skipper

import (
	"os"
	"testing"

	"github.com/webhookd/webhookd/internal/pgtest"
)

func TestMain(m *testing.M) {
	pgtest.AnnounceSkip("skipper")
	os.Exit(m.Run())
}

func TestPostgres(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) == "" {
		t.Skip(pgtest.EnvURL + " not set")
	}
}
