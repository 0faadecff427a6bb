package lro

import (
	"encoding/json"

	"github.com/webhookd/webhookd"
)

// parseWebhookConfig reads the job's webhook config from o, under either
// spelling of its name (webhookConfig, webhook_config) and of its metadata
// (userMetadata, user_metadata), and checks it as the publish API does
// (webhookd.ValidateWebhookConfig). An absent or empty config is nil: the
// job's events then go to the project's static webhooks.
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
	for i, raw := range uris {
		var u string
		if err := json.Unmarshal(raw, &u); err != nil {
			field := index(path, i)
			return nil, webhookd.FieldErrorf(field, "%s must be a string.", field)
		}
		wc.URIs = append(wc.URIs, u)
	}
	if raw, path, ok := wo.lookup("userMetadata"); ok {
		if _, err := asObject(path, raw, path); err != nil {
			return nil, err
		}
		wc.UserMetadata = raw
	}
	return m.cfg.URIPolicy.ValidateWebhookConfig(wo.path, wc)
}
