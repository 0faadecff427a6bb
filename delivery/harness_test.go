package delivery_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/signing"
	"github.com/webhookd/webhookd/sqlite"
)

// waitLimit bounds every wait for the engine to do something; it is a
// failure bound, never a pause: waits end on a signal.
const waitLimit = 20 * time.Second

// observedStore is the real SQLite store that also signals each recorded
// batch of results, so tests wait for a signal instead of sleeping.
type observedStore struct {
	*sqlite.Store
	mu       sync.Mutex
	recorded chan struct{} // closed and replaced on every RecordResults
}

func (s *observedStore) RecordResults(ctx context.Context, results []webhookd.Result) error {
	err := s.Store.RecordResults(ctx, results)
	s.mu.Lock()
	close(s.recorded)
	s.recorded = make(chan struct{})
	s.mu.Unlock()
	return err
}

func (s *observedStore) nextRecord() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recorded
}

// harness is one test's world: a SQLite store in t.TempDir(), a project, a
// master key, and whatever receivers and engines the test starts.
type harness struct {
	t       testing.TB
	store   *observedStore
	clock   webhookd.Clock
	sealer  *signing.Sealer
	project *webhookd.Project
	log     *slog.Logger
}

func setup(t testing.TB, clock webhookd.Clock) *harness {
	t.Helper()
	if clock == nil {
		clock = webhookd.SystemClock{}
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "webhookd.db"), sqlite.Options{Clock: clock, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := make([]byte, signing.MasterKeySize)
	_, _ = rand.Read(key)
	sealer, err := signing.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	p := &webhookd.Project{Name: "test"}
	if err := st.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, store: &observedStore{Store: st, recorded: make(chan struct{})}, clock: clock, sealer: sealer, project: p, log: log}
}

// testWriter sends log lines to t.Log, so they show only for failing tests.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// webhook registers an enabled webhook to uri and returns it with its secret.
func (h *harness) webhook(uri string) (*webhookd.Webhook, string) {
	h.t.Helper()
	secret := signing.GenerateSecret()
	w := &webhookd.Webhook{
		ProjectID:        h.project.ID,
		Name:             "test",
		URI:              uri,
		SubscribedEvents: []string{webhookd.EventBatchSucceeded},
		State:            webhookd.WebhookEnabled,
		Secrets:          []webhookd.SigningSecret{{Sealed: h.sealer.Seal([]byte(secret)), Truncated: signing.TruncateSecret(secret)}},
	}
	if err := h.store.CreateWebhook(h.t.Context(), w); err != nil {
		h.t.Fatal(err)
	}
	return w, secret
}

// publish creates one event for one webhook and returns it.
func (h *harness) publish(webhookID string) *webhookd.Event {
	h.t.Helper()
	ev, _, err := h.store.PublishEvent(h.t.Context(), webhookd.NewEvent{
		ProjectID:     h.project.ID,
		Type:          webhookd.EventBatchSucceeded,
		Data:          json.RawMessage(`{"id":"batches/` + webhookd.NewID("") + `","output_file_uri":"files/x"}`),
		Source:        "api",
		OnlyWebhookID: webhookID,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return ev
}

// config returns an engine config for tests: fast polling and flushing, a
// plain transport (receivers are on loopback), http allowed.
func (h *harness) config() delivery.Config {
	return delivery.Config{
		Store:         h.store,
		Sealer:        h.sealer,
		Clock:         h.clock,
		Logger:        h.log,
		Transport:     delivery.NewTransport(nil),
		AllowHTTP:     true,
		Timeout:       2 * time.Second,
		PollInterval:  20 * time.Millisecond,
		FlushInterval: 5 * time.Millisecond,
		Policy:        delivery.RetryPolicy{Schedule: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}, Window: 5 * time.Second},
	}
}

// start runs an engine until the test ends (or stop is called) and returns it.
func (h *harness) start(cfg delivery.Config) (e *delivery.Engine, stop func()) {
	h.t.Helper()
	e, err := delivery.New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("Run: %v", err)
			}
			if tr, ok := cfg.Transport.(interface{ CloseIdleConnections() }); ok {
				tr.CloseIdleConnections()
			}
		})
	}
	h.t.Cleanup(stop)
	return e, stop
}

// waitFor waits until cond holds, re-checking it after every recorded batch.
// It fails when no batch is recorded for waitLimit (the engine stalled), or
// after 5×waitLimit in all: a bound on a stall, not on speed, so that a
// large backlog on a busy machine is not mistaken for a stuck one.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	stall := time.NewTimer(waitLimit)
	defer stall.Stop()
	overall := time.NewTimer(5 * waitLimit)
	defer overall.Stop()
	for {
		next := h.store.nextRecord()
		if cond() {
			return
		}
		select {
		case <-next:
			stall.Reset(waitLimit)
		case <-stall.C:
			st, _ := h.store.QueueStats(context.Background())
			h.t.Fatalf("timed out waiting for %s: nothing recorded for %v (queue: %+v)", what, waitLimit, st)
		case <-overall.C:
			st, _ := h.store.QueueStats(context.Background())
			h.t.Fatalf("timed out waiting for %s after %v (queue: %+v)", what, 5*waitLimit, st)
		}
	}
}

// delivery returns the only delivery of an event.
func (h *harness) delivery(eventID string) *webhookd.Delivery {
	h.t.Helper()
	ds, err := h.store.ListDeliveries(context.Background(), h.project.ID, eventID)
	if err != nil || len(ds) != 1 {
		h.t.Fatalf("deliveries of %s: %v, %v", eventID, ds, err)
	}
	return ds[0]
}

// waitDone waits until the event's delivery is no longer pending.
func (h *harness) waitDone(eventID string) *webhookd.Delivery {
	h.t.Helper()
	var d *webhookd.Delivery
	h.waitFor("delivery of "+eventID+" to finish", func() bool {
		d = h.delivery(eventID)
		h.t.Logf("%s: %s, %d attempts, next %v, lease %q", d.ID, d.State, d.AttemptCount, d.NextAttemptTime.Format("15:04:05.000"), d.LeaseToken)
		return d.State != webhookd.DeliveryPending
	})
	return d
}

func (h *harness) attempts(deliveryID string) []*webhookd.Attempt {
	h.t.Helper()
	as, err := h.store.ListAttempts(context.Background(), h.project.ID, deliveryID)
	if err != nil {
		h.t.Fatal(err)
	}
	return as
}

// request is what a test receiver saw.
type request struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is a loopback HTTP receiver whose answer to each request is
// decided by a function of the request's number (1-based).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
	arrived  chan request
}

func newReceiver(t testing.TB, answer func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{arrived: make(chan request, 4096)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := request{header: r.Header.Clone(), body: body, at: time.Now()}
		rc.mu.Lock()
		rc.requests = append(rc.requests, req)
		n := len(rc.requests)
		rc.mu.Unlock()
		rc.arrived <- req
		answer(n, w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) seen() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.requests...)
}

// ok answers 204.
func ok(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

// tokenSigner is a JWTSigner that keeps what it was asked to sign; the RS256
// signing itself belongs to package signing and is tested there.
type tokenSigner struct {
	mu     sync.Mutex
	tokens []signing.DeliveryToken
}

func (s *tokenSigner) SignDelivery(tok signing.DeliveryToken) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = append(s.tokens, tok)
	return "token-for:" + tok.Audience, nil
}

func (s *tokenSigner) last() signing.DeliveryToken {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[len(s.tokens)-1]
}
