package delivery

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/webhookd/webhookd/signing"
)

// BenchmarkSend measures one HMAC-signed attempt to a loopback receiver
// that answers 204 at once: the sender's own cost (signing, the request,
// reading the answer) beside the round trip, which the receiver's side of
// the same process shares.
//
//	go test -run '^$' -bench Send -benchmem ./delivery
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	key := make([]byte, signing.MasterKeySize)
	sealer, err := signing.NewSealer(key)
	if err != nil {
		b.Fatal(err)
	}
	tr := NewTransport(nil)
	b.Cleanup(tr.CloseIdleConnections)
	s := newSender(tr, sealer, nil, "https://webhookd.test", 5*time.Second, true, false)
	c := staticClaim(srv.URL+"/hook", `{"type":"batch.succeeded","version":"v1","timestamp":"2026-03-01T12:00:00Z","data":{"id":"batches/1"}}`,
		sealedSecret(sealer, signing.GenerateSecret(), nil))
	b.ReportAllocs()
	for b.Loop() {
		r, err := s.send(b.Context(), c, time.Now())
		if err != nil || r.err != nil {
			b.Fatal(err, r.err)
		}
	}
}

// BenchmarkKeepHeaders is what keeping a response's headers costs an
// attempt: a typical receiver's few headers, sorted and joined.
func BenchmarkKeepHeaders(b *testing.B) {
	h := http.Header{
		"Content-Type":   {"application/json"},
		"Content-Length": {"17"},
		"Date":           {"Mon, 07 Dec 2026 22:00:00 GMT"},
		"Server":         {"nginx"},
		"X-Request-Id":   {"2f1c0e6a-9b1d-4c55-8f3a-6d7e1b2c3d4e"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if keepHeaders(h) == "" {
			b.Fatal("no headers kept")
		}
	}
}
