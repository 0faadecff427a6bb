package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The fault test's bounds.
const (
	faultRestartAfter = 1000             // acknowledged publishes before the restart
	faultAfterOutage  = 1000             // acknowledged publishes after it, to end
	faultMaxPublishes = 6000             // publishes in all, at most
	faultDown         = 3 * time.Second  // how long the server stays down
	faultMaxHeld      = 15 * time.Second // the longest a delivery may be held past the outage: far below the 60 s lease, with room for a loaded machine
)

// TestPostgresRestartUnderLoad restarts webhookd's PostgreSQL server (a
// cluster of the test's own, stopped with -m fast as a maintenance restart
// or a failover does) while 8 clients publish single events to a loopback
// receiver, and checks what a client and a receiver see: every publish is
// answered 200 or 503 (never a 500), every acknowledged event is delivered,
// no delivery stays pending more than faultMaxHeld past the outage (a
// result that could not be recorded must not wait for its lease), and
// /readyz answers 503 while the server is down and 200 once it is back.
//
// It needs initdb and pg_ctl and takes half a minute, so it runs only when
// WEBHOOKD_TEST_FAULT is set (.ci/run sets it).
func TestPostgresRestartUnderLoad(t *testing.T) {
	if os.Getenv("WEBHOOKD_TEST_FAULT") == "" {
		t.Skip("WEBHOOKD_TEST_FAULT not set: skipping the PostgreSQL restart test (.ci/run runs it)")
	}
	bin := buildBinary(t)
	pg := newPGCluster(t)
	faultTest(t, bin, pg, pg.URL(""), pg.URL(""), "restart")
}

// TestPgBouncerTransactionPooling is the same load and restart with
// webhookd behind PgBouncer in transaction pooling mode, told so by
// pool_mode=transaction in its URL: nothing acknowledged is lost, no
// publish is answered other than 200 or 503. (Without pool_mode, the
// statements pgx prepares in one server session meet each other in the
// sessions the pooler shares: "prepared statement … already exists",
// 42P05, and nothing is delivered.) It also runs the migrations and the
// maintenance lock behind the pooler.
func TestPgBouncerTransactionPooling(t *testing.T) {
	if os.Getenv("WEBHOOKD_TEST_FAULT") == "" {
		t.Skip("WEBHOOKD_TEST_FAULT not set: skipping the PgBouncer test (.ci/run runs it)")
	}
	bin := buildBinary(t)
	pg := newPGCluster(t)
	port := startPgBouncer(t, pg)
	db := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&pool_mode=transaction", port)
	faultTest(t, bin, pg, db, pg.URL(""), "restart behind pgbouncer pool_mode=transaction")
}

