package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/webhookd/webhookd"
)

// The delivery log as the console reads it: events searched by type, time
// and delivery state; a webhook's deliveries; each attempt with where it
// failed and what the receiver answered.
//
//	GET /events?type&start_time&end_time&delivery_state&page_size&page_token
//	GET /webhooks/{id}/deliveries?state&page_size&page_token   newest first

// parseEventFilter reads the filters of GET /events. Times are RFC 3339;
// type accepts the catalog's spellings (batch.completed is batch.succeeded).
func parseEventFilter(r *http.Request, catalog *webhookd.Catalog) (webhookd.EventFilter, error) {
	var f webhookd.EventFilter
	typ, err := queryParam(r, "type")
	if err != nil {
		return f, err
	}
	if typ = strings.TrimSpace(typ); typ != "" {
		if c, ok := catalog.Canonical(typ); ok {
			typ = c
		}
		f.Type = typ // an unknown type matches nothing, as a search should
	}
	if f.StartTime, err = timeParam(r, "start_time"); err != nil {
		return f, err
	}
	if f.EndTime, err = timeParam(r, "end_time"); err != nil {
		return f, err
	}
	if f.DeliveryState, err = stateParam(r, "delivery_state"); err != nil {
		return f, err
	}
	return f, nil
}

// timeParam reads an optional RFC 3339 time from the query.
func timeParam(r *http.Request, name string) (time.Time, error) {
	v, err := queryParam(r, name)
	if err != nil || v == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, webhookd.FieldErrorf(name, "%s must be an RFC 3339 time such as 2026-01-22T12:00:00Z, got %q.", name, v)
	}
	return t, nil
}

// stateParam reads an optional delivery state from the query.
func stateParam(r *http.Request, name string) (webhookd.DeliveryState, error) {
	v, err := queryParam(r, name)
	if err != nil || v == "" {
		return "", err
	}
	st, ok := webhookd.ParseDeliveryState(v)
	if !ok {
		return "", webhookd.FieldErrorf(name, "%s must be %s, %s or %s, got %q.", name,
			webhookd.DeliveryPending, webhookd.DeliverySucceeded, webhookd.DeliveryFailed, v)
	}
	return st, nil
}

// listWebhookDeliveries is GET /webhooks/{id}/deliveries: the webhook's
// deliveries, newest first, without their attempts (GET
// /events/{id}/deliveries has those). A deleted webhook's history stays
// listed by its id.
func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	l, err := s.parseListing(r, "webhook-deliveries/"+r.PathValue("id"))
	if err != nil {
		return err
	}
	state, err := stateParam(r, "state")
	if err != nil {
		return err
	}
	items, err := s.cfg.Store.ListWebhookDeliveries(r.Context(), l.projectID, r.PathValue("id"), state, l.page())
	if err != nil {
		return err
	}
	items, next := trim(s, l, items, func(d *webhookd.Delivery) webhookd.Cursor {
		return webhookd.Cursor{Time: d.CreateTime, ID: d.ID}
	})
	out := struct {
		Deliveries    []deliveryJSON `json:"deliveries"`
		NextPageToken string         `json:"next_page_token,omitempty"`
	}{Deliveries: make([]deliveryJSON, len(items)), NextPageToken: next}
	for i, d := range items {
		out.Deliveries[i] = newDeliveryJSON(d, nil)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// headerMap reads the "Name: value" lines an attempt keeps of a response's
// headers.
func headerMap(lines string) map[string]string {
	if lines == "" {
		return nil
	}
	m := map[string]string{}
	for line := range strings.SplitSeq(lines, "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && name != "" {
			value = strings.TrimSpace(value)
			if prev, dup := m[name]; dup {
				value = prev + ", " + value
			}
			m[name] = value
		}
	}
	return m
}
