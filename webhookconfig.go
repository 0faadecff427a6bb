package webhookd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Limits of a webhook_config: the same wherever one is given, on a job
// (batch, interaction, video) or on a published event.
const (
	// MaxWebhookConfigURIs bounds webhook_config.uris: each URI is a
	// delivery of every event, signed with its own RS256 JWT per attempt.
	MaxWebhookConfigURIs = 20
	// MaxUserMetadataBytes bounds webhook_config.user_metadata as compact
	// JSON: it is echoed in the data of every event, to every destination.
	MaxUserMetadataBytes = 16 << 10
)

// ValidateWebhookConfig checks a webhook_config given at field (such as
// "webhook_config" or "batch.webhook_config") and returns it as it is
// kept: at most MaxWebhookConfigURIs URIs that p accepts, each kept once,
// and user_metadata a JSON object of at most MaxUserMetadataBytes, compacted.
// A config that names no URI and carries no metadata (or only {}) is nil:
// the events then go to the project's static webhooks.
func (p URIPolicy) ValidateWebhookConfig(field string, wc WebhookConfig) (*WebhookConfig, error) {
	uris := field + ".uris"
	if len(wc.URIs) > MaxWebhookConfigURIs {
		return nil, FieldErrorf(uris, "%s must list at most %d URIs.", uris, MaxWebhookConfigURIs)
	}
	out := &WebhookConfig{}
	for i, u := range wc.URIs {
		if err := p.ValidateURI(fmt.Sprintf("%s[%d]", uris, i), u); err != nil {
			return nil, err
		}
		if !slices.Contains(out.URIs, u) {
			out.URIs = append(out.URIs, u)
		}
	}
	if len(wc.UserMetadata) > 0 && string(wc.UserMetadata) != "null" {
		meta := field + ".user_metadata"
		var b bytes.Buffer
		if err := json.Compact(&b, wc.UserMetadata); err != nil || b.Len() == 0 || b.Bytes()[0] != '{' {
			return nil, FieldErrorf(meta, "%s must be a JSON object.", meta)
		}
		if b.Len() > MaxUserMetadataBytes {
			return nil, FieldErrorf(meta, "%s must be at most %d bytes of JSON.", meta, MaxUserMetadataBytes)
		}
		if b.String() != "{}" {
			out.UserMetadata = b.Bytes()
		}
	}
	if len(out.URIs) == 0 && len(out.UserMetadata) == 0 {
		return nil, nil
	}
	return out, nil
}
