package integration_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genai"
	"google.golang.org/genai/interactions/models/apierrors"
	"google.golang.org/genai/interactions/models/operations"
	"google.golang.org/genai/interactions/models/webhooks"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/api"
	"github.com/webhookd/webhookd/signing"
)

// sdk returns the official Go SDK pointed at the bundle's server under
// baseURL's path (prefix) with apiVersion ("" = the SDK's default, v1beta).
func (b *bundle) sdk(t *testing.T, key, prefix, apiVersion string) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(b.ctx, &genai.ClientConfig{
		APIKey:  key,
		Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{
			BaseURL:    b.srv.URL + prefix,
			APIVersion: apiVersion,
		},
		HTTPClient: b.srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// requireAPIError checks that err is the SDK's error for an HTTP status
// whose Google error body has canonical status and a message with text.
func requireAPIError(t *testing.T, err error, code int, status, text string) {
	t.Helper()
	var e *apierrors.APIError
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want an *apierrors.APIError", err)
	}
	if e.StatusCode != code || !strings.Contains(e.Body, `"status":"`+status+`"`) || !strings.Contains(e.Body, text) {
		t.Fatalf("SDK error %d %s, want %d %s with %q", e.StatusCode, e.Body, code, status, text)
	}
}

func TestSDKWebhookLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ai := b.sdk(t, b.key, "", "")
	ctx := b.ctx

	created, err := ai.Webhooks.Create(ctx, operations.CreateWebhookRequest{Body: webhooks.WebhookInput{
		Name:             genai.Ptr("my-hook"),
		URI:              "https://example.test/hook",
		SubscribedEvents: []webhooks.WebhookSubscribedEvent{"batch.succeeded", "interaction.completed"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	wh := created.Webhook
	secret := deref(wh.NewSigningSecret)
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("new_signing_secret = %q, want whsec_…", secret)
	}
	if _, err := signing.ParseSecret(secret); err != nil {
		t.Fatalf("new_signing_secret does not parse: %v", err)
	}
	id := deref(wh.ID)
	if !strings.HasPrefix(id, webhookd.PrefixWebhook) || deref(wh.Name) != "my-hook" || wh.URI != "https://example.test/hook" ||
		*wh.State != webhooks.WebhookStateEnabled || !wh.CreateTime.Equal(epoch) || !wh.UpdateTime.Equal(epoch) {
		t.Fatalf("created webhook = %+v", wh)
	}
	if len(wh.SigningSecrets) != 1 || deref(wh.SigningSecrets[0].TruncatedSecret) != signing.TruncateSecret(secret) ||
		wh.SigningSecrets[0].ExpireTime != nil {
		t.Fatalf("signing_secrets = %+v, want the current secret, truncated, without expiry", wh.SigningSecrets)
	}

	got, err := ai.Webhooks.Get(ctx, operations.GetWebhookRequest{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	if got.Webhook.NewSigningSecret != nil {
		t.Errorf("get answered new_signing_secret; it must be only in the create response")
	}
	if len(got.Webhook.SubscribedEvents) != 2 || got.Webhook.SubscribedEvents[1] != "interaction.completed" {
		t.Errorf("subscribed_events = %v", got.Webhook.SubscribedEvents)
	}

	list, err := ai.Webhooks.List(ctx, operations.ListWebhooksRequest{PageSize: genai.Ptr(10)})
	if err != nil {
		t.Fatal(err)
	}
	if l := list.WebhookListResponse; len(l.Webhooks) != 1 || deref(l.Webhooks[0].ID) != id || l.NextPageToken != nil {
		t.Fatalf("list = %+v, want the one webhook and no next page", l)
	}

	// An update with a mask, as the JS SDK sends it (#5 of the wire contract).
	b.clock.Advance(time.Minute)
	upd, err := ai.Webhooks.Update(ctx, operations.UpdateWebhookRequest{
		ID:         id,
		UpdateMask: genai.Ptr("uri,state,subscribed_events"),
		Body: webhooks.WebhookUpdate{
			URI:              genai.Ptr("https://example.test/hook2"),
			State:            webhooks.WebhookUpdateStateDisabled.ToPointer(),
			SubscribedEvents: []webhooks.WebhookUpdateSubscribedEvent{"batch.failed"},
			Name:             genai.Ptr("ignored: not in the mask"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if u := upd.Webhook; u.URI != "https://example.test/hook2" || *u.State != webhooks.WebhookStateDisabled ||
		len(u.SubscribedEvents) != 1 || u.SubscribedEvents[0] != "batch.failed" || deref(u.Name) != "my-hook" ||
		!u.UpdateTime.Equal(epoch.Add(time.Minute)) || !u.CreateTime.Equal(epoch) {
		t.Fatalf("updated webhook = %+v", u)
	}
	// Without a mask, the fields present change.
	upd, err = ai.Webhooks.Update(ctx, operations.UpdateWebhookRequest{ID: id, Body: webhooks.WebhookUpdate{
		Name: genai.Ptr("renamed"), State: webhooks.WebhookUpdateStateEnabled.ToPointer(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if u := upd.Webhook; deref(u.Name) != "renamed" || *u.State != webhooks.WebhookStateEnabled || u.URI != "https://example.test/hook2" {
		t.Fatalf("updated webhook = %+v", u)
	}

	// Rotation keeps the previous secret for 24 h by default…
	rot, err := ai.Webhooks.RotateSigningSecret(ctx, operations.RotateSigningSecretRequest{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	second := deref(rot.WebhookRotateSigningSecretResponse.Secret)
	if !strings.HasPrefix(second, "whsec_") || second == secret {
		t.Fatalf("rotated secret = %q", second)
	}
	got, err = ai.Webhooks.Get(ctx, operations.GetWebhookRequest{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	secs := got.Webhook.SigningSecrets
	if len(secs) != 2 || deref(secs[0].TruncatedSecret) != signing.TruncateSecret(second) || secs[0].ExpireTime != nil ||
		deref(secs[1].TruncatedSecret) != signing.TruncateSecret(secret) || secs[1].ExpireTime == nil ||
		!secs[1].ExpireTime.Equal(b.clock.Now().Add(24*time.Hour)) {
		t.Fatalf("signing_secrets after rotation = %s", dump(secs))
	}
	// …and it is gone once the grace has passed.
	b.clock.Advance(24 * time.Hour)
	got, err = ai.Webhooks.Get(ctx, operations.GetWebhookRequest{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Webhook.SigningSecrets) != 1 {
		t.Fatalf("signing_secrets 24 h after rotation = %s, want only the current one", dump(got.Webhook.SigningSecrets))
	}
	// Revoking immediately leaves only the new secret.
	if _, err := ai.Webhooks.RotateSigningSecret(ctx, operations.RotateSigningSecretRequest{ID: id}); err != nil {
		t.Fatal(err)
	}
	rot, err = ai.Webhooks.RotateSigningSecret(ctx, operations.RotateSigningSecretRequest{ID: id,
		Body: webhooks.RotateSigningSecretRequest{RevocationBehavior: webhooks.RevocationBehaviorRevokePreviousSecretsImmediately.ToPointer()}})
	if err != nil {
		t.Fatal(err)
	}
	got, err = ai.Webhooks.Get(ctx, operations.GetWebhookRequest{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	if secs := got.Webhook.SigningSecrets; len(secs) != 1 ||
		deref(secs[0].TruncatedSecret) != signing.TruncateSecret(deref(rot.WebhookRotateSigningSecretResponse.Secret)) {
		t.Fatalf("signing_secrets after an immediate rotation = %s", dump(secs))
	}

	// Ping: one webhook.ping event, delivered to this webhook only.
	before := b.woken.Load()
	if _, err := ai.Webhooks.Ping(ctx, operations.PingWebhookRequest{ID: id}); err != nil {
		t.Fatal(err)
	}
	if b.woken.Load() != before+1 {
		t.Errorf("the store did not wake the engine after a ping")
	}
	evs, err := b.store.ListEvents(ctx, b.project.ID, webhookd.EventFilter{}, webhookd.Page{Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != webhookd.EventWebhookPing || evs[0].DeliveryCount != 1 {
		t.Fatalf("events after ping = %s", dump(evs))
	}
	ds, err := b.store.ListDeliveries(ctx, b.project.ID, evs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].WebhookID != id {
		t.Fatalf("ping deliveries = %s", dump(ds))
	}
	if _, err := ai.Webhooks.Ping(ctx, operations.PingWebhookRequest{ID: id, Body: &webhooks.PingWebhookRequest{}}); err != nil {
		t.Fatalf("ping with a {} body: %v", err)
	}

	if _, err := ai.Webhooks.Delete(ctx, operations.DeleteWebhookRequest{ID: id}); err != nil {
		t.Fatal(err)
	}
	_, err = ai.Webhooks.Get(ctx, operations.GetWebhookRequest{ID: id})
	requireAPIError(t, err, http.StatusNotFound, "NOT_FOUND", "Webhook not found")
	_, err = ai.Webhooks.Delete(ctx, operations.DeleteWebhookRequest{ID: id})
	requireAPIError(t, err, http.StatusNotFound, "NOT_FOUND", "Webhook not found")
}

// TestSDKVersionsAndPrefix runs the SDK against every served version, with
// and without a path prefix in its base URL.
func TestSDKVersionsAndPrefix(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "/gemini-proxy"} {
		b := setup(t, func(c *api.Config) { c.PathPrefix = prefix })
		for _, version := range []string{"v1", "v1beta", "v1alpha", ""} {
			ai := b.sdk(t, b.key, prefix, version)
			created, err := ai.Webhooks.Create(b.ctx, operations.CreateWebhookRequest{Body: webhooks.WebhookInput{
				URI: "https://example.test/" + version, SubscribedEvents: []webhooks.WebhookSubscribedEvent{"video.generated"},
			}})
			if err != nil {
				t.Fatalf("prefix %q version %q: create: %v", prefix, version, err)
			}
			if _, err := ai.Webhooks.Get(b.ctx, operations.GetWebhookRequest{ID: deref(created.Webhook.ID)}); err != nil {
				t.Fatalf("prefix %q version %q: get: %v", prefix, version, err)
			}
		}
		if prefix != "" {
			// Without the prefix nothing of the API answers.
			ai := b.sdk(t, b.key, "", "v1")
			_, err := ai.Webhooks.List(b.ctx, operations.ListWebhooksRequest{})
			requireAPIError(t, err, http.StatusNotFound, "NOT_FOUND", "No route")
		}
	}
}

func TestSDKErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ai := b.sdk(t, b.key, "", "v1")
	_, err := ai.Webhooks.Create(b.ctx, operations.CreateWebhookRequest{Body: webhooks.WebhookInput{
		URI: "http://example.test/hook", SubscribedEvents: []webhooks.WebhookSubscribedEvent{"batch.succeeded"},
	}})
	requireAPIError(t, err, http.StatusBadRequest, "INVALID_ARGUMENT", "uri must use https")

	_, err = ai.Webhooks.Create(b.ctx, operations.CreateWebhookRequest{Body: webhooks.WebhookInput{
		URI: "https://example.test/hook", SubscribedEvents: []webhooks.WebhookSubscribedEvent{"batch.exploded"},
	}})
	requireAPIError(t, err, http.StatusBadRequest, "INVALID_ARGUMENT", `unknown event type \"batch.exploded\"`)

	_, err = b.sdk(t, "not-a-key", "", "v1").Webhooks.List(b.ctx, operations.ListWebhooksRequest{})
	requireAPIError(t, err, http.StatusUnauthorized, "UNAUTHENTICATED", "API key not valid")
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
