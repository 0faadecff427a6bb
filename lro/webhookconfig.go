package lro

import (
	"encoding/json"
	"slices"

	"github.com/webhookd/webhookd"
)

// Limits of a job's webhook_config.
const (
	MaxWebhookConfigURIs = 10
	MaxUserMetadataSize  = 16 << 10 // bytes of compact JSON
)

// parseWebhookConfig reads the job's webhook config from o, under either
// spelling of its name (webhookConfig, webhook_config) and of its metadata
// (userMetadata, user_metadata). An absent or empty config is nil: the job's
// events then go to the project's static webhooks.
func (m *Machine) parseWebhookConfig(o *object) (*webhookd.WebhookConfig, error) {
	wo, err := o.obj("webhookConfig")
	if err != nil || wo == nil {
		return nil, err
	}
	var wc webhookd.WebhookConfig
	uris, path, err := wo.array("uris")
	if err != nil {
		return nil, err
	}
	if len(uris) > MaxWebhookConfigURIs {
		return nil, webhookd.FieldErrorf(path, "%s must list at most %d URIs.", path, MaxWebhookConfigURIs)
	}
	for i, raw := range uris {
		field := index(path, i)
		var u string
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, webhookd.FieldErrorf(field, "%s must be a string.", field)
		}
		if err := m.cfg.URIPolicy.ValidateURI(field, u); err != nil {
			return nil, err
		}
		if !slices.Contains(wc.URIs, u) {
			wc.URIs = append(wc.URIs, u)
		}
	}
	if raw, path, ok := wo.lookup("userMetadata"); ok {
		if _, err := asObject(path, raw, path); err != nil {
			return nil, err
		}
		meta := compact(raw)
		if len(meta) > MaxUserMetadataSize {
			return nil, webhookd.FieldErrorf(path, "%s must be at most %d bytes of JSON.", path, MaxUserMetadataSize)
		}
		if string(meta) != "{}" {
			wc.UserMetadata = meta
		}
	}
	if len(wc.URIs) == 0 && len(wc.UserMetadata) == 0 {
		return nil, nil
	}
	return &wc, nil
}
