package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/webhookd/webhookd/internal/migration"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate applies the embedded migrations that the database has not seen,
// each in its own transaction, and returns how many it applied. It holds an
// advisory lock meanwhile, so that processes starting together migrate once:
// the others wait, then find nothing left to do. The lock key includes the
// schema, so deployments in different schemas do not wait for each other.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	all, err := migration.Load(migrationFiles, "migrations")
	if err != nil {
		return 0, err
	}
	key := lockKey(s.scope, "migrate")
	if s.txPooling {
		// Behind a transaction pooler a session lock would outlive the
		// migration in a server session other clients get: the lock is a
		// transaction's, and every migration is applied in that one
		// transaction (each in a savepoint), committed at the end.
		n := 0
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, key); err != nil {
				return fmt.Errorf("postgres: migrate: lock: %w", err)
			}
			var err error
			n, err = s.migrate(ctx, tx, all)
			return err
		})
		if err != nil {
			return 0, err
		}
		return n, nil
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("postgres: migrate: %w", err)
	}
	defer conn.Release()

	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, key); err != nil {
		return 0, fmt.Errorf("postgres: migrate: lock: %w", err)
	}
	defer func() {
		// A fresh context: the lock must be released even when ctx ended,
		// or the pooled connection would keep holding it.
		_, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key)
		if err != nil {
			s.log.Warn("postgres: migrate: unlock failed; closing the connection", "err", err)
			conn.Hijack().Close(context.WithoutCancel(ctx))
		}
	}()
	return s.migrate(ctx, conn, all)
}

// migrationConn is where migrate runs: a pooled connection holding the
// session lock, or the transaction holding the transaction lock.
type migrationConn interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}

// migrate applies, on conn, under the lock, the migrations of all not
// applied yet, each in its own transaction (or savepoint).
func (s *Store) migrate(ctx context.Context, conn migrationConn, all []migration.Migration) (int, error) {
	if s.schema != "" {
		// Under the lock: CREATE SCHEMA IF NOT EXISTS is not safe against
		// itself running concurrently.
		if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.schema}.Sanitize()); err != nil {
			return 0, fmt.Errorf("postgres: migrate: create schema: %w", err)
		}
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		apply_time timestamptz NOT NULL
	)`); err != nil {
		return 0, fmt.Errorf("postgres: migrate: create schema_migrations: %w", err)
	}
	rows, _ := conn.Query(ctx, `SELECT version FROM schema_migrations`)
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return 0, fmt.Errorf("postgres: migrate: read schema_migrations: %w", err)
	}
	done := map[int]bool{}
	for _, v := range applied {
		done[int(v)] = true
	}

	n := 0
	for _, m := range all {
		if done[m.Version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, apply_time) VALUES ($1, $2, $3)`,
				m.Version, m.Name, s.now())
			return err
		})
		if err != nil {
			return n, fmt.Errorf("postgres: migrate %s: %w", m.Name, err)
		}
		s.log.Info("postgres: applied migration", "name", m.Name, "schema", s.scope)
		n++
	}
	return n, nil
}
