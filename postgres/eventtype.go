package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/webhookd/webhookd"
)

const eventTypeColumns = `project_id, name, description, schema, deprecated, create_time, update_time`

func scanEventType(row pgx.CollectableRow) (*webhookd.EventType, error) {
	var et webhookd.EventType
	var schema *string
	if err := row.Scan(&et.ProjectID, &et.Name, &et.Description, &schema, &et.Deprecated, &et.CreateTime, &et.UpdateTime); err != nil {
		return nil, err
	}
	if schema != nil {
		et.Schema = []byte(*schema)
	}
	return &et, nil
}

// nullSchema is a schema as its column keeps it: NULL for none.
func nullSchema(schema []byte) *string {
	if len(schema) == 0 {
		return nil
	}
	s := string(schema)
	return &s
}

// CreateEventType stores et; its times default to the store clock's now.
func (s *Store) CreateEventType(ctx context.Context, et *webhookd.EventType) error {
	et.SetDefaults(s.now())
	_, err := s.pool.Exec(ctx, `INSERT INTO event_types (`+eventTypeColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		et.ProjectID, et.Name, et.Description, nullSchema(et.Schema), et.Deprecated, et.CreateTime, et.UpdateTime)
	return mapCreateErr(err, "create event type", "EventType")
}

// GetEventType returns the project's type named name.
func (s *Store) GetEventType(ctx context.Context, projectID, name string) (*webhookd.EventType, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+eventTypeColumns+` FROM event_types WHERE project_id = $1 AND name = $2`, projectID, name)
	et, err := pgx.CollectExactlyOneRow(rows, scanEventType)
	return et, mapErr(err, "get event type", "EventType")
}

// ListEventTypes returns a page of the project's types by name; the column
// is COLLATE "C", so names compare bytewise, as in SQLite and Go.
func (s *Store) ListEventTypes(ctx context.Context, projectID string, page webhookd.Page) ([]*webhookd.EventType, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+eventTypeColumns+` FROM event_types
		WHERE project_id = $1 AND name > $2
		ORDER BY name LIMIT $3`, projectID, page.After.ID, limitOf(page.Size))
	out, err := pgx.CollectRows(rows, scanEventType)
	return out, mapErr(err, "list event types", "EventType")
}

// UpdateEventType writes Description, Schema, Deprecated and UpdateTime.
func (s *Store) UpdateEventType(ctx context.Context, et *webhookd.EventType) error {
	et.UpdateTime = orNow(et.UpdateTime, s.now())
	tag, err := s.pool.Exec(ctx, `UPDATE event_types SET description = $3, schema = $4, deprecated = $5, update_time = $6
		WHERE project_id = $1 AND name = $2`,
		et.ProjectID, et.Name, et.Description, nullSchema(et.Schema), et.Deprecated, et.UpdateTime)
	if err != nil {
		return mapErr(err, "update event type", "EventType")
	}
	return affectedOne(tag, "EventType")
}

// DeleteEventType removes the project's type named name.
func (s *Store) DeleteEventType(ctx context.Context, projectID, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM event_types WHERE project_id = $1 AND name = $2`, projectID, name)
	if err != nil {
		return mapErr(err, "delete event type", "EventType")
	}
	return affectedOne(tag, "EventType")
}
