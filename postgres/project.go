package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/webhookd/webhookd"
)

const projectColumns = `id, name, audience, create_time`

func scanProject(row pgx.CollectableRow) (*webhookd.Project, error) {
	var p webhookd.Project
	err := row.Scan(&p.ID, &p.Name, &p.Audience, &p.CreateTime)
	return &p, err
}

// CreateProject stores p, assigning its ID and CreateTime when they are empty.
// Project names are unique: FindProjectByName must find one project.
func (s *Store) CreateProject(ctx context.Context, p *webhookd.Project) error {
	p.ID = orID(p.ID, webhookd.PrefixProject)
	p.CreateTime = orNow(p.CreateTime, s.now())
	_, err := s.pool.Exec(ctx, `INSERT INTO projects (`+projectColumns+`) VALUES ($1, $2, $3, $4)`,
		p.ID, p.Name, p.Audience, p.CreateTime)
	return mapErr(err, "create project", "Project")
}

// GetProject returns the project with id.
func (s *Store) GetProject(ctx context.Context, id string) (*webhookd.Project, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = $1`, id)
	p, err := pgx.CollectExactlyOneRow(rows, scanProject)
	return p, mapErr(err, "get project", "Project")
}

// FindProjectByName returns the project named name.
func (s *Store) FindProjectByName(ctx context.Context, name string) (*webhookd.Project, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+projectColumns+` FROM projects WHERE name = $1`, name)
	p, err := pgx.CollectExactlyOneRow(rows, scanProject)
	return p, mapErr(err, "find project", "Project")
}

// ListProjects returns every project, oldest first.
func (s *Store) ListProjects(ctx context.Context) ([]*webhookd.Project, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+projectColumns+` FROM projects ORDER BY create_time, id`)
	ps, err := pgx.CollectRows(rows, scanProject)
	return ps, mapErr(err, "list projects", "Project")
}

// UpdateProject writes p's Name and Audience.
func (s *Store) UpdateProject(ctx context.Context, p *webhookd.Project) error {
	tag, err := s.pool.Exec(ctx, `UPDATE projects SET name = $2, audience = $3 WHERE id = $1`,
		p.ID, p.Name, p.Audience)
	if err != nil {
		return mapErr(err, "update project", "Project")
	}
	return affectedOne(tag, "Project")
}

const apiKeyColumns = `id, project_id, name, hash, prefix, create_time, revoke_time`

func scanAPIKey(row pgx.CollectableRow) (*webhookd.APIKey, error) {
	var k webhookd.APIKey
	err := row.Scan(&k.ID, &k.ProjectID, &k.Name, &k.Hash, &k.Prefix, &k.CreateTime, &k.RevokeTime)
	return &k, err
}

// CreateAPIKey stores k, assigning its ID and CreateTime when they are empty.
func (s *Store) CreateAPIKey(ctx context.Context, k *webhookd.APIKey) error {
	k.ID = orID(k.ID, webhookd.PrefixAPIKey)
	k.CreateTime = orNow(k.CreateTime, s.now())
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.ID, k.ProjectID, k.Name, k.Hash, k.Prefix, k.CreateTime, nullTime(k.RevokeTime))
	return mapCreateErr(err, "create api key", "API key")
}

// FindAPIKey returns the unrevoked key whose SHA-256 is hash. It runs on
// every API request; the unique index on hash serves it.
func (s *Store) FindAPIKey(ctx context.Context, hash []byte) (*webhookd.APIKey, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1 AND revoke_time IS NULL`, hash)
	k, err := pgx.CollectExactlyOneRow(rows, scanAPIKey)
	return k, mapErr(err, "find api key", "API key")
}

// ListAPIKeys returns a project's keys, revoked ones included, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context, projectID string) ([]*webhookd.APIKey, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE project_id = $1 ORDER BY create_time, id`, projectID)
	ks, err := pgx.CollectRows(rows, scanAPIKey)
	return ks, mapErr(err, "list api keys", "API key")
}

// RevokeAPIKey revokes a key at the store clock's now. Revoking a revoked key
// keeps its first revocation time.
func (s *Store) RevokeAPIKey(ctx context.Context, projectID, keyID string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoke_time = COALESCE(revoke_time, $3) WHERE project_id = $1 AND id = $2`,
		projectID, keyID, s.now())
	if err != nil {
		return mapErr(err, "revoke api key", "API key")
	}
	return affectedOne(tag, "API key")
}
