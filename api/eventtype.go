package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/webhookd/webhookd"
)

// Event types over the API:
//
//	POST   /eventTypes                   create a project's type
//	GET    /eventTypes                   the catalog's types and the project's, by name
//	GET    /eventTypes/{name}
//	PATCH  /eventTypes/{name}            description, schema, deprecated (update_mask)
//	POST   /eventTypes/{name}:deprecate
//	DELETE /eventTypes/{name}
//
// The built-in catalog and the operator's WEBHOOKD_EVENT_TYPES are listed
// with the project's own and are read-only. A type's schema is checked when
// it is set and applied to the data of every event published with it.

// eventTypeJSON is the wire form of an event type.
type eventTypeJSON struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Deprecated  bool            `json:"deprecated"`
	// Origin is builtin, config or api; only api types can change.
	Origin     string `json:"origin"`
	CreateTime string `json:"create_time,omitempty"`
	UpdateTime string `json:"update_time,omitempty"`
}

// eventTypeOutputOnly are the fields a client cannot set; echoing them back
// is accepted and ignored.
var eventTypeOutputOnly = []string{"origin", "create_time", "update_time"}

var (
	// updatableEventTypeFields are the update_mask paths, in the order
	// updates apply.
	updatableEventTypeFields = []string{"description", "schema", "deprecated"}
	createEventTypeSchema    = schema{fields: append([]string{"name"}, updatableEventTypeFields...), ignored: eventTypeOutputOnly}
	updateEventTypeSchema    = schema{fields: updatableEventTypeFields, ignored: append([]string{"name"}, eventTypeOutputOnly...)}
)

func eventTypeToJSON(et *webhookd.EventType) eventTypeJSON {
	return eventTypeJSON{
		Name:        et.Name,
		Description: et.Description,
		Schema:      et.Schema,
		Deprecated:  et.Deprecated,
		Origin:      webhookd.OriginAPI,
		CreateTime:  formatTime(et.CreateTime),
		UpdateTime:  formatTime(et.UpdateTime),
	}
}

// catalogTypeJSON is the wire form of a type of the catalog: no times, as
// it was never created.
func (s *Server) catalogTypeJSON(name string) eventTypeJSON {
	out := eventTypeJSON{Name: name, Description: webhookd.CatalogDescription(name), Origin: s.cfg.Catalog.Origin(name)}
	if out.Origin == webhookd.OriginConfig {
		out.Description = "Configured by the operator in WEBHOOKD_EVENT_TYPES."
	}
	return out
}

// eventTypeNotFound is the answer for a name that is neither in the
// catalog nor defined by the project.
func eventTypeNotFound(name string) error {
	return webhookd.Errorf(webhookd.ENOTFOUND, "Event type %q not found.", name)
}

// readOnly is the answer to a change of a catalog type.
func (s *Server) readOnly(name string) error {
	origin := "built in"
	if s.cfg.Catalog.Origin(name) == webhookd.OriginConfig {
		origin = "configured by the operator (WEBHOOKD_EVENT_TYPES)"
	}
	return webhookd.Errorf(webhookd.EPRECONDITION,
		"Event type %q is %s and read-only; only the project's own types, created with POST /v1/eventTypes, can be changed or deleted.", name, origin)
}

// reservedTypePrefixes are the namespaces of the service's own events
// (webhook.ping and the operational events): a project's type there would
// pass for one of them at its receivers.
var reservedTypePrefixes = []string{"webhook.", "delivery."}

