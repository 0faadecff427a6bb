package postgres

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/migration"
	"github.com/webhookd/webhookd/storetest"
)

// TestMigrationCutsAPIKeyPrefixes: the migration that cuts stored key
// prefixes leaves no more of a key than webhookd.APIKeyVisiblePrefix keeps,
// so that a short key that earlier versions stored whole is gone.
func TestMigrationCutsAPIKeyPrefixes(t *testing.T) {
	t.Parallel()
	s := openInternal(t, nil)
	ctx := t.Context()
	if _, err := s.pool.Exec(ctx, `INSERT INTO projects (id, name, create_time) VALUES ('p', 'p', now())`); err != nil {
		t.Fatal(err)
	}
	old := map[string]string{"key_a": "demo-key", "key_b": "whd_jorw", "key_c": "abc", "key_d": "sdk-suit"}
	for id, prefix := range old {
		if _, err := s.pool.Exec(ctx, `INSERT INTO api_keys (id, project_id, hash, prefix, create_time) VALUES ($1, 'p', $2, $3, now())`,
			id, []byte(id), prefix); err != nil {
			t.Fatal(err)
		}
	}
	// Apply the migration again, as to a database of an earlier version.
	if _, err := s.pool.Exec(ctx, `DELETE FROM schema_migrations WHERE name = '0004_api_key_prefix.sql'`); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Migrate(ctx); err != nil || n != 1 {
		t.Fatalf("Migrate applied %d migrations (%v), want 1", n, err)
	}
	for id, prefix := range old {
		var got string
		if err := s.pool.QueryRow(ctx, `SELECT prefix FROM api_keys WHERE id = $1`, id).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := webhookd.APIKeyVisiblePrefix(prefix); got != want {
			t.Errorf("prefix %q became %q, want %q", prefix, got, want)
		}
	}
}

// TestMigrationMovesFileContent: a database of the version before file
// pieces (0006) keeps its files' content, which the migration moves out of
// the files table; it reads back whole.
func TestMigrationMovesFileContent(t *testing.T) {
	t.Parallel()
	url := os.Getenv("WEBHOOKD_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("WEBHOOKD_TEST_POSTGRES_URL not set: skipping PostgreSQL tests")
	}
	ctx := t.Context()
	schema := "test_internal_" + webhookd.NewID("")
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
		_ = conn.Close(context.Background())
	})
	ms, err := migration.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE SCHEMA ` + pgx.Identifier{schema}.Sanitize(),
		`SET search_path = ` + pgx.Identifier{schema}.Sanitize(),
		`CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, apply_time timestamptz NOT NULL)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range migration.Before(ms, "0006_file_chunks.sql") {
		if _, err := conn.Exec(ctx, m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations VALUES ($1, $2, now())`, m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	content := []byte(`{"key":"k1"}` + "\n")
	if _, err := conn.Exec(ctx, `INSERT INTO projects (id, name, create_time) VALUES ('prj_old', 'old', now())`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO files (id, project_id, size_bytes, sha256, source, state, create_time, update_time, content)
		VALUES ('file_a', 'prj_old', $1, '\x00', 'UPLOADED', 'ACTIVE', now(), now(), $2),
		       ('file_empty', 'prj_old', 0, '\x00', 'UPLOADED', 'ACTIVE', now(), now(), '')`, len(content), content); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, url, Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.RequireFileContents(t, s, "prj_old", map[string][]byte{"file_a": content, "file_empty": {}})
}
