package lrotest

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/webhookd/webhookd"
)

// MemStore is also the in-memory reference webhookd.EventTypeStore, checked
// by storetest.RunEventTypes as the SQL stores are.
var _ webhookd.EventTypeStore = (*MemStore)(nil)

type eventTypeKey struct{ projectID, name string }

func cloneEventType(et *webhookd.EventType) *webhookd.EventType {
	c := *et
	c.Schema = slices.Clone(et.Schema)
	return &c
}

// CreateEventType stores a copy of et; its times default to the clock's now.
func (s *MemStore) CreateEventType(_ context.Context, et *webhookd.EventType) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := eventTypeKey{et.ProjectID, et.Name}
	if _, ok := s.eventTypes[k]; ok {
		return webhookd.Errorf(webhookd.ECONFLICT, "EventType already exists.")
	}
	et.SetDefaults(s.clock.Now().UTC().Truncate(time.Microsecond))
	if s.eventTypes == nil {
		s.eventTypes = map[eventTypeKey]*webhookd.EventType{}
	}
	s.eventTypes[k] = cloneEventType(et)
	return nil
}

// GetEventType returns a copy of the project's type named name.
func (s *MemStore) GetEventType(_ context.Context, projectID, name string) (*webhookd.EventType, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	et, ok := s.eventTypes[eventTypeKey{projectID, name}]
	if !ok {
		return nil, webhookd.NotFound("EventType")
	}
	return cloneEventType(et), nil
}

// ListEventTypes returns a page of the project's types by name, bytewise.
func (s *MemStore) ListEventTypes(_ context.Context, projectID string, page webhookd.Page) ([]*webhookd.EventType, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*webhookd.EventType
	for k, et := range s.eventTypes {
		if k.projectID == projectID && k.name > page.After.ID {
			out = append(out, cloneEventType(et))
		}
	}
	slices.SortFunc(out, func(a, b *webhookd.EventType) int { return strings.Compare(a.Name, b.Name) })
	if page.Size > 0 && len(out) > page.Size {
		out = out[:page.Size]
	}
	return out, nil
}

// UpdateEventType writes Description, Schema, Deprecated and UpdateTime.
func (s *MemStore) UpdateEventType(_ context.Context, et *webhookd.EventType) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.eventTypes[eventTypeKey{et.ProjectID, et.Name}]
	if !ok {
		return webhookd.NotFound("EventType")
	}
	if et.UpdateTime.IsZero() {
		et.UpdateTime = s.clock.Now().UTC().Truncate(time.Microsecond)
	}
	cur.Description, cur.Schema, cur.Deprecated, cur.UpdateTime = et.Description, slices.Clone(et.Schema), et.Deprecated, et.UpdateTime
	return nil
}

// DeleteEventType removes the project's type named name.
func (s *MemStore) DeleteEventType(_ context.Context, projectID, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := eventTypeKey{projectID, name}
	if _, ok := s.eventTypes[k]; !ok {
		return webhookd.NotFound("EventType")
	}
	delete(s.eventTypes, k)
	return nil
}