func reservedEventType(name string) bool {
	for _, p := range reservedTypePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// createEventType is POST /eventTypes.
func (s *Server) createEventType(w http.ResponseWriter, r *http.Request) error {
	body, err := s.decodeBody(w, r, createEventTypeSchema)
	if err != nil {
		return err
	}
	name, _, err := body.string("name")
	if err != nil {
		return err
	}
	if err := webhookd.ValidateEventTypeName("name", name); err != nil {
		return body.explain(err)
	}
	if reservedEventType(name) {
		return webhookd.FieldErrorf("name", "name %q is reserved: types under %s are the service's own events.", name, strings.Join(reservedTypePrefixes, ", "))
	}
	if s.cfg.Catalog.Origin(name) != "" {
		return webhookd.Errorf(webhookd.ECONFLICT, "Event type %q already exists: it is %s.", name,
			map[string]string{webhookd.OriginBuiltIn: "built in", webhookd.OriginConfig: "configured by the operator"}[s.cfg.Catalog.Origin(name)])
	}
	now := s.now()
	et := &webhookd.EventType{ProjectID: projectOf(r), Name: name, CreateTime: now, UpdateTime: now}
	for _, f := range updatableEventTypeFields {
		if err := s.setEventTypeField(et, body, f); err != nil {
			return err
		}
	}
	err = s.cfg.Store.CreateEventType(r.Context(), et)
	if webhookd.ErrorCode(err) == webhookd.ECONFLICT {
		return webhookd.Errorf(webhookd.ECONFLICT, "Event type %q already exists.", name)
	}
	if err != nil {
		return err
	}
	s.schemas.forget(et.ProjectID, et.Name) // a type deleted and defined again
	writeJSON(w, http.StatusOK, eventTypeToJSON(et))
	return nil
}

// setEventTypeField sets one updatable field of et from body; a field
// absent from body is cleared (see setWebhookField).
func (s *Server) setEventTypeField(et *webhookd.EventType, body *object, field string) error {
	switch field {
	case "description":
		v, _, err := body.string("description")
		if err != nil {
			return err
		}
		if len(v) > webhookd.MaxEventTypeDescriptionLength {
			return body.at("description").errorf("must be at most %d bytes.", webhookd.MaxEventTypeDescriptionLength)
		}
		et.Description = v
	case "schema":
		raw, ok := body.raw("schema")
		if !ok {
			et.Schema = nil
			return nil
		}
		if len(raw) > webhookd.MaxEventTypeSchemaBytes {
			return body.at("schema").errorf("must be at most %d bytes.", webhookd.MaxEventTypeSchemaBytes)
		}
		if raw[0] != '{' && !bytes.Equal(raw, []byte("true")) && !bytes.Equal(raw, []byte("false")) {
			return body.at("schema").errorf("must be a JSON Schema: an object (or true or false).")
		}
		if _, err := compileSchema(raw); err != nil {
			return body.at("schema").errorf("is not a valid JSON Schema (draft 2020-12 unless $schema names another): %s", err)
		}
		et.Schema = raw
	case "deprecated":
		v, _, err := body.bool("deprecated")
		if err != nil {
			return err
		}
		et.Deprecated = v
	}
	return nil
}

// findEventType returns the project's own type named in the path, or the
// error for a catalog type (read-only) or an unknown one.
func (s *Server) findEventType(r *http.Request) (*webhookd.EventType, error) {
	name := r.PathValue("name")
	if s.cfg.Catalog.Origin(name) != "" {
		return nil, s.readOnly(name)
	}
	et, err := s.cfg.Store.GetEventType(r.Context(), projectOf(r), name)
	if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
		return nil, eventTypeNotFound(name)
	}
	return et, err
}

// getEventType is GET /eventTypes/{name}.
func (s *Server) getEventType(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if ct, ok := s.cfg.Catalog.Canonical(name); ok {
		writeJSON(w, http.StatusOK, s.catalogTypeJSON(ct))
		return nil
	}
	et, err := s.cfg.Store.GetEventType(r.Context(), projectOf(r), name)
	if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
		return eventTypeNotFound(name)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, eventTypeToJSON(et))
	return nil
}

// listEventTypes is GET /eventTypes: the catalog's types and the project's
// own in one listing by name (bytewise), paged by the last name.
func (s *Server) listEventTypes(w http.ResponseWriter, r *http.Request) error {
	l, err := s.parseListing(r, "eventTypes")
	if err != nil {
		return err
	}
	after := l.after.ID
	own, err := s.cfg.Store.ListEventTypes(r.Context(), l.projectID, l.page())
	if err != nil {
		return err
	}
	items := make([]eventTypeJSON, 0, len(own))
	for _, et := range own {
		items = append(items, eventTypeToJSON(et))
	}
	for _, name := range s.cfg.Catalog.Types() {
		if name > after {
			items = append(items, s.catalogTypeJSON(name))
		}
	}
	slices.SortFunc(items, func(a, b eventTypeJSON) int { return strings.Compare(a.Name, b.Name) })
	items, next := trim(s, l, items, func(et eventTypeJSON) webhookd.Cursor { return webhookd.Cursor{ID: et.Name} })
	writeJSON(w, http.StatusOK, struct {
		EventTypes    []eventTypeJSON `json:"event_types"`
		NextPageToken string          `json:"next_page_token,omitempty"`
	}{items, next})
	return nil
}

