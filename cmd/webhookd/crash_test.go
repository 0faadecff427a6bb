package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/webhookd/webhookd"
)

// TestCrashLosesNothing publishes a few thousand events, kills the server
// with SIGKILL while it is both accepting and delivering, restarts it on the
// same database, and checks that every event the API acknowledged reaches the
// receiver at least once (distinct webhook-ids, each with a valid signature).
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	t.Run("sqlite", func(t *testing.T) {
		crashTest(t, bin, "sqlite:"+filepath.Join(t.TempDir(), "crash.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		url := os.Getenv("WEBHOOKD_TEST_POSTGRES_URL")
		if url == "" {
			t.Skip("WEBHOOKD_TEST_POSTGRES_URL not set: skipping the PostgreSQL crash test")
		}
		crashTest(t, bin, freshSchemaURL(t, url))
	})
}

const (
	crashEvents    = 3000
	crashKillAfter = 1000 // acknowledged events before the SIGKILL
	crashAPIKey    = "crash-test-key-0123456789"
)

func crashTest(t *testing.T, bin, db string) {
	recv := newCountingReceiver(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	env := []string{
		"WEBHOOKD_ADDR=" + addr,
		"WEBHOOKD_DB=" + db,
		"WEBHOOKD_API_KEY=" + crashAPIKey,
		"WEBHOOKD_DEV=1",
		"WEBHOOKD_MASTER_KEY_FILE=" + filepath.Join(dir, "master.key"),
		"WEBHOOKD_RETRY_SCHEDULE=100ms,250ms,500ms,1s",
		"WEBHOOKD_RETRY_WINDOW=5m",
		"WEBHOOKD_LOG_LEVEL=warn",
		// A short lease, so that deliveries claimed by the killed process
		// are claimed again within seconds instead of a minute.
		"WEBHOOKD_DELIVERY_TIMEOUT=2s",
		"WEBHOOKD_LEASE=6s",
	}
	base := "http://" + addr
	srv := startServer(t, bin, dir, env, base)

	var created struct {
		Secret string `json:"new_signing_secret"`
	}
	call(t, base, "POST", "/v1/webhooks", map[string]any{"uri": recv.URL + "/hook", "subscribed_events": []string{"batch.succeeded"}}, &created)
	recv.setSecret(t, created.Secret)

	// Publish from several clients; kill the server once crashKillAfter
	// events are acknowledged. Requests in flight at the kill fail and
	// count as not acknowledged — the client would retry them.
	var (
		mu     sync.Mutex
		acked  []string
		next   atomic.Int64
		killed = make(chan struct{})
		once   sync.Once
	)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			client := &http.Client{Timeout: 10 * time.Second}
			for {
				n := next.Add(1)
				if n > crashEvents {
					return
				}
				id, err := publishEvent(client, base, n)
				if err != nil {
					select {
					case <-killed:
						return
					default:
						t.Errorf("publish before the kill: %v", err)
						return
					}
				}
				mu.Lock()
				acked = append(acked, id)
				if len(acked) == crashKillAfter {
					once.Do(func() {
						close(killed) // before the kill: requests failing from now on are expected
						srv.kill(t)
					})
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatalf("the server was never killed (%d acknowledged)", len(acked))
	}
	beforeRestart := recv.distinct()

	// Restart on the same database and finish the publishing.
	srv = startServer(t, bin, dir, env, base)
	defer srv.stop(t)
	client := &http.Client{Timeout: 10 * time.Second}
	for n := next.Load(); n <= crashEvents+200; n++ {
		id, err := publishEvent(client, base, n)
		if err != nil {
			t.Fatalf("publish after restart: %v", err)
		}
		acked = append(acked, id)
	}

	deadline := time.Now().Add(90 * time.Second)
	for {
		missing := recv.missing(acked)
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged events never arrived", missing, len(acked))
		}
		time.Sleep(50 * time.Millisecond)
	}
	received, distinct, bad := recv.counts()
	if bad > 0 {
		t.Errorf("%d deliveries failed signature verification", bad)
	}
	t.Logf("crash test (%s): acknowledged=%d delivered_distinct=%d received_total=%d redelivered=%d distinct_before_kill=%d lost=0",
		strings.SplitN(db, ":", 2)[0], len(acked), distinct, received, received-distinct, beforeRestart)
}

// countingReceiver records every delivery's webhook-id after verifying it
// with the official Standard Webhooks library.
type countingReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	wh       *standardwebhooks.Webhook
	seen     map[string]int
	received int
	bad      int
}

func newCountingReceiver(t *testing.T) *countingReceiver {
	r := &countingReceiver{seen: map[string]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.wh == nil || r.wh.Verify(body, req.Header) != nil {
			r.bad++
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		r.received++
		r.seen[req.Header.Get("webhook-id")]++
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *countingReceiver) setSecret(t *testing.T, secret string) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.wh = wh
	r.mu.Unlock()
}

func (r *countingReceiver) missing(ids []string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, id := range ids {
		if r.seen[id] == 0 {
			n++
		}
	}
	return n
}

func (r *countingReceiver) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *countingReceiver) counts() (received, distinct, bad int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.received, len(r.seen), r.bad
}

func publishEvent(c *http.Client, base string, n int64) (string, error) {
	body := fmt.Sprintf(`{"type":"batch.succeeded","data":{"id":"batches/crash-%d","output_file_uri":"files/out-%d","error_count":0}}`, n, n)
	req, _ := http.NewRequest("POST", base+"/v1/events", strings.NewReader(body))
	req.Header.Set("x-goog-api-key", crashAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var ev struct {
		ID string `json:"id"`
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&ev); err != nil || ev.ID == "" {
		return "", fmt.Errorf("decode event: %w", err)
	}
	return ev.ID, nil
}

type server struct {
	cmd  *exec.Cmd
	logs *bytes.Buffer
	done chan struct{}
}

func startServer(t *testing.T, bin, dir string, env []string, base string) *server {
	t.Helper()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = &logs
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, logs: &logs, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.stop(t) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("server exited early:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) kill(t *testing.T) {
	_ = s.cmd.Process.Kill() // SIGKILL: no shutdown code runs
	<-s.done
}

func (s *server) stop(t *testing.T) {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func call(t *testing.T, base, method, path string, body, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
	req.Header.Set("x-goog-api-key", crashAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, rb)
	}
	if out != nil {
		if err := json.Unmarshal(rb, out); err != nil {
			t.Fatal(err)
		}
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// buildBinary builds cmd/webhookd once per test run (without -race: the
// binary is the system under test, not the test).
func buildBinary(t *testing.T) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "webhookd-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "webhookd")
		out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// freshSchemaURL creates an empty schema for this test and returns url with
// it as the search_path; the schema is dropped when the test ends.
func freshSchemaURL(t *testing.T, url string) string {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	schema := "crash_" + strings.TrimPrefix(webhookd.NewID(""), "")
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		conn.Close(context.Background())
	})
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "search_path=" + schema
}
