package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

	"github.com/webhookd/webhookd/internal/migration"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrate applies the migrations the database lacks, each in its own
// transaction together with its row in schema_migrations, and returns how
// many it applied. Open calls it; it is exported for `webhookd migrate`.
// Processes sharing the file may run it at once: the IMMEDIATE transaction
// serialises them and each migration is re-checked inside it.
func (s *Store) Migrate(ctx context.Context) (applied int, err error) {
	ms, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		return 0, fmt.Errorf("sqlite: migrate: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			apply_time INTEGER NOT NULL
		) STRICT`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: migrate: %w", err)
	}
	for _, m := range ms {
		done := false
		err := s.write(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			done = true
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, apply_time) VALUES (?, ?, ?)`,
				m.Version, m.Name, micros(s.now()))
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("sqlite: migrate %s: %w", m.Name, err)
		}
		if done {
			applied++
			s.log.InfoContext(ctx, "applied migration", "migration", m.Name)
		}
	}
	return applied, nil
}