// updateEventType is PATCH /eventTypes/{name}, with update_mask as PATCH
// /webhooks/{id} has it.
func (s *Server) updateEventType(w http.ResponseWriter, r *http.Request) error {
	body, err := s.decodeBody(w, r, updateEventTypeSchema)
	if err != nil {
		return err
	}
	mask, err := parseUpdateMask(r, updatableEventTypeFields)
	if err != nil {
		return err
	}
	if mask == nil {
		for _, f := range updatableEventTypeFields {
			if body.has(f) {
				mask = append(mask, f)
			}
		}
	}
	et, err := s.findEventType(r)
	if err != nil {
		return err
	}
	if len(mask) > 0 {
		for _, f := range mask {
			if err := s.setEventTypeField(et, body, f); err != nil {
				return err
			}
		}
		if err := s.saveEventType(r.Context(), et); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, eventTypeToJSON(et))
	return nil
}

// deprecateEventType is POST /eventTypes/{name}:deprecate. Its events
// still publish and deliver; listings mark it.
func (s *Server) deprecateEventType(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.decodeBody(w, r, schema{}); err != nil {
		return err
	}
	et, err := s.findEventType(r)
	if err != nil {
		return err
	}
	if !et.Deprecated {
		et.Deprecated = true
		if err := s.saveEventType(r.Context(), et); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, eventTypeToJSON(et))
	return nil
}

// saveEventType writes a changed type and drops its compiled schema.
func (s *Server) saveEventType(ctx context.Context, et *webhookd.EventType) error {
	et.UpdateTime = s.now()
	err := s.cfg.Store.UpdateEventType(ctx, et)
	s.schemas.forget(et.ProjectID, et.Name)
	if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
		return eventTypeNotFound(et.Name)
	}
	return err
}

