package webhookd

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// Event type names and subscriptions. A name is dot-separated parts of
// [a-zA-Z0-9_] (order.shipped); a webhook subscribes to exact names or to a
// prefix wildcard, a name followed by ".*" (order.* receives order.shipped
// and order.item.added, not order itself). The wildcard is matched here,
// once, for routing and for every check of a subscription.

// MaxEventTypeNameLength bounds an event type's name.
const MaxEventTypeNameLength = 128

// WildcardSuffix ends a prefix subscription.
const WildcardSuffix = ".*"

// ValidateEventTypeName returns an EINVALID error naming field unless name is
// dot-separated non-empty parts of letters, digits and underscores.
func ValidateEventTypeName(field, name string) error {
	switch {
	case name == "":
		return FieldErrorf(field, "%s is required.", field)
	case len(name) > MaxEventTypeNameLength:
		return FieldErrorf(field, "%s must be at most %d characters.", field, MaxEventTypeNameLength)
	}
	for part := range strings.SplitSeq(name, ".") {
		if part == "" {
			return FieldErrorf(field, "%s %q must be dot-separated parts without empty ones, such as order.shipped.", field, name)
		}
		for _, c := range part {
			if !isNameChar(c) {
				return FieldErrorf(field, "%s %q may contain only letters, digits and underscores between the dots, such as order.shipped; %q is not allowed.", field, name, c)
			}
		}
	}
	return nil
}

func isNameChar(c rune) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

// WildcardPrefix returns the prefix of a subscription written as a prefix
// wildcard ("order." for "order.*"), and whether it is one.
func WildcardPrefix(sub string) (prefix string, ok bool) {
	if !strings.HasSuffix(sub, WildcardSuffix) {
		return "", false
	}
	return sub[:len(sub)-1], true
}

// SubscriptionMatches reports whether the subscription sub (an exact name or
// a prefix wildcard) covers events of type typ.
func SubscriptionMatches(sub, typ string) bool {
	if prefix, ok := WildcardPrefix(sub); ok {
		return strings.HasPrefix(typ, prefix) && len(typ) > len(prefix)
	}
	return sub == typ
}

// ValidateWildcard returns an EINVALID error naming field unless sub is a
// valid prefix wildcard: an event type name followed by ".*".
func ValidateWildcard(field, sub string) error {
	prefix, ok := WildcardPrefix(sub)
	if !ok {
		return FieldErrorf(field, "%s %q is not a prefix wildcard such as order.*.", field, sub)
	}
	if err := ValidateEventTypeName(field, strings.TrimSuffix(prefix, ".")); err != nil {
		return FieldErrorf(field, "%s %q must be an event type name followed by .*, such as order.*: %s", field, sub, ErrorMessage(err))
	}
	return nil
}

// EventType is a kind of event a project defined over the API, besides the
// built-in catalog and the types an operator configured (see Catalog).
// Events of a type are published by name; its Schema, when set, is what
// their data must satisfy.
type EventType struct {
	ProjectID   string
	Name        string
	Description string
	// Schema is a JSON Schema (draft 2020-12) for the data of the type's
	// events, kept as the caller wrote it; nil when the data is free.
	Schema json.RawMessage
	// Deprecated types still publish and deliver; listings mark them so
	// that publishers and subscribers move on.
	Deprecated bool
	CreateTime time.Time
	UpdateTime time.Time
}

// Limits on event type fields.
const (
	MaxEventTypeDescriptionLength = 1024
	MaxEventTypeSchemaBytes       = 64 << 10
)

// EventTypeStore holds the event types of each project. Names are unique
// per project; another project's types answer ENOTFOUND.
type EventTypeStore interface {
	// CreateEventType stores et; a name the project already has is an
	// ECONFLICT error.
	CreateEventType(ctx context.Context, et *EventType) error
	// GetEventType returns the project's type named name, or an ENOTFOUND
	// error naming "EventType".
	GetEventType(ctx context.Context, projectID, name string) (*EventType, error)
	// ListEventTypes orders by Name (byte order); Page.After.ID is the
	// name after which the page starts.
	ListEventTypes(ctx context.Context, projectID string, page Page) ([]*EventType, error)
	// UpdateEventType writes Description, Schema, Deprecated and
	// UpdateTime of the project's type named et.Name.
	UpdateEventType(ctx context.Context, et *EventType) error
	// DeleteEventType removes the type; events published with it and
	// webhooks subscribed to it are kept.
	DeleteEventType(ctx context.Context, projectID, name string) error
}

// SetDefaults fills the times a new type leaves empty, as a store creates
// it at now.
func (et *EventType) SetDefaults(now time.Time) {
	if et.CreateTime.IsZero() {
		et.CreateTime = now
	}
	if et.UpdateTime.IsZero() {
		et.UpdateTime = et.CreateTime
	}
}
