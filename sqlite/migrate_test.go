package sqlite

import (
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/migration"
	"github.com/webhookd/webhookd/storetest"
)

// TestMigrationsRecorded checks that Open applies every embedded migration
// once, in order, and records each in schema_migrations; a second Open of
// the same file applies none.
func TestMigrationsRecorded(t *testing.T) {
	t.Parallel()
	ms, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %s has version %d, want %d (no gaps)", m.Name, m.Version, i+1)
		}
		want = append(want, m.Version)
	}

	path := filepath.Join(t.TempDir(), "m.db")
	for range 2 {
		s, err := Open(t.Context(), path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := s.reader.QueryContext(t.Context(), `SELECT version FROM schema_migrations ORDER BY apply_time, version`)
		if err != nil {
			t.Fatal(err)
		}
		got, err := collect(rows, func(sc scanner) (int, error) {
			var v int
			return v, sc.Scan(&v)
		}, "versions")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("schema_migrations = %v, want %v", got, want)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrationCutsAPIKeyPrefixes: the migration that cuts stored key
// prefixes leaves no more of a key than webhookd.APIKeyVisiblePrefix keeps,
// so that a short key that earlier versions stored whole is gone.
func TestMigrationCutsAPIKeyPrefixes(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "m.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old := map[string]string{"key_a": "demo-key", "key_b": "whd_jorw", "key_c": "abc", "key_d": "sdk-suit"}
	for id, prefix := range old {
		if _, err := s.writer.ExecContext(t.Context(), `INSERT OR IGNORE INTO projects (id, name, create_time) VALUES ('p', 'p', 0);
			INSERT INTO api_keys (id, project_id, hash, prefix, create_time) VALUES (?, 'p', ?, ?, 0)`, id, []byte(id), prefix); err != nil {
			t.Fatal(err)
		}
	}
	// Apply the migration again, as to a database of an earlier version.
	if _, err := s.writer.ExecContext(t.Context(), `DELETE FROM schema_migrations WHERE name = '0006_api_key_prefix.sql'`); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Migrate(t.Context()); err != nil || n != 1 {
		t.Fatalf("Migrate applied %d migrations (%v), want 1", n, err)
	}
	for id, prefix := range old {
		var got string
		if err := s.reader.QueryRowContext(t.Context(), `SELECT prefix FROM api_keys WHERE id = ?`, id).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := webhookd.APIKeyVisiblePrefix(prefix); got != want {
			t.Errorf("prefix %q became %q, want %q", prefix, got, want)
		}
	}
}

// TestMigrationMovesFileContent: a database of the version before file
// pieces (0008) keeps its files' content, which the migration moves out of
// the files table; it reads back whole.
func TestMigrationMovesFileContent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path+"?_foreign_keys=1")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, apply_time INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	for _, m := range migration.Before(ms, "0008_file_chunks.sql") {
		if _, err := db.ExecContext(ctx, m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, ?, 0)`, m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	content := []byte(`{"key":"k1"}` + "\n")
	if _, err := db.ExecContext(ctx, `INSERT INTO projects (id, name, create_time) VALUES ('prj_old', 'old', 0);
		INSERT INTO files (id, project_id, size_bytes, sha256, source, state, create_time, update_time, content)
		VALUES ('file_a', 'prj_old', ?, x'00', 'UPLOADED', 'ACTIVE', 0, 0, ?),
		       ('file_empty', 'prj_old', 0, x'00', 'UPLOADED', 'ACTIVE', 0, 0, x'')`, len(content), content); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.RequireFileContents(t, s, "prj_old", map[string][]byte{"file_a": content, "file_empty": {}})
}
