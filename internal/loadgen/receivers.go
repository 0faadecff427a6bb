// Package loadgen is the machinery of "webhookd bench": loopback receivers
// that verify every delivery and record when it arrived, the raw
// signed-POST baseline the service is compared with, an API client that
// publishes events, and latency statistics.
//
// The benchmark's numbers are only meaningful as ratios measured in one run
// on one machine, so everything here is built to cost the same in both
// phases: the raw baseline and the service's deliveries reach the same
// servers, through the same handler, and are verified the same way.
package loadgen

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webhookd/webhookd/receiver"
)

// maxBody bounds what a receiver reads; benchmark envelopes are well under it.
const maxBody = 1 << 20

// Behavior is how a target answers.
type Behavior struct {
	// FailRate is the fraction (0..1) of messages whose first attempt is
	// answered 500, so that they go through the sender's retries. The
	// failures are spread evenly over the messages in their order of
	// arrival (with 0.01, every hundredth new message), so that a run fails
	// exactly that share, and failures never come in a burst that would
	// open the sender's circuit breaker.
	FailRate float64
	// Hang makes the target never answer: it holds each request until the
	// sender gives up or the receivers close. Target.SetHang changes it
	// while the target serves.
	Hang bool
}

// Target is one URI deliveries go to: a path on one receiver server,
// verified by its own verifier. It records the first verified receipt of
// every webhook-id.
type Target struct {
	URI      string
	verifier *receiver.Verifier
	behavior Behavior
	hang     atomic.Bool   // Behavior.Hang, changed by SetHang
	release  chan struct{} // closed by Release
	once     sync.Once
	received *atomic.Int64 // the receivers' total, for progress

	mu         sync.Mutex
	first      map[string]time.Time
	duplicates int
	rejected   int
	injected   map[string]struct{}
	arrivals   int // new messages seen, for FailRate
	held       int // requests held while hanging
	lastReject error
}

// Receipt returns the time id was first received and verified.
func (t *Target) Receipt(id string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.first[id]
	return at, ok
}

// SetHang makes the target stop answering (true) or answer again (false)
// from its next request on; requests it holds stay held. The hang scenario
// compares the same destinations with one of them answering, then hanging.
func (t *Target) SetHang(hang bool) { t.hang.Store(hang) }

// Release answers the requests a hanging target holds, and any it gets
// later, with 503 at once.
func (t *Target) Release() { t.once.Do(func() { close(t.release) }) }

// TargetStats counts what a target saw.
type TargetStats struct {
	Distinct   int // webhook-ids received and verified
	Duplicates int // verified receipts of an id already received
	Rejected   int // requests that failed verification
	Injected   int // first attempts answered 500 on purpose (Behavior.FailRate)
	Held       int // requests held unanswered while the target hung
	// LastReject is the last verification error, to say why in a report.
	LastReject error
}

// Stats returns the target's counts so far.
func (t *Target) Stats() TargetStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return TargetStats{Distinct: len(t.first), Duplicates: t.duplicates, Rejected: t.rejected, Injected: len(t.injected), Held: t.held, LastReject: t.lastReject}
}

// Receivers are HTTP servers on distinct loopback ports. Each port is a
// destination to webhookd (its in-flight cap, connection pool and circuit
// are per scheme, host and port), so n servers are n destinations.
type Receivers struct {
	servers  []*http.Server
	urls     []string
	routes   []sync.Map // per server: path → http.Handler
	release  chan struct{}
	once     sync.Once
	received atomic.Int64
	wg       sync.WaitGroup
}