// TestPostgresFailoverToStandby: when the server webhookd reaches becomes a
// read-only standby — as an old primary does after a failover — publishes
// answer 503 (SQLSTATE 25006, not 500) and /readyz answers 503; once it is
// a primary again (promoted, as the new primary is), both answer 200 and
// events are delivered again, without a restart of webhookd.
func TestPostgresFailoverToStandby(t *testing.T) {
	if os.Getenv("WEBHOOKD_TEST_FAULT") == "" {
		t.Skip("WEBHOOKD_TEST_FAULT not set: skipping the PostgreSQL failover test (.ci/run runs it)")
	}
	bin := buildBinary(t)
	pg := newPGCluster(t)
	recv := newTimedReceiver(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr
	startServer(t, bin, dir, []string{
		"WEBHOOKD_ADDR=" + addr,
		"WEBHOOKD_DB=" + pg.URL(""),
		"WEBHOOKD_API_KEY=" + crashAPIKey,
		"WEBHOOKD_DEV=1",
		"WEBHOOKD_MASTER_KEY_FILE=" + filepath.Join(dir, "master.key"),
		"WEBHOOKD_LOG_LEVEL=warn",
	}, base)
	var created struct {
		Secret string `json:"new_signing_secret"`
	}
	call(t, base, "POST", "/v1/webhooks", map[string]any{"uri": recv.URL + "/hook", "subscribed_events": []string{"batch.succeeded"}}, &created)
	recv.setSecret(t, created.Secret)
	client := &http.Client{Timeout: 30 * time.Second}
	readyz := func() int {
		resp, err := client.Get(base + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	// The server restarts as a standby (standby.signal, no primary to
	// follow): it answers, read-only.
	if err := pg.stop("fast"); err != nil {
		t.Fatal(err)
	}
	pg.run(t, "touch", filepath.Join(pg.data, "standby.signal"))
	if err := pg.start(); err != nil {
		t.Fatal(err)
	}
	codes := map[int]int{}
	for n := range int64(20) {
		code, _, body := faultPublish(client, base, n)
		codes[code]++
		if code != http.StatusServiceUnavailable && code != 0 {
			t.Errorf("publish to a read-only standby answered %d %s, want 503", code, body)
		}
	}
	if code := readyz(); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz answers %d on a read-only standby, want 503", code)
	}

	// Promoted, it is a primary again.
	pg.run(t, "pg_ctl", "-D", pg.data, "-w", "promote")
	var id string
	deadline := time.Now().Add(30 * time.Second)
	for code := 0; code != http.StatusOK; {
		if time.Now().After(deadline) {
			t.Fatalf("publish still answers %d 30 s after the promotion", code)
		}
		code, id, _ = faultPublish(client, base, 100)
		if code != http.StatusOK {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if code := readyz(); code != http.StatusOK {
		t.Errorf("/readyz answers %d after the promotion, want 200", code)
	}
	for time.Now().Before(deadline) && recv.missing([]string{id}) > 0 {
		time.Sleep(50 * time.Millisecond)
	}
	if recv.missing([]string{id}) > 0 {
		t.Error("the event published after the promotion was not delivered")
	}
	t.Logf("failover test: publishes to the read-only standby answered (status:count) %v; after promotion publish=200 readyz=200 delivered=%v", codes, recv.missing([]string{id}) == 0)
}

// faultCounts is what the publishers saw.
type faultCounts struct {
	mu       sync.Mutex
	status   map[int]int // answers by HTTP status; 0 is a transport error
	attempts int
	acked    []string
	ackTime  map[string]time.Time
	afterOut int // acknowledged after the outage ended
	firstBad string
}

// faultTest runs the load on webhookd with database URL db, restarts pg
// under it, and checks the deliveries through direct, a URL of pg itself.
func faultTest(t *testing.T, bin string, pg *pgCluster, db, direct, name string) {
	recv := newTimedReceiver(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr
	srv := startServer(t, bin, dir, []string{
		"WEBHOOKD_ADDR=" + addr,
		"WEBHOOKD_DB=" + db,
		"WEBHOOKD_API_KEY=" + crashAPIKey,
		"WEBHOOKD_DEV=1",
		"WEBHOOKD_MASTER_KEY_FILE=" + filepath.Join(dir, "master.key"),
		"WEBHOOKD_RETRY_SCHEDULE=100ms,250ms,500ms,1s",
		"WEBHOOKD_RETRY_WINDOW=5m",
		"WEBHOOKD_LOG_LEVEL=warn",
		"WEBHOOKD_LOG_FORMAT=json",
		// The default lease (60 s): a result lost to the outage would hold
		// its delivery that long.
	}, base)
	t.Cleanup(func() {
		if t.Failed() {
			srv.stop(t)
			logs := srv.logs.String()
			t.Logf("webhookd's log (the last 4 KB):\n%s", logs[max(0, len(logs)-4096):])
		}
	})
	var created struct {
		Secret string `json:"new_signing_secret"`
	}
	call(t, base, "POST", "/v1/webhooks", map[string]any{"uri": recv.URL + "/hook", "subscribed_events": []string{"batch.succeeded"}}, &created)
	recv.setSecret(t, created.Secret)

	// /readyz, polled throughout.
	var (
		readyMu      sync.Mutex
		readyDown    int // 503 answers while the server was down
		readyDownAll int // probes while it was down
		outageStart  time.Time
		outageEnd    time.Time
	)
	down := make(chan struct{})
	restarted := make(chan struct{})
	probeCtx, stopProbe := context.WithCancel(context.Background())
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		client := &http.Client{Timeout: 10 * time.Second}
		for probeCtx.Err() == nil {
			resp, err := client.Get(base + "/readyz")
			code := 0
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			readyMu.Lock()
			if isClosed(down) && !isClosed(restarted) {
				readyDownAll++
				if code == http.StatusServiceUnavailable {
					readyDown++
				}
			}
			readyMu.Unlock()
			time.Sleep(100 * time.Millisecond)
		}
	}()

	restart := sync.OnceFunc(func() {
		go func() {
			readyMu.Lock()
			outageStart = time.Now()
			readyMu.Unlock()
			if err := pg.stop("fast"); err != nil {
				t.Error(err)
			}
			close(down)
			time.Sleep(faultDown)
			if err := pg.start(); err != nil {
				t.Error(err)
			}
			readyMu.Lock()
			outageEnd = time.Now()
			readyMu.Unlock()
			close(restarted)
		}()
	})
	fc := &faultCounts{status: map[int]int{}, ackTime: map[string]time.Time{}}
	var n atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			client := &http.Client{Timeout: 30 * time.Second}
			for {
				fc.mu.Lock()
				if fc.attempts >= faultMaxPublishes || fc.afterOut >= faultAfterOutage {
					fc.mu.Unlock()
					return
				}
				fc.attempts++
				fc.mu.Unlock()
				code, id, body := faultPublish(client, base, n.Add(1))
				now := time.Now()
				fc.mu.Lock()
				fc.status[code]++
				if code == http.StatusOK {
					fc.acked = append(fc.acked, id)
					fc.ackTime[id] = now
					if isClosed(restarted) {
						fc.afterOut++
					}
				} else if code != http.StatusServiceUnavailable && fc.firstBad == "" {
					fc.firstBad = fmt.Sprintf("%d %s", code, body)
				}
				acked := len(fc.acked)
				fc.mu.Unlock()
				if acked >= faultRestartAfter {
					restart()
				}
				if code != http.StatusOK {
					time.Sleep(20 * time.Millisecond) // a client backs off a little
				}
			}
		})
	}
	wg.Wait()
	if !isClosed(down) {
		t.Fatalf("the server was never restarted (%d acknowledged)", len(fc.acked))
	}
	<-restarted
	readyMu.Lock()
	start, end := outageStart, outageEnd
	readyMu.Unlock()

	// Every acknowledged event arrives; the deliveries all end succeeded.
	deadline := time.Now().Add(90 * time.Second)
	for recv.missing(fc.acked) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	missing := recv.missing(fc.acked)
	settled, pending := waitSettled(t, direct, time.Now().Add(90*time.Second))
	stopProbe()
	<-probed
	var ready int
	if resp, err := http.Get(base + "/readyz"); err == nil {
		resp.Body.Close()
		ready = resp.StatusCode
	}

	var maxHeld time.Duration
	held := 0
	for _, id := range fc.acked {
		from := fc.ackTime[id]
		if from.Before(end) {
			from = end
		}
		if d := recv.firstReceipt(id).Sub(from); d > maxHeld {
			maxHeld = d
		}
		if recv.firstReceipt(id).Sub(from) > faultMaxHeld {
			held++
		}
	}
	srv.stop(t)
	logErrors, logWarns, firstErrors := countLogLevels(srv.logs.String())
	received, distinct, bad := recv.counts()
	others := fc.attempts - fc.status[http.StatusOK] - fc.status[http.StatusServiceUnavailable]
	t.Logf("fault test (%s, down %v): publishes=%d ok_200=%d unavailable_503=%d other=%d (internal_500=%d transport_errors=%d) acknowledged=%d delivered=%d missing=%d received_total=%d redelivered=%d held_past_outage_over_%v=%d max_delivery_delay_past_outage=%v deliveries_settled_after_outage=%v pending_at_end=%d readyz_503_while_down=%d/%d readyz_at_end=%d log_error_lines=%d log_warn_lines=%d",
		name, end.Sub(start).Round(100*time.Millisecond), fc.attempts, fc.status[http.StatusOK], fc.status[http.StatusServiceUnavailable], others,
		fc.status[http.StatusInternalServerError], fc.status[0], len(fc.acked), distinct, missing, received, received-distinct,
		faultMaxHeld, held, maxHeld.Round(10*time.Millisecond), settled.Sub(end).Round(10*time.Millisecond), pending,
		readyDown, readyDownAll, ready, logErrors, logWarns)

	if others > 0 {
		t.Errorf("%d publishes were answered other than 200 or 503; the first: %s", others, fc.firstBad)
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged events never arrived", missing, len(fc.acked))
	}
	if bad > 0 {
		t.Errorf("%d deliveries failed signature verification", bad)
	}
	if held > 0 || pending > 0 || settled.Sub(end) > faultMaxHeld {
		t.Errorf("deliveries held past the outage: %d arrived more than %v after it, the last settled %v after it, %d still pending",
			held, faultMaxHeld, settled.Sub(end), pending)
	}
	if readyDownAll > 0 && readyDown == 0 {
		t.Errorf("/readyz never answered 503 in %d probes while the database was down", readyDownAll)
	}
	if ready != http.StatusOK {
		t.Errorf("/readyz answers %d after the outage, want 200", ready)
	}
	if logErrors > 0 {
		t.Errorf("the outage logged %d lines at ERROR; an unavailable database is a WARN, once. The first:\n%s", logErrors, strings.Join(firstErrors, "\n"))
	}
}

// faultPublish publishes event n and returns the answer's status (0 for a
// transport error), the event id of a 200 and the body otherwise.
func faultPublish(c *http.Client, base string, n int64) (code int, id, body string) {
	payload := fmt.Sprintf(`{"type":"batch.succeeded","data":{"id":"batches/fault-%d","output_file_uri":"files/out-%d","error_count":0}}`, n, n)
	req, _ := http.NewRequest("POST", base+"/v1/events", strings.NewReader(payload))
	req.Header.Set("x-goog-api-key", crashAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, "", strings.TrimSpace(string(b))
	}
	var ev struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &ev); err != nil || ev.ID == "" {
		return -1, "", "undecodable 200: " + string(b)
	}
	return http.StatusOK, ev.ID, ""
}

// waitSettled waits until no delivery is pending, and returns when that was
// seen (or the deadline) and how many were still pending then.
func waitSettled(t *testing.T, db string, deadline time.Time) (time.Time, int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatalf("connect to check the deliveries: %v", err)
	}
	defer conn.Close(ctx)
	for {
		var pending int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE state = 'pending'`).Scan(&pending); err != nil {
			t.Fatalf("count pending deliveries: %v", err)
		}
		if pending == 0 || time.Now().After(deadline) {
			return time.Now(), pending
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countLogLevels counts a JSON log's lines at ERROR and at WARN, and
// returns the first few at ERROR.
func countLogLevels(logs string) (errors, warns int, first []string) {
	for _, line := range strings.Split(logs, "\n") {
		switch {
		case strings.Contains(line, `"level":"ERROR"`):
			errors++
			if len(first) < 5 {
				first = append(first, line)
			}
		case strings.Contains(line, `"level":"WARN"`):
			warns++
		}
	}
	return errors, warns, first
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
