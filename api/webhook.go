package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/filter"
	"github.com/webhookd/webhookd/signing"
)

// webhookJSON is the wire form of a webhook, exactly the SDK's Webhook type
// (snake_case, passed to callers without conversion).
type webhookJSON struct {
	ID               string   `json:"id"`
	Name             string   `json:"name,omitempty"`
	URI              string   `json:"uri"`
	SubscribedEvents []string `json:"subscribed_events"`
	// Headers are the custom headers sent with every attempt, in full;
	// omitted when there are none, as the SDK's type does not know them.
	Headers map[string]string `json:"headers,omitempty"`
	// Filter is the webhook's CEL filter; omitted when it has none.
	Filter         string       `json:"filter,omitempty"`
	State          string       `json:"state"`
	SigningSecrets []secretJSON `json:"signing_secrets"`
	CreateTime     string       `json:"create_time"`
	UpdateTime     string       `json:"update_time"`
	// NewSigningSecret is set only in the create response: the one time the
	// secret leaves the service in clear.
	NewSigningSecret string `json:"new_signing_secret,omitempty"`
}

// secretJSON lists one live secret. ExpireTime is omitted for the current
// secret, which does not expire; the SDK types make it optional.
type secretJSON struct {
	TruncatedSecret string `json:"truncated_secret"`
	ExpireTime      string `json:"expire_time,omitempty"`
}

func (s *Server) webhookJSON(w *webhookd.Webhook) webhookJSON {
	live := w.LiveSecrets(s.cfg.Clock.Now())
	secrets := make([]secretJSON, len(live))
	for i, sec := range live {
		secrets[i] = secretJSON{TruncatedSecret: sec.Truncated, ExpireTime: formatTimePtr(sec.ExpireTime)}
	}
	events := w.SubscribedEvents
	if events == nil {
		events = []string{}
	}
	return webhookJSON{
		ID:               w.ID,
		Name:             w.Name,
		URI:              w.URI,
		SubscribedEvents: events,
		Headers:          w.Headers,
		Filter:           w.Filter,
		State:            string(w.State),
		SigningSecrets:   secrets,
		CreateTime:       formatTime(w.CreateTime),
		UpdateTime:       formatTime(w.UpdateTime),
	}
}

// webhookOutputOnly are the Webhook fields a client cannot set; echoing them
// back from a response is accepted and ignored.
var webhookOutputOnly = []string{"id", "signing_secrets", "create_time", "update_time", "new_signing_secret"}

var (
	createWebhookSchema = schema{
		fields:  []string{"name", "uri", "subscribed_events", "headers", "filter"},
		ignored: append([]string{"state"}, webhookOutputOnly...),
	}
	updateWebhookSchema = schema{
		fields:  updatableWebhookFields,
		ignored: webhookOutputOnly,
	}
	// updatableWebhookFields are the update_mask paths, in the order
	// updates apply.
	updatableWebhookFields = []string{"name", "uri", "subscribed_events", "headers", "filter", "state"}
)

// newSecret makes a signing secret for webhookID: the clear secret to answer
// once, and its sealed record to store.
func (s *Server) newSecret(webhookID string) (string, webhookd.SigningSecret) {
	secret := signing.GenerateSecret()
	return secret, webhookd.SigningSecret{
		ID:         webhookd.NewID(webhookd.PrefixSecret),
		WebhookID:  webhookID,
		Sealed:     s.cfg.Sealer.Seal([]byte(secret)),
		Truncated:  signing.TruncateSecret(secret),
		CreateTime: s.now(),
	}
}

// createWebhook is POST /webhooks. The signing secret is answered once, in
// new_signing_secret, and stored only sealed.
func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	body, err := s.decodeBody(w, r, createWebhookSchema)
	if err != nil {
		return err
	}
	now := s.now()
	wh := &webhookd.Webhook{
		ID:         webhookd.NewID(webhookd.PrefixWebhook),
		ProjectID:  projectOf(r),
		State:      webhookd.WebhookEnabled,
		CreateTime: now,
		UpdateTime: now,
	}
	for _, field := range []string{"name", "uri", "subscribed_events", "headers", "filter"} {
		if err := s.setWebhookField(r.Context(), wh, body, field); err != nil {
			return err
		}
	}
	secret, sec := s.newSecret(wh.ID)
	wh.Secrets = []webhookd.SigningSecret{sec}
	if err := s.cfg.Store.CreateWebhook(r.Context(), wh); err != nil {
		return err
	}
	out := s.webhookJSON(wh)
	out.NewSigningSecret = secret
	writeJSON(w, http.StatusOK, out)
	return nil
}

