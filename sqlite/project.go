package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/webhookd/webhookd"
)

const projectColumns = `id, name, audience, create_time`

func scanProject(sc scanner) (*webhookd.Project, error) {
	var p webhookd.Project
	var created int64
	if err := sc.Scan(&p.ID, &p.Name, &p.Audience, &created); err != nil {
		return nil, err
	}
	p.CreateTime = fromMicros(created)
	return &p, nil
}

// CreateProject stores p, assigning its ID and CreateTime when they are unset.
// A name already taken answers ECONFLICT.
func (s *Store) CreateProject(ctx context.Context, p *webhookd.Project) error {
	if p.ID == "" {
		p.ID = webhookd.NewID(webhookd.PrefixProject)
	}
	if p.CreateTime.IsZero() {
		p.CreateTime = s.now()
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO projects (`+projectColumns+`) VALUES (?, ?, ?, ?)`,
			p.ID, p.Name, p.Audience, micros(p.CreateTime))
		return err
	})
	if isUniqueViolation(err) {
		return webhookd.Errorf(webhookd.ECONFLICT, "Project %q already exists.", p.Name)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create project: %w", err)
	}
	return nil
}

// GetProject implements webhookd.Store.
func (s *Store) GetProject(ctx context.Context, id string) (*webhookd.Project, error) {
	p, err := scanProject(s.reader.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = ?`, id))
	if err != nil {
		return nil, mapErr(err, "get project", "Project")
	}
	return p, nil
}

// FindProjectByName implements webhookd.Store.
func (s *Store) FindProjectByName(ctx context.Context, name string) (*webhookd.Project, error) {
	p, err := scanProject(s.reader.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE name = ?`, name))
	if err != nil {
		return nil, mapErr(err, "find project", "Project")
	}
	return p, nil
}

// ListProjects returns every project, oldest first.
func (s *Store) ListProjects(ctx context.Context) ([]*webhookd.Project, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+projectColumns+` FROM projects ORDER BY create_time, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list projects: %w", err)
	}
	return collect(rows, scanProject, "list projects")
}

// UpdateProject implements webhookd.Store.
func (s *Store) UpdateProject(ctx context.Context, p *webhookd.Project) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE projects SET name = ?, audience = ? WHERE id = ?`, p.Name, p.Audience, p.ID)
		return affectedOne(res, err, "update project", "Project")
	})
	if isUniqueViolation(err) {
		return webhookd.Errorf(webhookd.ECONFLICT, "Project %q already exists.", p.Name)
	}
	return err
}

const apiKeyColumns = `id, project_id, name, hash, prefix, create_time, revoke_time`

func scanAPIKey(sc scanner) (*webhookd.APIKey, error) {
	var k webhookd.APIKey
	var created int64
	var revoked sql.NullInt64
	if err := sc.Scan(&k.ID, &k.ProjectID, &k.Name, &k.Hash, &k.Prefix, &created, &revoked); err != nil {
		return nil, err
	}
	k.CreateTime = fromMicros(created)
	k.RevokeTime = timePtr(revoked)
	return &k, nil
}

// CreateAPIKey stores k, assigning its ID and CreateTime when they are unset.
func (s *Store) CreateAPIKey(ctx context.Context, k *webhookd.APIKey) error {
	if k.ID == "" {
		k.ID = webhookd.NewID(webhookd.PrefixAPIKey)
	}
	if k.CreateTime.IsZero() {
		k.CreateTime = s.now()
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.ProjectID, k.Name, k.Hash, k.Prefix, micros(k.CreateTime), nullMicros(k.RevokeTime))
		return err
	})
	return mapCreateErr(err, "create api key", "API key")
}

// FindAPIKey implements webhookd.Store.
func (s *Store) FindAPIKey(ctx context.Context, hash []byte) (*webhookd.APIKey, error) {
	k, err := scanAPIKey(s.reader.QueryRowContext(ctx,
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ? AND revoke_time IS NULL`, hash))
	if err != nil {
		return nil, mapErr(err, "find api key", "API key")
	}
	return k, nil
}

// ListAPIKeys returns a project's keys, revoked ones included, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context, projectID string) ([]*webhookd.APIKey, error) {
	rows, err := s.reader.QueryContext(ctx,
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE project_id = ? ORDER BY create_time, id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list api keys: %w", err)
	}
	return collect(rows, scanAPIKey, "list api keys")
}

// RevokeAPIKey revokes a key at the store clock's now; revoking a revoked key
// keeps its first revocation time.
func (s *Store) RevokeAPIKey(ctx context.Context, projectID, keyID string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE api_keys SET revoke_time = coalesce(revoke_time, ?) WHERE project_id = ? AND id = ?`,
			micros(s.now()), projectID, keyID)
		return affectedOne(res, err, "revoke api key", "API key")
	})
}

// collect scans every row and closes rows.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error), op string) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return out, nil
}
