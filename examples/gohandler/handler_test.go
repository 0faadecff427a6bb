package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/webhookd/webhookd/receiver"
	"github.com/webhookd/webhookd/signing"
)

// TestReceiverMux sends the README handler a signed delivery twice and a
// forged one: the event reaches the application once, the forgery never.
func TestReceiverMux(t *testing.T) {
	secret := signing.GenerateSecret()
	got := make(chan *receiver.Event, 4)
	mux, err := receiverMux(secret, func(ev *receiver.Event) { got <- ev })
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	key, _ := signing.ParseSecret(secret)
	body := []byte(`{"type":"batch.succeeded","version":"v1","timestamp":"2026-11-26T12:00:00Z","data":{"id":"batch_1","output_file_uri":"files/f1","error_count":0}}`)
	send := func(sig string) int {
		ts := time.Now().Unix()
		if sig == "" {
			sig = signing.SignHMAC([][]byte{key}, "msg_readme", ts, body)
		}
		req, _ := http.NewRequest("POST", srv.URL+"/gemini-callback", bytes.NewReader(body))
		req.Header.Set("webhook-id", "msg_readme")
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("webhook-signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 2 {
		if code := send(""); code/100 != 2 {
			t.Fatalf("delivery %d: status %d", i+1, code)
		}
	}
	if code := send("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="); code/100 == 2 {
		t.Fatalf("a forged signature was accepted (%d)", code)
	}
	select {
	case ev := <-got:
		if ev.ID != "msg_readme" || ev.Type != "batch.succeeded" {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the event never reached the application")
	}
	select {
	case ev := <-got:
		t.Fatalf("the duplicate reached the application: %+v", ev)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestListenAddr(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"default", nil, "", defaultAddr},
		{"environment", nil, "0.0.0.0:9000", "0.0.0.0:9000"},
		{"flag", []string{"--addr", ":9001"}, "", ":9001"},
		{"flag over environment", []string{"-addr=127.0.0.1:9002"}, "0.0.0.0:9000", "127.0.0.1:9002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "WEBHOOK_RECEIVER_ADDR" {
					return tc.env
				}
				return ""
			}
			got, err := listenAddr(tc.args, getenv)
			if err != nil || got != tc.want {
				t.Fatalf("listenAddr(%q) with WEBHOOK_RECEIVER_ADDR=%q = %q, %v; want %q", tc.args, tc.env, got, err, tc.want)
			}
		})
	}
	if _, err := listenAddr([]string{"--port", "1"}, func(string) string { return "" }); err == nil {
		t.Fatal("an unknown flag was accepted")
	}
}