// setWebhookField sets one updatable field of wh from body. A field absent
// from body is cleared: that is what a field named in an update mask but
// missing from the body means (AIP-134), and on create it makes required
// fields fail their validation.
func (s *Server) setWebhookField(ctx context.Context, wh *webhookd.Webhook, body *object, field string) error {
	switch field {
	case "name":
		v, _, err := body.string("name")
		if err != nil {
			return err
		}
		if err := webhookd.ValidateName("name", v); err != nil {
			return body.explain(err)
		}
		wh.Name = v
	case "uri":
		v, _, err := body.string("uri")
		if err != nil {
			return err
		}
		if err := s.cfg.URIPolicy.ValidateURI("uri", v); err != nil {
			return body.explain(err)
		}
		wh.URI = v
	case "subscribed_events":
		v, _, err := body.strings("subscribed_events")
		if err != nil {
			return err
		}
		if wh.SubscribedEvents, err = s.cfg.Catalog.ValidateSubscriptions("subscribed_events", v, s.newTypeLookup(ctx, wh.ProjectID).defined); err != nil {
			return body.explain(err)
		}
	case "headers":
		v, err := headersField(body)
		if err != nil {
			return err
		}
		if err := webhookd.ValidateHeaders("headers", v); err != nil {
			return body.explain(err)
		}
		wh.Headers = v
	case "filter":
		v, _, err := body.string("filter")
		if err != nil {
			return err
		}
		if v != "" {
			if _, err := filter.Check("filter", v); err != nil {
				return body.explain(err)
			}
		}
		wh.Filter = v
	case "state":
		return body.explain(setWebhookState(wh, body))
	}
	return nil
}

// headersField reads headers, an object of header name to value; the names
// are kept exactly as sent (the decoder normalises only field names).
func headersField(body *object) (map[string]string, error) {
	raw, ok, err := body.rawObject("headers")
	if err != nil || !ok {
		return map[string]string{}, err
	}
	var h map[string]string
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, body.at("headers").errorf("must be an object of header names to string values.")
	}
	if h == nil {
		h = map[string]string{}
	}
	return h, nil
}

// setWebhookState applies a requested state. enabled re-enables a webhook
// whatever disabled it, and clears its failing run so that auto-disable
// starts counting afresh. disabled_due_to_failed_deliveries is the service's
// verdict, not a caller's choice: it is accepted only as a no-op on a
// webhook that is already in it, so that a client may PATCH back the state it
// read, and refused otherwise.
func setWebhookState(wh *webhookd.Webhook, body *object) error {
	v, _, err := body.string("state")
	if err != nil {
		return err
	}
	st, ok := webhookd.ParseWebhookState(v)
	switch {
	case !ok:
		return webhookd.FieldErrorf("state", "state must be %s or %s, got %q.", webhookd.WebhookEnabled, webhookd.WebhookDisabled, v)
	case st == webhookd.WebhookEnabled:
		wh.State, wh.FailingSince = st, nil
	case st == webhookd.WebhookDisabled:
		wh.State = st
	case wh.State != st:
		return webhookd.FieldErrorf("state", "state %s is set only by the service; use %s or %s.",
			st, webhookd.WebhookEnabled, webhookd.WebhookDisabled)
	}
	return nil
}

// listWebhooks is GET /webhooks, oldest first.
func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	l, err := s.parseListing(r, "webhooks")
	if err != nil {
		return err
	}
	items, err := s.cfg.Store.ListWebhooks(r.Context(), l.projectID, l.page())
	if err != nil {
		return err
	}
	items, next := trim(s, l, items, func(wh *webhookd.Webhook) webhookd.Cursor {
		return webhookd.Cursor{Time: wh.CreateTime, ID: wh.ID}
	})
	out := struct {
		Webhooks      []webhookJSON `json:"webhooks"`
		NextPageToken string        `json:"next_page_token,omitempty"`
	}{Webhooks: make([]webhookJSON, len(items)), NextPageToken: next}
	for i, wh := range items {
		out.Webhooks[i] = s.webhookJSON(wh)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getWebhook is GET /webhooks/{id}.
func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) error {
	wh, err := s.findWebhook(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.webhookJSON(wh))
	return nil
}

// findWebhook loads the webhook named by the path in the caller's project.
func (s *Server) findWebhook(r *http.Request) (*webhookd.Webhook, error) {
	wh, err := s.cfg.Store.GetWebhook(r.Context(), projectOf(r), r.PathValue("id"))
	if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
		return nil, webhookd.NotFound("Webhook")
	}
	return wh, err
}

