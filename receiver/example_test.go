package receiver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/receiver"
	"github.com/webhookd/webhookd/signing"
	"github.com/webhookd/webhookd/sqlite"
)

// A static webhook: verify the request with the signing secret that
// creating the webhook returned, then act on the thin payload.
func ExampleVerifier_Verify() {
	v, err := receiver.NewVerifier(receiver.Config{
		Secrets: []string{"whsec_Yb7bbVSmH4vYMy1SAmKQS9QY8IhGSzvs8mwPXefMHfg="},
		// Only so that this example's fixed message is not too old.
		Now: func() time.Time { return time.Unix(1769083200, 0) },
	})
	if err != nil {
		panic(err)
	}

	// In a handler: header = r.Header, body = the raw bytes of r.Body.
	header := http.Header{}
	header.Set("webhook-id", "msg_7wgd2v5rqjf3hxqzzyh2vj4s7e")
	header.Set("webhook-timestamp", "1769083200")
	header.Set("webhook-signature", "v1,X7oGrnX/OjZW7n37rY15xiYlLiLv5jPORE7cQBnYozI=")
	body := []byte(`{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batches/batch_123456","output_file_uri":"files/batch_123456-results.jsonl","error_count":0}}`)

	ev, err := v.Verify(context.Background(), header, body)
	switch {
	case errors.Is(err, receiver.ErrDuplicate):
		fmt.Println("already processed")
	case err != nil:
		fmt.Println("rejected:", err)
	default:
		fmt.Println(ev.Kind, ev.ID, ev.Type, string(ev.Data))
	}

	// The same request with one byte of the body changed.
	_, err = v.Verify(context.Background(), header, bytes.Replace(body, []byte(`"error_count":0`), []byte(`"error_count":1`), 1))
	fmt.Println(errors.Is(err, receiver.ErrBadSignature))
	// Output:
	// hmac msg_7wgd2v5rqjf3hxqzzyh2vj4s7e batch.succeeded {"id":"batches/batch_123456","output_file_uri":"files/batch_123456-results.jsonl","error_count":0}
	// true
}

// A dynamic webhook (a job's webhook_config): the signature is an RS256 JWT,
// checked with the sender's published keys and the audience the sender was
// told to use.
func ExampleVerifier_Verify_dynamic() {
	// The sender, in-process for the example: webhookd's key ring and its
	// /.well-known/jwks.json.
	clock := fakeclock.New(time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC))
	dir, _ := os.MkdirTemp("", "receiver-example")
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "webhookd.db"), sqlite.Options{Clock: clock})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	sealer, _ := signing.NewSealer(make([]byte, signing.MasterKeySize))
	ring, err := signing.NewKeyRing(context.Background(), signing.KeyRingConfig{
		Store: store, Sealer: sealer, Clock: clock, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	jwks := httptest.NewServer(ring.JWKSHandler())
	defer jwks.Close()
	body := []byte(`{"type":"interaction.completed","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"v1_abc","user_metadata":{"job_group":"nightly-eval"}}}`)
	token, _ := ring.SignDelivery(signing.DeliveryToken{
		Issuer: "https://webhookd.example", Audience: "https://my-api.example/gemini-webhook-dynamic",
		WebhookID: "msg_dyn1", EventType: "interaction.completed", Body: body,
	})
	header := http.Header{}
	header.Set("webhook-id", "msg_dyn1")
	header.Set("webhook-timestamp", fmt.Sprint(clock.Now().Unix()))
	header.Set("webhook-signature", token)

	// The receiver.
	v, err := receiver.NewVerifier(receiver.Config{
		JWKSURL:  jwks.URL + "/.well-known/jwks.json",
		Audience: "https://my-api.example/gemini-webhook-dynamic",
		Issuer:   "https://webhookd.example",
		Now:      clock.Now,
	})
	if err != nil {
		panic(err)
	}
	ev, err := v.Verify(context.Background(), header, body)
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	fmt.Println(ev.Kind, ev.Type, string(ev.UserMetadata))
	// Output: jwt interaction.completed {"job_group":"nightly-eval"}
}

// NewHandler answers the sender at once and hands verified, new events to a
// channel the application drains at its own pace.
func ExampleNewHandler() {
	v, err := receiver.NewVerifier(receiver.Config{
		Secrets:    []string{"whsec_Yb7bbVSmH4vYMy1SAmKQS9QY8IhGSzvs8mwPXefMHfg="},
		Duplicates: receiver.NewMemoryFilter(0, nil),
		Now:        func() time.Time { return time.Unix(1769083200, 0) },
	})
	if err != nil {
		panic(err)
	}
	events := make(chan *receiver.Event, 100)
	mux := http.NewServeMux()
	mux.Handle("POST /gemini-callback", receiver.NewHandler(v, receiver.HandlerConfig{Events: events}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// webhookd delivers the same message twice (say, our first 2xx was lost).
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/gemini-callback", bytes.NewReader([]byte(`{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batches/batch_123456","output_file_uri":"files/batch_123456-results.jsonl","error_count":0}}`)))
		req.Header.Set("webhook-id", "msg_7wgd2v5rqjf3hxqzzyh2vj4s7e")
		req.Header.Set("webhook-timestamp", "1769083200")
		req.Header.Set("webhook-signature", "v1,X7oGrnX/OjZW7n37rY15xiYlLiLv5jPORE7cQBnYozI=")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	close(events)
	for ev := range events {
		fmt.Println("processing", ev.Type, ev.ID)
	}
	// Output:
	// 202
	// 200
	// processing batch.succeeded msg_7wgd2v5rqjf3hxqzzyh2vj4s7e
}
