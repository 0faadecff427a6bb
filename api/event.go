package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/webhookd/webhookd"
)

// Limits of the events API.
const (
	// maxIdempotencyKeyLength bounds idempotency keys, which are stored and
	// indexed per project.
	maxIdempotencyKeyLength = 256
)

// Limits of POST /events:batchPublish.
const (
	// MaxBatchPublishEvents bounds the events of one batch publish. They
	// are written in one transaction, which on SQLite holds the single
	// writer that every concurrent publish waits for.
	MaxBatchPublishEvents = 100
	// MaxBatchPublishBodyBytes bounds a batch publish body (or
	// Config.MaxBodyBytes, if that is larger): 40 KiB per event at the most
	// events, ample for thin envelopes, while each event alone is still
	// bounded as a POST /events body is.
	MaxBatchPublishBodyBytes = 4 << 20
)

// eventJSON is the wire form of an event. Data is the envelope's data as
// delivered (with user_metadata merged in), not as published.
type eventJSON struct {
	ID             string             `json:"id"`
	Type           string             `json:"type"`
	Data           json.RawMessage    `json:"data"`
	CreateTime     string             `json:"create_time"`
	DeliveryCount  int                `json:"delivery_count"`
	IdempotencyKey string             `json:"idempotency_key,omitempty"`
	WebhookConfig  *webhookConfigJSON `json:"webhook_config,omitempty"`
}

type webhookConfigJSON struct {
	URIs         []string        `json:"uris,omitempty"`
	UserMetadata json.RawMessage `json:"user_metadata,omitempty"`
}

func eventToJSON(ev *webhookd.Event) (eventJSON, error) {
	var env webhookd.Envelope
	if err := json.Unmarshal(ev.Payload, &env); err != nil {
		return eventJSON{}, fmt.Errorf("event %s: payload is not an envelope: %w", ev.ID, err)
	}
	return eventWithData(ev, env.Data), nil
}

// publishedToJSON is eventToJSON for an answer of a publish of ne: an event
// the call created has ne's data in its payload, which need not be read
// back (the encoder compacts it as it would the payload's); an event an
// idempotency key answered has the data it was first published with.
func publishedToJSON(ev *webhookd.Event, created bool, ne webhookd.NewEvent) (eventJSON, error) {
	if !created {
		return eventToJSON(ev)
	}
	return eventWithData(ev, ne.Data), nil
}

// eventWithData is the JSON of ev, with data as its data.
func eventWithData(ev *webhookd.Event, data json.RawMessage) eventJSON {
	out := eventJSON{
		ID:             ev.ID,
		Type:           ev.Type,
		Data:           data,
		CreateTime:     formatTime(ev.CreateTime),
		DeliveryCount:  ev.DeliveryCount,
		IdempotencyKey: ev.IdempotencyKey,
	}
	if len(out.Data) == 0 {
		out.Data = json.RawMessage(`{}`)
	}
	out.WebhookConfig = webhookConfigToJSON(ev.WebhookConfig)
	return out
}

// webhookConfigToJSON is the wire form of an event's or a job's
// webhook_config; nil when it has nothing to show.
func webhookConfigToJSON(wc *webhookd.WebhookConfig) *webhookConfigJSON {
	if wc == nil || (len(wc.URIs) == 0 && len(wc.UserMetadata) == 0) {
		return nil
	}
	return &webhookConfigJSON{URIs: wc.URIs, UserMetadata: wc.UserMetadata}
}

var (
	publishEventSchema  = schema{fields: []string{"type", "data", "webhook_config", "idempotency_key"}}
	webhookConfigSchema = schema{fields: []string{"uris", "user_metadata"}}
	batchPublishSchema  = schema{fields: []string{"events"}}
)