// updateWebhook is PATCH /webhooks/{id}. With update_mask, exactly the
// fields it names change (a named field missing from the body is cleared,
// which is an error for required ones) and other body fields are ignored;
// without it, the fields present in the body change. "*" names every field.
func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	body, err := s.decodeBody(w, r, updateWebhookSchema)
	if err != nil {
		return err
	}
	mask, err := updateMask(r)
	if err != nil {
		return err
	}
	if mask == nil {
		for _, f := range updatableWebhookFields {
			if body.has(f) {
				mask = append(mask, f)
			}
		}
	}
	wh, err := s.findWebhook(r)
	if err != nil {
		return err
	}
	if len(mask) > 0 {
		for _, f := range mask {
			if err := s.setWebhookField(r.Context(), wh, body, f); err != nil {
				return err
			}
		}
		wh.UpdateTime = s.now()
		if err := s.cfg.Store.UpdateWebhook(r.Context(), wh); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, s.webhookJSON(wh))
	return nil
}

// updateMask parses update_mask: comma-separated field paths in either
// spelling. It returns nil when there is no mask, and the paths in
// application order otherwise.
func updateMask(r *http.Request) ([]string, error) {
	return parseUpdateMask(r, updatableWebhookFields)
}

// parseUpdateMask is updateMask for a resource whose updatable fields, in
// application order, are fields.
func parseUpdateMask(r *http.Request, fields []string) ([]string, error) {
	raw, err := queryParam(r, "update_mask")
	if err != nil || strings.TrimSpace(raw) == "" {
		return nil, err
	}
	named := map[string]bool{}
	for p := range strings.SplitSeq(raw, ",") {
		p = strings.TrimSpace(p)
		switch f := snakeCase(p); {
		case p == "*":
			for _, f := range fields {
				named[f] = true
			}
		case slices.Contains(fields, f):
			named[f] = true
		case p == "":
			return nil, webhookd.FieldErrorf("update_mask", "update_mask has an empty field path.")
		default:
			return nil, webhookd.FieldErrorf("update_mask", "update_mask: unknown field path %q; updatable fields: %s.",
				p, strings.Join(fields, ", "))
		}
	}
	mask := []string{}
	for _, f := range fields {
		if named[f] {
			mask = append(mask, f)
		}
	}
	return mask, nil
}

// deleteWebhook is DELETE /webhooks/{id}; it answers {} as the SDK needs a
// JSON body.
func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	err := s.cfg.Store.DeleteWebhook(r.Context(), projectOf(r), r.PathValue("id"))
	if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
		return webhookd.NotFound("Webhook")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

var rotateSchema = schema{fields: []string{"revocation_behavior"}}

// rotateSigningSecret is POST /webhooks/{id}:rotateSigningSecret (the SDK)
// and POST /webhooks/{id}/rotate_secret (the source document). The new
// secret signs from now on; the previous ones keep signing for
// RotationGrace, or stop at once with revoke_previous_secrets_immediately.
func (s *Server) rotateSigningSecret(w http.ResponseWriter, r *http.Request) error {
	body, err := s.decodeBody(w, r, rotateSchema)
	if err != nil {
		return err
	}
	v, _, err := body.string("revocation_behavior")
	if err != nil {
		return err
	}
	behavior, ok := webhookd.ParseRevocationBehavior(v)
	if !ok {
		return webhookd.FieldErrorf("revocation_behavior", "revocation_behavior must be %s or %s, got %q.",
			webhookd.RevokeAfterH24, webhookd.RevokeImmediately, v)
	}
	secret, sec := s.newSecret(r.PathValue("id"))
	expireOthers := sec.CreateTime
	if behavior == webhookd.RevokeAfterH24 {
		expireOthers = expireOthers.Add(webhookd.RotationGrace)
	}
	err = s.cfg.Store.RotateSecret(r.Context(), projectOf(r), r.PathValue("id"), sec, expireOthers)
	if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
		return webhookd.NotFound("Webhook")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"secret": secret})
	return nil
}

// pingWebhook is POST /webhooks/{id}:ping: a webhook.ping event delivered to
// this webhook only, whatever its subscriptions, so a receiver can be checked
// before real events flow. A disabled webhook is sent nothing, so its ping is
// refused rather than answered as if it went out. The SDK sends no body at
// all.
func (s *Server) pingWebhook(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.decodeBody(w, r, schema{}); err != nil {
		return err
	}
	wh, err := s.findWebhook(r)
	if err != nil {
		return err
	}
	if wh.State != webhookd.WebhookEnabled {
		return webhookd.Errorf(webhookd.EPRECONDITION,
			"Webhook %s is %s, so nothing can be sent to it; set its state to enabled (PATCH) to ping it.", wh.ID, wh.State)
	}
	data, err := json.Marshal(map[string]string{"id": wh.ID})
	if err != nil {
		return err
	}
	_, _, err = s.cfg.Store.PublishEvent(r.Context(), webhookd.NewEvent{
		ProjectID:     wh.ProjectID,
		Type:          webhookd.EventWebhookPing,
		Data:          data,
		Source:        "ping",
		TraceParent:   traceParentOf(r),
		OnlyWebhookID: wh.ID,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
