package lro

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/webhookd/webhookd"
)

// newEvent builds the catalog event typ of op with data (which must not
// carry user_metadata: it is merged here from the job's webhook config, so
// that every event of a job echoes it).
func newEvent(op *webhookd.Operation, typ string, data map[string]any) (webhookd.NewEvent, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return webhookd.NewEvent{}, fmt.Errorf("lro: %s data: %w", typ, err)
	}
	var wc *webhookd.WebhookConfig
	if op.WebhookConfig != nil {
		wc = op.Clone().WebhookConfig
		raw, err = webhookd.MergeUserMetadata(raw, wc.UserMetadata)
		if err != nil {
			return webhookd.NewEvent{}, fmt.Errorf("lro: %s user_metadata: %w", typ, err)
		}
	}
	return webhookd.NewEvent{
		ProjectID:     op.ProjectID,
		Type:          typ,
		Data:          raw,
		WebhookConfig: wc,
		Source:        op.EventSource(),
	}, nil
}

// Canonical error codes carried by failed jobs (error_code of batch.failed
// and interaction.failed, and the Operation/Interaction error renderings).
const (
	CodeInvalidArgument  = "INVALID_ARGUMENT"
	CodeNotFound         = "NOT_FOUND"
	CodeCancelled        = "CANCELLED"
	CodeDeadlineExceeded = "DEADLINE_EXCEEDED"
)

// RPCCode is the google.rpc.Code number of a canonical code name, for the
// error field of rendered Operations and per-request errors.
func RPCCode(code string) int {
	switch code {
	case CodeCancelled:
		return 1
	case CodeInvalidArgument:
		return 3
	case CodeDeadlineExceeded:
		return 4
	case CodeNotFound:
		return 5
	}
	return 2 // UNKNOWN
}

// advance returns a copy of op as the next version, updated at now. Every
// transition starts here, so that none forgets the version or the time.
func advance(op *webhookd.Operation, now time.Time) *webhookd.Operation {
	n := op.Clone()
	n.Version++
	n.UpdateTime = now
	return n
}

// finish moves n to the terminal state s at now.
func finish(n *webhookd.Operation, s webhookd.OperationState, now time.Time) {
	n.State = s
	end := now
	n.EndTime = &end
	n.NextStepTime = nil
}

// at returns a pointer to t, for the optional times of an Operation.
func at(t time.Time) *time.Time { return &t }

// webhookConfig checks a job's webhook config by the one rule the publish
// API's follows too (webhookd.URIPolicy.ValidateWebhookConfig); the API has
// checked it already, naming the field as the request spelled it.
func (m *Machine) webhookConfig(wc *webhookd.WebhookConfig) (*webhookd.WebhookConfig, error) {
	if wc == nil {
		return nil, nil
	}
	return m.cfg.URIPolicy.ValidateWebhookConfig("webhook_config", *wc)
}