// publishEvent is POST /events: any platform's event, through the same
// outbox and delivery path as job state changes. A repeated idempotency key
// answers the first event (and creates nothing), so a publisher may retry
// after a timeout without fear of a duplicate.
func (s *Server) publishEvent(w http.ResponseWriter, r *http.Request) error {
	body, err := s.decodeBody(w, r, publishEventSchema)
	if err != nil {
		return err
	}
	ne, err := s.newEvent(s.newTypeLookup(r.Context(), projectOf(r)), body)
	if err != nil {
		return err
	}
	ne.TraceParent = traceParentOf(r)
	ctx, end := s.startCommitSpan(r.Context(), 1)
	ev, created, err := s.cfg.Store.PublishEvent(ctx, ne)
	end(err)
	if err != nil {
		return err
	}
	out, err := publishedToJSON(ev, created, ne)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// batchPublishEvents is POST /events:batchPublish: {"events": [...]}, each
// element what POST /events takes, published in one transaction, all or
// nothing, and answered in order. Idempotency keys work as if the events
// were published one after another (see webhookd.Store.PublishEvents).
func (s *Server) batchPublishEvents(w http.ResponseWriter, r *http.Request) error {
	body, err := readBodyUpTo(w, r, max(s.cfg.MaxBodyBytes, MaxBatchPublishBodyBytes))
	if err != nil {
		return err
	}
	events, err := s.parseBatchPublish(s.newTypeLookup(r.Context(), projectOf(r)), body)
	if err != nil {
		return err
	}
	tp := traceParentOf(r)
	for i := range events {
		events[i].TraceParent = tp
	}
	ctx, end := s.startCommitSpan(r.Context(), len(events))
	published, err := s.cfg.Store.PublishEvents(ctx, events)
	end(err)
	if err != nil {
		return err
	}
	out := struct {
		Events []eventJSON `json:"events"`
	}{Events: make([]eventJSON, len(published))}
	for i, p := range published {
		if out.Events[i], err = publishedToJSON(p.Event, p.Created, events[i]); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// parseBatchPublish reads the body of POST /events:batchPublish. Each
// event is read by newEvent, as POST /events reads its body, and is bounded
// as that body is; errors name the event's fields as events[i].type.
func (s *Server) parseBatchPublish(types *typeLookup, body []byte) ([]webhookd.NewEvent, error) {
	o, err := decodeObject("", body, batchPublishSchema)
	if err != nil {
		return nil, err
	}
	raws, ok, err := o.list("events")
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, webhookd.FieldErrorf("events", "events is required: a list of 1 to %d events.", MaxBatchPublishEvents)
	case len(raws) == 0:
		return nil, webhookd.FieldErrorf("events", "events must list at least one event.")
	case len(raws) > MaxBatchPublishEvents:
		return nil, webhookd.FieldErrorf("events", "events must list at most %d events, got %d.", MaxBatchPublishEvents, len(raws))
	}
	events := make([]webhookd.NewEvent, len(raws))
	for i, raw := range raws {
		path := fmt.Sprintf("events[%d]", i)
		if int64(len(raw)) > s.cfg.MaxBodyBytes {
			return nil, &webhookd.Error{Code: webhookd.ETOOLARGE, Field: path,
				Message: fmt.Sprintf("%s must be at most %d bytes, as the body of POST /events.", path, s.cfg.MaxBodyBytes)}
		}
		eo, err := o.element("events", i, raw, publishEventSchema)
		if err != nil {
			return nil, err
		}
		if events[i], err = s.newEvent(types, eo); err != nil {
			return nil, err
		}
	}
	return events, nil
}

// newEvent reads one event to publish: the body of POST /events, or one
// element of a batch publish, whose path o's errors name. An event of a
// type the project defined with a schema has its data checked against it
// (the data as sent, before webhook_config's user_metadata is merged in).
func (s *Server) newEvent(types *typeLookup, o *object) (webhookd.NewEvent, error) {
	ne := webhookd.NewEvent{ProjectID: types.projectID, Source: "api"}
	typ, _, err := o.string("type")
	if err != nil {
		return ne, err
	}
	field := o.qualify("type")
	if typ == "" {
		return ne, webhookd.FieldErrorf(field, "%s is required; built-in types: %s, and the project's own (GET /v1/eventTypes).",
			field, strings.Join(s.cfg.Catalog.Types(), ", "))
	}
	var et *webhookd.EventType
	if ne.Type, et, err = types.resolve(field, typ); err != nil {
		return ne, o.explain(err)
	}
	if webhookd.IsOperational(ne.Type) {
		// A receiver trusts these to come from the service.
		return ne, webhookd.FieldErrorf(field, "%s: %s is an operational event, published by webhookd itself; webhooks subscribe to it, nobody publishes it.", field, ne.Type)
	}
	if ne.Data, _, err = o.rawObject("data"); err != nil {
		return ne, err
	}
	if ne.Data == nil {
		ne.Data = json.RawMessage(`{}`)
	}
	if err := types.checkData(o.qualify("data"), et, ne.Data); err != nil {
		return ne, err
	}
	if ne.WebhookConfig, err = s.webhookConfig(o); err != nil {
		return ne, err
	}
	if ne.WebhookConfig != nil {
		if ne.Data, err = webhookd.MergeUserMetadata(ne.Data, ne.WebhookConfig.UserMetadata); err != nil {
			field := o.qualify("data")
			return ne, webhookd.FieldErrorf(field, "%s must be a JSON object.", field)
		}
	}
	if ne.IdempotencyKey, _, err = o.string("idempotency_key"); err != nil {
		return ne, err
	}
	if len(ne.IdempotencyKey) > maxIdempotencyKeyLength {
		return ne, o.at("idempotency_key").errorf("must be at most %d bytes.", maxIdempotencyKeyLength)
	}
	return ne, nil
}

// webhookConfig reads the optional webhook_config (or webhookConfig) of
// parent: a published event, or a job's request (a batch, its config, an
// interaction, a video). It is checked by webhookd.ValidateWebhookConfig,
// the one rule for both; nil means the events go to static webhooks.
func (s *Server) webhookConfig(parent *object) (*webhookd.WebhookConfig, error) {
	cfg, ok, err := parent.object("webhook_config", webhookConfigSchema)
	if !ok || err != nil {
		return nil, err
	}
	var wc webhookd.WebhookConfig
	if wc.URIs, _, err = cfg.strings("uris"); err != nil {
		return nil, err
	}
	if wc.UserMetadata, _, err = cfg.rawObject("user_metadata"); err != nil {
		return nil, err
	}
	out, err := s.cfg.URIPolicy.ValidateWebhookConfig(cfg.path, wc)
	return out, cfg.explain(err)
}

// listEvents is GET /events, newest first.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	l, err := s.parseListing(r, "events")
	if err != nil {
		return err
	}
	filter, err := parseEventFilter(r, s.cfg.Catalog)
	if err != nil {
		return err
	}
	items, err := s.cfg.Store.ListEvents(r.Context(), l.projectID, filter, l.page())
	if err != nil {
		return err
	}
	items, next := trim(s, l, items, func(ev *webhookd.Event) webhookd.Cursor {
		return webhookd.Cursor{Time: ev.CreateTime, ID: ev.ID}
	})
	out := struct {
		Events        []eventJSON `json:"events"`
		NextPageToken string      `json:"next_page_token,omitempty"`
	}{Events: make([]eventJSON, len(items)), NextPageToken: next}
	for i, ev := range items {
		if out.Events[i], err = eventToJSON(ev); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getEvent is GET /events/{id}.
func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) error {
	ev, err := s.findEvent(r)
	if err != nil {
		return err
	}
	out, err := eventToJSON(ev)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) findEvent(r *http.Request) (*webhookd.Event, error) {
	ev, err := s.cfg.Store.GetEvent(r.Context(), projectOf(r), r.PathValue("id"))
	if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
		return nil, webhookd.NotFound("Event")
	}
	return ev, err
}

// deliveryJSON is the wire form of a delivery with its attempt log.
type deliveryJSON struct {
	ID           string `json:"id"`
	EventID      string `json:"event_id"`
	WebhookID    string `json:"webhook_id,omitempty"`
	URI          string `json:"uri"`
	Kind         string `json:"kind"`
	State        string `json:"state"`
	AttemptCount int    `json:"attempt_count"`
	// NextAttemptTime is set only while the delivery is pending.
	NextAttemptTime string        `json:"next_attempt_time,omitempty"`
	LastStatusCode  int           `json:"last_status_code,omitempty"`
	LastError       string        `json:"last_error,omitempty"`
	CreateTime      string        `json:"create_time"`
	Attempts        []attemptJSON `json:"attempts,omitzero"`
}

type attemptJSON struct {
	Number     int    `json:"number"`
	Time       string `json:"time"`
	StatusCode int    `json:"status_code,omitempty"`
	LatencyMS  int64  `json:"latency_ms"`
	Error      string `json:"error,omitempty"`
	ErrorStage string `json:"error_stage,omitempty"`
	// ResponseHeaders and ResponseBody are the receiver's answer, bounded
	// as the engine kept it.
	ResponseHeaders map[string]string `json:"response_headers,omitempty"`
	ResponseBody    string            `json:"response_body,omitempty"`
}

// deliveryJSON renders d with its attempts, read from the store.
func (s *Server) deliveryJSON(r *http.Request, d *webhookd.Delivery) (deliveryJSON, error) {
	attempts, err := s.cfg.Store.ListAttempts(r.Context(), projectOf(r), d.ID)
	if err != nil {
		return deliveryJSON{}, fmt.Errorf("list attempts of %s: %w", d.ID, err)
	}
	if attempts == nil {
		attempts = []*webhookd.Attempt{}
	}
	return newDeliveryJSON(d, attempts), nil
}

// newDeliveryJSON renders d with attempts; nil attempts (a listing that
// does not read them) leaves the field out.
func newDeliveryJSON(d *webhookd.Delivery, attempts []*webhookd.Attempt) deliveryJSON {
	out := deliveryJSON{
		ID:             d.ID,
		EventID:        d.EventID,
		WebhookID:      d.WebhookID,
		URI:            d.URI,
		Kind:           string(d.Kind),
		State:          string(d.State),
		AttemptCount:   d.AttemptCount,
		LastStatusCode: d.LastStatusCode,
		LastError:      d.LastError,
		CreateTime:     formatTime(d.CreateTime),
	}
	if d.State == webhookd.DeliveryPending {
		out.NextAttemptTime = formatTime(d.NextAttemptTime)
	}
	if attempts != nil {
		out.Attempts = make([]attemptJSON, len(attempts))
	}
	for i, a := range attempts {
		out.Attempts[i] = attemptJSON{
			Number:          a.Number,
			Time:            formatTime(a.Time),
			StatusCode:      a.StatusCode,
			LatencyMS:       a.Latency.Milliseconds(),
			Error:           a.Error,
			ErrorStage:      a.ErrorStage,
			ResponseHeaders: headerMap(a.ResponseHeaders),
			ResponseBody:    a.ResponseBody,
		}
	}
	return out
}

// listEventDeliveries is GET /events/{id}/deliveries: every destination of
// the event with every attempt made.
func (s *Server) listEventDeliveries(w http.ResponseWriter, r *http.Request) error {
	ev, err := s.findEvent(r)
	if err != nil {
		return err
	}
	ds, err := s.cfg.Store.ListDeliveries(r.Context(), ev.ProjectID, ev.ID)
	if err != nil {
		return err
	}
	out := struct {
		Deliveries []deliveryJSON `json:"deliveries"`
	}{Deliveries: make([]deliveryJSON, len(ds))}
	for i, d := range ds {
		if out.Deliveries[i], err = s.deliveryJSON(r, d); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getDelivery is GET /deliveries/{id}.
func (s *Server) getDelivery(w http.ResponseWriter, r *http.Request) error {
	d, err := s.cfg.Store.GetDelivery(r.Context(), projectOf(r), r.PathValue("id"))
	if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
		return webhookd.NotFound("Delivery")
	}
	if err != nil {
		return err
	}
	out, err := s.deliveryJSON(r, d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// retryDelivery is POST /deliveries/{id}:retry: the delivery becomes due
// now, with a fresh retry window, whatever state it was in.
func (s *Server) retryDelivery(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.decodeBody(w, r, schema{}); err != nil {
		return err
	}
	d, err := s.cfg.Store.RetryDelivery(r.Context(), projectOf(r), r.PathValue("id"))
	if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
		return webhookd.NotFound("Delivery")
	}
	if err != nil {
		return err
	}
	out, err := s.deliveryJSON(r, d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

var recoverSchema = schema{fields: []string{"since"}}

// recoverDeliveries is POST /webhooks/{id}:recover: every failed delivery
// of the webhook created at or after since is retried, e.g. after a
// receiver's outage outlasted the retry window.
func (s *Server) recoverDeliveries(w http.ResponseWriter, r *http.Request) error {
	body, err := s.decodeBody(w, r, recoverSchema)
	if err != nil {
		return err
	}
	v, ok, err := body.string("since")
	if err != nil {
		return err
	}
	if !ok || v == "" {
		return webhookd.FieldErrorf("since", "since is required (an RFC 3339 time).")
	}
	since, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return webhookd.FieldErrorf("since", "since must be an RFC 3339 time such as 2026-01-22T12:00:00Z, got %q.", v)
	}
	wh, err := s.findWebhook(r)
	if err != nil {
		return err
	}
	n, err := s.cfg.Store.RecoverDeliveries(r.Context(), wh.ProjectID, wh.ID, since)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"recovered": n})
	return nil
}
