package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestTwoProcessesShareOnePostgres runs two `webhookd serve` processes on one
// PostgreSQL database and publishes through both. While both live, every
// event is delivered exactly once (no delivery is attempted twice: the
// receiver always answers 2xx, so nothing gives a reason to). Then one
// process is killed with SIGKILL under load: every acknowledged event still
// arrives, and the only events received twice are ones first received
// before the kill — deliveries the killed process sent but could not record,
// retried after their lease (the one legitimate reason).
func TestTwoProcessesShareOnePostgres(t *testing.T) {
	url := os.Getenv("WEBHOOKD_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("WEBHOOKD_TEST_POSTGRES_URL not set: skipping the two-process PostgreSQL test")
	}
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	db := freshSchemaURL(t, url)
	recv := newTimedReceiver(t)
	dir := t.TempDir()
	env := []string{
		"WEBHOOKD_DB=" + db,
		"WEBHOOKD_API_KEY=" + crashAPIKey,
		"WEBHOOKD_DEV=1",
		// Both processes must share the master key that seals the secrets.
		"WEBHOOKD_MASTER_KEY_FILE=" + filepath.Join(dir, "master.key"),
		"WEBHOOKD_RETRY_SCHEDULE=100ms,250ms,500ms,1s",
		"WEBHOOKD_RETRY_WINDOW=5m",
		"WEBHOOKD_LOG_LEVEL=warn",
		"WEBHOOKD_DELIVERY_TIMEOUT=2s",
		"WEBHOOKD_LEASE=6s",
	}
	addrA, addrB := freeAddr(t), freeAddr(t)
	baseA, baseB := "http://"+addrA, "http://"+addrB
	a := startServer(t, bin, dir, append(env, "WEBHOOKD_ADDR="+addrA), baseA)
	b := startServer(t, bin, dir, append(env, "WEBHOOKD_ADDR="+addrB), baseB)
	defer b.stop(t)

	var created struct {
		Secret string `json:"new_signing_secret"`
	}
	call(t, baseA, "POST", "/v1/webhooks", map[string]any{"uri": recv.URL + "/hook", "subscribed_events": []string{"batch.succeeded"}}, &created)
	recv.setSecret(t, created.Secret)

	// Phase 1: both processes alive; 1000 events through both APIs.
	var n atomic.Int64
	phase1 := publishMany(t, []string{baseA, baseB}, &n, 1000, nil)
	waitDelivered(t, recv, phase1)
	if dups := recv.duplicates(); len(dups) != 0 {
		t.Fatalf("with both processes alive, %d events were delivered twice: %v", len(dups), dups[:min(5, len(dups))])
	}
	// Both processes did part of the delivering (the queue is shared). The
	// counters move when results are recorded, a moment after the receipt.
	var doneA, doneB float64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		doneA, doneB = deliveredBy(t, baseA), deliveredBy(t, baseB)
		if doneA+doneB >= 1000 || time.Now().After(deadline) {
			break
		}
	}
	if doneA == 0 || doneB == 0 || doneA+doneB != 1000 {
		t.Fatalf("successful deliveries by process: A=%v B=%v; want both > 0 and 1000 in all", doneA, doneB)
	}

	// Phase 2: kill A under load; B's publishers go on and B takes over
	// A's leased deliveries when their lease ends.
	var killAt time.Time
	stopA := make(chan struct{})
	var killOnce sync.Once
	phase2 := publishMany(t, []string{baseA, baseB}, &n, 2000, func(acked int) {
		if acked == 500 {
			killOnce.Do(func() {
				close(stopA)
				a.kill(t)
				// A request A wrote just before it died may still be
				// read by the receiver a moment after: count receipts
				// up to 100 ms after the death as possibly A's.
				killAt = time.Now().Add(100 * time.Millisecond)
			})
		}
	}, stopA)
	if killAt.IsZero() {
		t.Fatal("process A was never killed")
	}
	phase2 = append(phase2, publishMany(t, []string{baseB}, &n, 200, nil)...)
	waitDelivered(t, recv, phase2)

	for _, id := range recv.duplicates() {
		if first := recv.firstReceipt(id); !first.Before(killAt) {
			t.Errorf("event %s was delivered twice, first at %v, after the kill at %v: no lease expiry explains it", id, first, killAt)
		}
	}
	received, distinct, bad := recv.counts()
	if bad > 0 {
		t.Errorf("%d deliveries failed verification", bad)
	}
	t.Logf("two processes on PostgreSQL: phase1 acknowledged=%d delivered_once=%d duplicates=0 (delivered by A=%v, by B=%v); phase2 acknowledged=%d (A killed after 500) lost=0 received_total=%d distinct=%d duplicates_explained_by_lease=%d",
		len(phase1), len(phase1), doneA, doneB, len(phase2), received, distinct, len(recv.duplicates()))
}

// publishMany publishes up to count events round-robin through bases and
// returns the ids acknowledged. onAck runs after each acknowledgement; once
// stop (optional) is closed, failures of requests to bases[0] are expected
// and that base is no longer used.
func publishMany(t *testing.T, bases []string, n *atomic.Int64, count int, onAck func(acked int), stop ...chan struct{}) []string {
	t.Helper()
	var (
		mu    sync.Mutex
		acked []string
		left  atomic.Int64
		wg    sync.WaitGroup
	)
	left.Store(int64(count))
	stopped := func() bool {
		if len(stop) == 0 {
			return false
		}
		select {
		case <-stop[0]:
			return true
		default:
			return false
		}
	}
	for w := range 8 {
		wg.Go(func() {
			client := &http.Client{Timeout: 10 * time.Second}
			for left.Add(-1) >= 0 {
				base := bases[w%len(bases)]
				if w%len(bases) == 0 && len(bases) > 1 && stopped() {
					base = bases[1]
				}
				id, err := publishEvent(client, base, n.Add(1))
				if err != nil {
					if base == bases[0] && stopped() {
						continue // the killed process; the client would retry elsewhere
					}
					t.Errorf("publish to %s: %v", base, err)
					return
				}
				mu.Lock()
				acked = append(acked, id)
				if onAck != nil {
					onAck(len(acked))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return acked
}

func waitDelivered(t *testing.T, recv *timedReceiver, ids []string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for recv.missing(ids) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged events never arrived", recv.missing(ids), len(ids))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// timedReceiver is a countingReceiver that also remembers when each
// webhook-id first arrived.
type timedReceiver struct {
	*countingReceiver
	mu    sync.Mutex
	first map[string]time.Time
}

func newTimedReceiver(t *testing.T) *timedReceiver {
	r := &timedReceiver{first: map[string]time.Time{}}
	r.countingReceiver = newCountingReceiver(t)
	inner := r.countingReceiver.Config.Handler
	r.countingReceiver.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		id := req.Header.Get("webhook-id")
		r.mu.Lock()
		if _, ok := r.first[id]; !ok {
			r.first[id] = time.Now()
		}
		r.mu.Unlock()
		inner.ServeHTTP(w, req)
	})
	return r
}

func (r *timedReceiver) firstReceipt(id string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first[id]
}

func (r *timedReceiver) duplicates() []string {
	r.countingReceiver.mu.Lock()
	defer r.countingReceiver.mu.Unlock()
	var out []string
	for id, c := range r.seen {
		if c > 1 {
			out = append(out, id)
		}
	}
	return out
}

// deliveredBy reads a process's webhookd_deliveries_total{outcome="succeeded"}.
func deliveredBy(t *testing.T, base string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, `webhookd_deliveries_total{outcome="succeeded"}`) {
			v, err := strconv.ParseFloat(strings.Fields(line)[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	return 0
}