// NewReceivers starts n servers on 127.0.0.1, each on a free port.
func NewReceivers(n int, logger *slog.Logger) (*Receivers, error) {
	if n < 1 {
		return nil, fmt.Errorf("loadgen: need at least one receiver, got %d", n)
	}
	r := &Receivers{routes: make([]sync.Map, n), release: make(chan struct{})}
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			_ = r.Close()
			return nil, fmt.Errorf("loadgen: receiver %d: %w", i, err)
		}
		srv := &http.Server{
			Handler:           r.mux(i),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		r.servers = append(r.servers, srv)
		r.urls = append(r.urls, "http://"+ln.Addr().String())
		r.wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Warn("receiver stopped", "addr", ln.Addr().String(), "err", err)
			}
		})
	}
	return r, nil
}

// URL returns server i's base URL, http://127.0.0.1:PORT.
func (r *Receivers) URL(i int) string { return r.urls[i] }

// Len is the number of servers.
func (r *Receivers) Len() int { return len(r.servers) }

// Received counts verified receipts on every target, duplicates included.
func (r *Receivers) Received() int64 { return r.received.Load() }

// Handle serves h at path on server i (for a JWKS, say).
func (r *Receivers) Handle(i int, path string, h http.Handler) {
	r.routes[i].Store(path, h)
}

// AddTarget serves a verifying target at path on server i. expect sizes its
// receipt map (the number of messages it will get).
func (r *Receivers) AddTarget(i int, path string, v *receiver.Verifier, b Behavior, expect int) *Target {
	t := &Target{
		URI:      r.urls[i] + path,
		verifier: v,
		behavior: b,
		received: &r.received,
		first:    make(map[string]time.Time, expect),
		injected: map[string]struct{}{},
		release:  make(chan struct{}),
	}
	t.hang.Store(b.Hang)
	r.routes[i].Store(path, http.Handler(t.handler(r.release)))
	return t
}

func (r *Receivers) mux(i int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h, ok := r.routes[i].Load(req.URL.Path)
		if !ok {
			http.NotFound(w, req)
			return
		}
		h.(http.Handler).ServeHTTP(w, req)
	})
}

// Close releases hanging requests and closes the servers and their
// connections at once: the run is over, and a graceful shutdown would wait
// seconds for connections a client opened but never used.
func (r *Receivers) Close() error {
	r.once.Do(func() { close(r.release) })
	var errs []error
	for _, s := range r.servers {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	r.wg.Wait()
	return errors.Join(errs...)
}

// handler verifies, then records, each request. The receipt time is taken
// once the message is verified: a real receiver would not act on it sooner.
func (t *Target) handler(release <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if t.hang.Load() {
			select {
			case <-t.release:
				http.Error(w, "released", http.StatusServiceUnavailable)
				return
			default:
			}
			t.mu.Lock()
			t.held++
			t.mu.Unlock()
			select {
			case <-req.Context().Done():
			case <-release:
				http.Error(w, "receiver closing", http.StatusServiceUnavailable)
			case <-t.release:
				http.Error(w, "released", http.StatusServiceUnavailable)
			}
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBody))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		ev, err := t.verifier.Verify(req.Context(), req.Header, body)
		now := time.Now()
		if err != nil {
			t.mu.Lock()
			t.rejected++
			t.lastReject = err
			t.mu.Unlock()
			http.Error(w, err.Error(), receiver.StatusCode(err))
			return
		}
		if t.failFirst(ev.ID) {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		t.mu.Lock()
		if _, seen := t.first[ev.ID]; seen {
			t.duplicates++
		} else {
			t.first[ev.ID] = now
		}
		t.mu.Unlock()
		t.received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}
}

// failFirst reports whether this attempt of id is to fail on purpose: the
// first attempt of every new message whose arrival makes the injected count
// reach the next whole multiple of FailRate.
func (t *Target) failFirst(id string) bool {
	rate := t.behavior.FailRate
	if rate <= 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, received := t.first[id]; received {
		return false
	}
	if _, done := t.injected[id]; done {
		return false
	}
	t.arrivals++
	if math.Floor(float64(t.arrivals)*rate) == math.Floor(float64(t.arrivals-1)*rate) {
		return false
	}
	t.injected[id] = struct{}{}
	return true
}
