package sqlite

import (
	"context"
	"database/sql"

	"github.com/webhookd/webhookd"
)

const eventTypeColumns = `project_id, name, description, schema, deprecated, create_time, update_time`

func scanEventType(sc scanner) (*webhookd.EventType, error) {
	var et webhookd.EventType
	var schema sql.NullString
	var created, updated int64
	if err := sc.Scan(&et.ProjectID, &et.Name, &et.Description, &schema, &et.Deprecated, &created, &updated); err != nil {
		return nil, err
	}
	if schema.Valid {
		et.Schema = []byte(schema.String)
	}
	et.CreateTime, et.UpdateTime = fromMicros(created), fromMicros(updated)
	return &et, nil
}

// nullSchema is a schema as its column keeps it: NULL for none.
func nullSchema(schema []byte) sql.NullString {
	return sql.NullString{String: string(schema), Valid: len(schema) > 0}
}

// CreateEventType stores et; its times default to the store clock's now.
func (s *Store) CreateEventType(ctx context.Context, et *webhookd.EventType) error {
	et.SetDefaults(s.now())
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO event_types (`+eventTypeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			et.ProjectID, et.Name, et.Description, nullSchema(et.Schema), et.Deprecated, micros(et.CreateTime), micros(et.UpdateTime))
		return err
	})
	return mapCreateErr(err, "create event type", "EventType")
}

// GetEventType returns the project's type named name.
func (s *Store) GetEventType(ctx context.Context, projectID, name string) (*webhookd.EventType, error) {
	var et *webhookd.EventType
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		et, err = scanEventType(tx.QueryRowContext(ctx,
			`SELECT `+eventTypeColumns+` FROM event_types WHERE project_id = ? AND name = ?`, projectID, name))
		return mapErr(err, "get event type", "EventType")
	})
	if err != nil {
		return nil, err
	}
	return et, nil
}

// ListEventTypes returns a page of the project's types by name.
func (s *Store) ListEventTypes(ctx context.Context, projectID string, page webhookd.Page) ([]*webhookd.EventType, error) {
	var out []*webhookd.EventType
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+eventTypeColumns+` FROM event_types
			WHERE project_id = ? AND name > ? ORDER BY name LIMIT ?`, projectID, page.After.ID, limit(page))
		if err != nil {
			return mapErr(err, "list event types", "EventType")
		}
		out, err = collect(rows, scanEventType, "list event types")
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateEventType writes Description, Schema, Deprecated and UpdateTime.
func (s *Store) UpdateEventType(ctx context.Context, et *webhookd.EventType) error {
	if et.UpdateTime.IsZero() {
		et.UpdateTime = s.now()
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE event_types SET description = ?, schema = ?, deprecated = ?, update_time = ?
			WHERE project_id = ? AND name = ?`,
			et.Description, nullSchema(et.Schema), et.Deprecated, micros(et.UpdateTime), et.ProjectID, et.Name)
		return affectedOne(res, err, "update event type", "EventType")
	})
}

// DeleteEventType removes the project's type named name.
func (s *Store) DeleteEventType(ctx context.Context, projectID, name string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM event_types WHERE project_id = ? AND name = ?`, projectID, name)
		return affectedOne(res, err, "delete event type", "EventType")
	})
}
