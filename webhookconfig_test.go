package webhookd_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/webhookd/webhookd"
)

func TestValidateWebhookConfig(t *testing.T) {
	t.Parallel()
	uris := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "https://h" + strings.Repeat("x", i) + ".test/"
		}
		return out
	}
	// meta returns a metadata object of exactly n bytes of compact JSON.
	meta := func(n int) json.RawMessage { return json.RawMessage(`{"k":"` + strings.Repeat("x", n-8) + `"}`) }
	tests := []struct {
		name    string
		policy  webhookd.URIPolicy
		in      webhookd.WebhookConfig
		want    *webhookd.WebhookConfig
		field   string // of the error; "" when none is wanted
		message string // a part of the error's message
	}{
		{name: "empty is nil", in: webhookd.WebhookConfig{}},
		{name: "only {} metadata is nil", in: webhookd.WebhookConfig{URIs: []string{}, UserMetadata: json.RawMessage(` { } `)}},
		{name: "null metadata is nil", in: webhookd.WebhookConfig{UserMetadata: json.RawMessage(`null`)}},
		{name: "URIs kept once, in order, metadata compacted",
			in:   webhookd.WebhookConfig{URIs: []string{"https://b.test", "https://a.test", "https://b.test"}, UserMetadata: json.RawMessage("{ \"job\" : [1, 2] }")},
			want: &webhookd.WebhookConfig{URIs: []string{"https://b.test", "https://a.test"}, UserMetadata: json.RawMessage(`{"job":[1,2]}`)}},
		{name: "the most URIs", in: webhookd.WebhookConfig{URIs: uris(webhookd.MaxWebhookConfigURIs)},
			want: &webhookd.WebhookConfig{URIs: uris(webhookd.MaxWebhookConfigURIs)}},
		{name: "one URI too many", in: webhookd.WebhookConfig{URIs: uris(webhookd.MaxWebhookConfigURIs + 1)},
			field: "cfg.uris", message: "cfg.uris must list at most 20 URIs."},
		{name: "repeats count against the limit", in: webhookd.WebhookConfig{URIs: slices21("https://a.test")},
			field: "cfg.uris", message: "at most 20 URIs"},
		{name: "a URI the policy refuses", in: webhookd.WebhookConfig{URIs: []string{"https://a.test", "http://b.test"}},
			field: "cfg.uris[1]", message: "cfg.uris[1] must use https"},
		{name: "http in development", policy: webhookd.URIPolicy{AllowHTTP: true}, in: webhookd.WebhookConfig{URIs: []string{"http://b.test"}},
			want: &webhookd.WebhookConfig{URIs: []string{"http://b.test"}}},
		{name: "metadata at the limit", in: webhookd.WebhookConfig{UserMetadata: meta(webhookd.MaxUserMetadataBytes)},
			want: &webhookd.WebhookConfig{UserMetadata: meta(webhookd.MaxUserMetadataBytes)}},
		{name: "metadata at the limit once compacted", in: webhookd.WebhookConfig{UserMetadata: append(json.RawMessage("\n \t"), meta(webhookd.MaxUserMetadataBytes)...)},
			want: &webhookd.WebhookConfig{UserMetadata: meta(webhookd.MaxUserMetadataBytes)}},
		{name: "metadata a byte over", in: webhookd.WebhookConfig{UserMetadata: meta(webhookd.MaxUserMetadataBytes + 1)},
			field: "cfg.user_metadata", message: "cfg.user_metadata must be at most 16384 bytes of JSON."},
		{name: "metadata not an object", in: webhookd.WebhookConfig{UserMetadata: json.RawMessage(`[1]`)},
			field: "cfg.user_metadata", message: "must be a JSON object"},
		{name: "metadata not JSON", in: webhookd.WebhookConfig{UserMetadata: json.RawMessage(`{`)},
			field: "cfg.user_metadata", message: "must be a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.policy.ValidateWebhookConfig("cfg", tt.in)
			if tt.field != "" {
				var e *webhookd.Error
				if !errors.As(err, &e) || e.Code != webhookd.EINVALID || e.Field != tt.field || !strings.Contains(e.Message, tt.message) {
					t.Fatalf("err = %#v; want an EINVALID error on %s saying %q", err, tt.field, tt.message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func slices21(u string) []string {
	out := make([]string, webhookd.MaxWebhookConfigURIs+1)
	for i := range out {
		out[i] = u
	}
	return out
}