// deleteEventType is DELETE /eventTypes/{name}. Events published with the
// type are kept, and so are webhooks subscribed to it; new events of it
// are refused as unknown.
func (s *Server) deleteEventType(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if s.cfg.Catalog.Origin(name) != "" {
		return s.readOnly(name)
	}
	err := s.cfg.Store.DeleteEventType(r.Context(), projectOf(r), name)
	s.schemas.forget(projectOf(r), name)
	if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
		return eventTypeNotFound(name)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// typeLookup resolves the event types of one request's events in one
// project, reading each of the project's own types once.
type typeLookup struct {
	s         *Server
	store     webhookd.EventTypeStore
	ctx       context.Context
	projectID string
	own       map[string]*webhookd.EventType // nil value: not defined
}

func (s *Server) newTypeLookup(ctx context.Context, projectID string) *typeLookup {
	return &typeLookup{s: s, store: s.cfg.Store, ctx: ctx, projectID: projectID, own: map[string]*webhookd.EventType{}}
}

// get returns the project's own type named name, or nil.
func (l *typeLookup) get(name string) (*webhookd.EventType, error) {
	if et, ok := l.own[name]; ok {
		return et, nil
	}
	et, err := l.store.GetEventType(l.ctx, l.projectID, name)
	if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
		et, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	l.own[name] = et
	return et, nil
}

// defined is the lookup as a webhookd.DefinedFunc.
func (l *typeLookup) defined(name string) (bool, error) {
	et, err := l.get(name)
	return et != nil, err
}

// resolve returns the canonical type of an event published as typ, and
// the project's type when the project defined it (nil for the catalog's).
func (l *typeLookup) resolve(field, typ string) (string, *webhookd.EventType, error) {
	ct, err := l.s.cfg.Catalog.Resolve(field, typ, l.defined)
	if err != nil || l.s.cfg.Catalog.Origin(ct) != "" {
		return ct, nil, err
	}
	et, err := l.get(ct)
	return ct, et, err
}

// checkData checks the data of an event of the project's type et against
// its schema; field names the data in errors (events[2].data).
func (l *typeLookup) checkData(field string, et *webhookd.EventType, data json.RawMessage) error {
	if et == nil || len(et.Schema) == 0 {
		return nil
	}
	sch, err := l.s.schemas.get(et)
	if err != nil {
		return fmt.Errorf("event type %s: stored schema: %w", et.Name, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return webhookd.FieldErrorf(field, "%s must be a JSON object.", field)
	}
	err = sch.Validate(inst)
	var verr *jsonschema.ValidationError
	if errors.As(err, &verr) {
		return &webhookd.Error{Code: webhookd.EINVALID, Field: field, Message: fmt.Sprintf(
			"%s does not match the schema of event type %q: %s; nothing was published.", field, et.Name, violation(verr))}
	}
	return err
}

// violation describes the first rule a value broke: where in the value,
// what the rule says, and where the rule is in the schema. Of the rules
// that failed together (allOf, anyOf, properties), it follows the first to
// the innermost one, which says what is wrong in plain words.
func violation(verr *jsonschema.ValidationError) string {
	u := verr.DetailedOutput()
	for len(u.Errors) > 0 {
		u = &u.Errors[0]
	}
	at := u.InstanceLocation
	if at == "" {
		at = "/"
	}
	msg := verr.Error()
	if u.Error != nil {
		msg = u.Error.String()
	}
	return fmt.Sprintf("at %s: %s (schema rule %s)", at, msg, u.KeywordLocation)
}

// refusingLoader loads no schema from outside the one given: a $ref may
// name only the schema's own parts (and the drafts' meta-schemas, which the
// library holds), never a file or a host.
type refusingLoader struct{}

func (refusingLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("$ref %q: schemas may refer only to their own parts", url)
}

// schemaURL is the name a compiled schema has in its own compiler.
const schemaURL = "urn:webhookd:event-type-schema"

// compileSchema compiles a JSON Schema, draft 2020-12 unless it names
// another with $schema.
func compileSchema(raw []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(refusingLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	sch, err := c.Compile(schemaURL)
	var meta *jsonschema.SchemaValidationError
	var verr *jsonschema.ValidationError
	switch {
	case errors.As(err, &meta) && errors.As(meta.Err, &verr):
		return nil, fmt.Errorf("it breaks the draft's meta-schema %s", violation(verr))
	case err != nil:
		return nil, errors.New(strings.ReplaceAll(err.Error(), schemaURL, "schema"))
	}
	return sch, nil
}

// maxCachedSchemas bounds the schema cache; past it the cache starts
// afresh, which costs one compile per type in use.
const maxCachedSchemas = 10_000

// schemaCache keeps compiled schemas so that publishing never compiles one
// per event. An entry is for one version of a type, known by its
// UpdateTime: a change by this process forgets the entry at once, and a
// change by another process sharing the store is seen at the next publish,
// which reads the type.
type schemaCache struct {
	mu sync.Mutex
	m  map[schemaKey]compiledSchema
	// compiles counts compilations, for tests.
	compiles atomic.Int64
}

type schemaKey struct{ projectID, name string }

type compiledSchema struct {
	updated time.Time
	size    int
	schema  *jsonschema.Schema
}

// get returns et's schema compiled, compiling it on first use.
func (c *schemaCache) get(et *webhookd.EventType) (*jsonschema.Schema, error) {
	k := schemaKey{et.ProjectID, et.Name}
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok && e.updated.Equal(et.UpdateTime) && e.size == len(et.Schema) {
		return e.schema, nil
	}
	sch, err := compileSchema(et.Schema)
	if err != nil {
		return nil, err
	}
	c.compiles.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedSchemas {
		c.m = map[schemaKey]compiledSchema{}
	}
	c.m[k] = compiledSchema{updated: et.UpdateTime, size: len(et.Schema), schema: sch}
	return sch, nil
}

// forget drops a type's compiled schema.
func (c *schemaCache) forget(projectID, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, schemaKey{projectID, name})
}
