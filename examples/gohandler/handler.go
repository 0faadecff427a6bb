package main

import (
	"net/http"

	"github.com/webhookd/webhookd/receiver"
)

// receiverMux verifies webhookd's deliveries and hands each new event to handle.
func receiverMux(secret string, handle func(*receiver.Event)) (http.Handler, error) {
	v, err := receiver.NewVerifier(receiver.Config{
		Secrets:    []string{secret},                 // the whsec_… from create or rotate
		Duplicates: receiver.NewMemoryFilter(0, nil), // drop redeliveries of a webhook-id
	})
	if err != nil {
		return nil, err
	}
	events := make(chan *receiver.Event, 1024)
	go func() {
		for ev := range events {
			handle(ev) // runs after the 2xx: webhookd never waits for your work
		}
	}()
	mux := http.NewServeMux()
	mux.Handle("POST /gemini-callback", receiver.NewHandler(v, receiver.HandlerConfig{Events: events}))
	return mux, nil
}
