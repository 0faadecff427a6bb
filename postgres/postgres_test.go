package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/internal/pgtest"
	"github.com/webhookd/webhookd/postgres"
	"github.com/webhookd/webhookd/storetest"
)

// testURL returns the database the tests may use, or skips the test.
func testURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("WEBHOOKD_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("WEBHOOKD_TEST_POSTGRES_URL not set: skipping PostgreSQL tests")
	}
	return url
}

// testSchema returns a fresh schema name, dropped when t ends. Every test
// gets its own schema, so tests run in parallel on one database.
func testSchema(t testing.TB) string {
	t.Helper()
	url := testURL(t)
	schema := "test_" + strings.ToLower(webhookd.NewID(""))
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// dbConn returns a plain connection to the test database, for looking behind
// a store's back; it is closed when t ends.
func dbConn(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// openStore opens a store on schema, closed when t ends.
func openStore(t testing.TB, schema string, clock webhookd.Clock) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), testURL(t), postgres.Options{
		Clock:  clock,
		Logger: testLogger(t),
		Schema: schema,
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newStore opens a store on a fresh schema.
func newStore(t testing.TB, clock webhookd.Clock) *postgres.Store {
	t.Helper()
	return openStore(t, testSchema(t), clock)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	testURL(t)
	storetest.Run(t, func(t *testing.T, clock webhookd.Clock) webhookd.Store {
		return newStore(t, clock)
	})
}

func TestOpenBadURL(t *testing.T) {
	t.Parallel()
	_, err := postgres.Open(context.Background(), "postgres://%zz", postgres.Options{})
	if err == nil {
		t.Fatal("Open with a malformed URL succeeded")
	}
	if got := fmt.Sprint(err); !strings.HasPrefix(got, "postgres: ") {
		t.Errorf("error %q does not say where it came from", got)
	}
}

// testLogger sends the store's logs to the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// counter is a slog handler that counts the records with a given message, so
// that a test can tell how often something happened across processes.
type counter struct {
	slog.Handler
	msg string
	n   *atomic.Int64
}

func (c counter) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == c.msg {
		c.n.Add(1)
	}
	return c.Handler.Handle(ctx, r)
}

func (c counter) WithAttrs(as []slog.Attr) slog.Handler {
	return counter{c.Handler.WithAttrs(as), c.msg, c.n}
}

func (c counter) WithGroup(name string) slog.Handler {
	return counter{c.Handler.WithGroup(name), c.msg, c.n}
}

// TestConcurrentOpenMigratesOnce starts several "processes" on an empty
// schema at once: each Open must succeed, and the migrations must be applied
// exactly once between them.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	t.Parallel()
	url, schema := testURL(t), testSchema(t)
	var applied atomic.Int64
	logger := slog.New(counter{testLogger(t).Handler(), "postgres: applied migration", &applied})

	const processes = 4
	stores := make([]*postgres.Store, processes)
	errs := make([]error, processes)
	var wg sync.WaitGroup
	for i := range processes {
		wg.Go(func() {
			stores[i], errs[i] = postgres.Open(t.Context(), url, postgres.Options{Logger: logger, Schema: schema})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open #%d: %v", i, err)
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}

	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	if got := applied.Load(); got != int64(len(files)) {
		t.Errorf("migrations applied %d times in total, want %d (once each)", got, len(files))
	}
	for i, s := range stores {
		n, err := s.Migrate(t.Context())
		if err != nil || n != 0 {
			t.Errorf("Migrate on store #%d after Open = %d, %v; want 0, nil", i, n, err)
		}
	}
	var versions int
	if err := dbConn(t).QueryRow(t.Context(), `SELECT count(*) FROM `+pgx.Identifier{schema, "schema_migrations"}.Sanitize()).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if versions != len(files) {
		t.Errorf("schema_migrations has %d rows, want %d", versions, len(files))
	}
}

// fixture is a project with static webhooks, for the tests that need
// deliveries to exist.
type fixture struct {
	project  *webhookd.Project
	webhooks []*webhookd.Webhook
}

func newFixture(t testing.TB, s webhookd.Store, webhooks int) fixture {
	t.Helper()
	ctx := context.Background()
	f := fixture{project: &webhookd.Project{Name: webhookd.NewID("project-")}}
	if err := s.CreateProject(ctx, f.project); err != nil {
		t.Fatal(err)
	}
	for i := range webhooks {
		w := &webhookd.Webhook{
			ProjectID:        f.project.ID,
			URI:              fmt.Sprintf("https://example.com/hook/%d", i),
			SubscribedEvents: []string{webhookd.EventBatchSucceeded},
			Secrets:          []webhookd.SigningSecret{{Sealed: []byte("sealed"), Truncated: "whsec_x..."}},
		}
		if err := s.CreateWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
		f.webhooks = append(f.webhooks, w)
	}
	return f
}

func (f fixture) publish(t testing.TB, s webhookd.Store) *webhookd.Event {
	t.Helper()
	ev, _, err := s.PublishEvent(context.Background(), webhookd.NewEvent{
		ProjectID: f.project.ID,
		Type:      webhookd.EventBatchSucceeded,
		Data:      json.RawMessage(`{"id":"batches/b1"}`),
		Source:    "api",
	})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestTwoProcessesShareTheQueue runs claimers on two stores (two pools, as
// two processes would have) over one queue: every delivery is claimed once
// within its lease, and their results, which update the same webhook rows
// for auto-disable, all apply without deadlocks.
func TestTwoProcessesShareTheQueue(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	stores := []*postgres.Store{openStore(t, schema, clock), openStore(t, schema, clock)}
	f := newFixture(t, stores[0], 8)
	for range 25 {
		f.publish(t, stores[1])
	}
	const total = 25 * 8

	var (
		mu      sync.Mutex
		claimed = map[string]int{}
		wg      sync.WaitGroup
		errs    = make(chan error, 6)
	)
	for i := range 6 {
		s := stores[i%2]
		wg.Go(func() {
			for n := 0; ; n++ {
				cs, err := s.ClaimDeliveries(t.Context(), 5, time.Hour)
				if err != nil || len(cs) == 0 {
					errs <- err
					return
				}
				results := make([]webhookd.Result, len(cs))
				mu.Lock()
				for j, c := range cs {
					claimed[c.Delivery.ID]++
					r := webhookd.Result{
						DeliveryID:   c.Delivery.ID,
						LeaseToken:   c.Delivery.LeaseToken,
						Outcome:      webhookd.OutcomeSucceeded,
						Attempt:      &webhookd.Attempt{Time: clock.Now(), StatusCode: 200},
						DisableAfter: time.Hour,
					}
					if (n+j)%2 == 0 {
						r.Outcome, r.Attempt.StatusCode = webhookd.OutcomeFailed, 500
					}
					results[j] = r
				}
				mu.Unlock()
				if err := s.RecordResults(t.Context(), results); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(claimed) != total {
		t.Errorf("claimed %d distinct deliveries, want %d", len(claimed), total)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("delivery %s claimed %d times within its lease", id, n)
		}
	}
	st, err := stores[0].QueueStats(t.Context())
	if err != nil || st.Pending != 0 {
		t.Errorf("QueueStats = %+v, %v; want nothing pending", st, err)
	}
}

// listenFor runs s.Listen until the test ends and returns a channel that
// receives one value per wake-up. It waits for the first wake-up, which
// Listen sends once it listens, so that what the test does next cannot race
// the LISTEN.
func listenFor(t *testing.T, s *postgres.Store) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	wakes := make(chan struct{}, 100)
	done := make(chan error, 1)
	go func() { done <- s.Listen(ctx, func() { wakes <- struct{}{} }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Listen returned %v after its context ended, want nil", err)
		}
	})
	waitWake(t, wakes, "Listen to start")
	return wakes
}

func waitWake(t *testing.T, wakes <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-wakes:
	case <-time.After(10 * time.Second):
		t.Fatalf("no wake-up after 10s waiting for %s", what)
	}
}

// TestListenWakesOtherProcesses checks the cross-process wake-up: a publish
// on one store wakes the listener of another store on the same schema, and
// nothing from another schema does.
func TestListenWakesOtherProcesses(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	publisher, listener := openStore(t, schema, nil), openStore(t, schema, nil)
	stranger := newStore(t, nil)
	f, g := newFixture(t, publisher, 1), newFixture(t, stranger, 1)
	wakes := listenFor(t, listener)

	// Had the other schema's publish woken the listener, a second wake-up
	// would follow the first within milliseconds. Proving that none comes
	// takes a (short) wait.
	g.publish(t, stranger)
	f.publish(t, publisher)
	waitWake(t, wakes, "the publish")
	select {
	case <-wakes:
		t.Errorf("two wake-ups for one publish: another schema's publish woke the listener")
	case <-time.After(300 * time.Millisecond):
	}

	d, err := publisher.ListDeliveries(t.Context(), f.project.ID, f.publish(t, publisher).ID)
	if err != nil {
		t.Fatal(err)
	}
	waitWake(t, wakes, "the second publish")
	if _, err := publisher.RetryDelivery(t.Context(), f.project.ID, d[0].ID); err != nil {
		t.Fatal(err)
	}
	waitWake(t, wakes, "RetryDelivery")

	err = publisher.CommitOperationChange(t.Context(), webhookd.OperationChange{Events: []webhookd.NewEvent{
		{ProjectID: f.project.ID, Type: webhookd.EventBatchSucceeded, Source: "operation:batches/b1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	waitWake(t, wakes, "an operation's event")
}

// TestListenReconnects kills the listener's connection, as a database
// restart or a network failure would: Listen reconnects by itself, wakes once
// (notifications may have been missed), and keeps listening.
func TestListenReconnects(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	s := openStore(t, schema, nil)
	f := newFixture(t, s, 1)
	wakes := listenFor(t, s)

	var killed int
	err := dbConn(t).QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1`, "webhookd listen "+schema).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminated %d listener connections (%v), want 1", killed, err)
	}
	waitWake(t, wakes, "the reconnection")
	f.publish(t, s)
	waitWake(t, wakes, "a publish after the reconnection")
}

// TestTryLock checks the singleton lock between two stores on one schema,
// and that a lock is scoped to its schema.
func TestTryLock(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	a, b := openStore(t, schema, nil), openStore(t, schema, nil)
	elsewhere := newStore(t, nil)
	ctx := t.Context()

	tryLock := func(s *postgres.Store, name string, want bool) func() {
		t.Helper()
		unlock, ok, err := s.TryLock(ctx, name)
		if err != nil {
			t.Fatalf("TryLock(%q): %v", name, err)
		}
		if ok != want {
			t.Fatalf("TryLock(%q) ok = %v, want %v", name, ok, want)
		}
		if ok == (unlock == nil) {
			t.Fatalf("TryLock(%q) ok = %v with unlock func %v", name, ok, unlock != nil)
		}
		return unlock
	}

	unlock := tryLock(a, "sweep", true)
	tryLock(b, "sweep", false)
	tryLock(a, "sweep", false) // a lock is per session, not per Store
	unlockOther := tryLock(b, "retention", true)
	unlockElsewhere := tryLock(elsewhere, "sweep", true)

	unlock()
	unlock() // idempotent
	unlockB := tryLock(b, "sweep", true)
	tryLock(a, "sweep", false)
	for _, u := range []func(){unlockB, unlockOther, unlockElsewhere} {
		u()
	}
	tryLock(a, "sweep", true)()
}

// TestMain fails the run if a test leaves goroutines behind: a Listen that
// outlives its context, or a pool that was never closed.
func TestMain(m *testing.M) {
	pgtest.AnnounceSkip("postgres")
	goleak.VerifyTestMain(m)
}

// TestPayloadBytesExact guards the choice of bytea over jsonb: signatures
// cover the exact body, so key order, spacing and escapes must survive.
func TestPayloadBytesExact(t *testing.T) {
	t.Parallel()
	s := newStore(t, nil)
	f := newFixture(t, s, 0)
	data := json.RawMessage(`{"z":1,"a":{"y":"\u00e9","b":[1.0,2e3]},"user_metadata":{"k2":"v","k1":null}}`)
	meta := json.RawMessage(`{"k2":"v","k1":null}`)
	ev, _, err := s.PublishEvent(t.Context(), webhookd.NewEvent{
		ProjectID:     f.project.ID,
		Type:          webhookd.EventBatchSucceeded,
		Data:          data,
		WebhookConfig: &webhookd.WebhookConfig{URIs: []string{"https://example.com/d"}, UserMetadata: meta},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetEvent(t.Context(), f.project.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Payload, ev.Payload) || !bytes.Contains(got.Payload, data) {
		t.Errorf("payload read back = %s, want exactly %s (containing %s)", got.Payload, ev.Payload, data)
	}
	if string(got.WebhookConfig.UserMetadata) != string(meta) {
		t.Errorf("user_metadata read back = %s, want exactly %s", got.WebhookConfig.UserMetadata, meta)
	}
	cs, err := s.ClaimDeliveries(t.Context(), 10, time.Minute)
	if err != nil || len(cs) != 1 {
		t.Fatalf("claimed %d, %v; want 1", len(cs), err)
	}
	if !bytes.Equal(cs[0].Payload, ev.Payload) {
		t.Errorf("claimed payload = %s, want exactly %s", cs[0].Payload, ev.Payload)
	}
}

// TestRecordStoresAnyResponse feeds the attempt log what receivers really
// send: PostgreSQL text rejects NUL bytes and invalid UTF-8, and one odd
// response must not make a whole batch of results fail to record.
func TestRecordStoresAnyResponse(t *testing.T) {
	t.Parallel()
	s := newStore(t, nil)
	f := newFixture(t, s, 1)
	f.publish(t, s)
	f.publish(t, s)
	cs, err := s.ClaimDeliveries(t.Context(), 10, time.Minute)
	if err != nil || len(cs) != 2 {
		t.Fatalf("claimed %d, %v; want 2", len(cs), err)
	}
	body := "bin\x00ary \xff\xfe body"
	results := []webhookd.Result{
		{
			DeliveryID: cs[0].Delivery.ID, LeaseToken: cs[0].Delivery.LeaseToken, Outcome: webhookd.OutcomeRetry,
			NextAttemptTime: time.Now().Add(time.Hour),
			Attempt:         &webhookd.Attempt{Time: time.Now(), StatusCode: 500, Error: "HTTP 500: \x00\xff", ResponseBody: body},
		},
		{DeliveryID: cs[1].Delivery.ID, LeaseToken: cs[1].Delivery.LeaseToken, Outcome: webhookd.OutcomeFailed, Error: "bad \xc3"},
	}
	if err := s.RecordResults(t.Context(), results); err != nil {
		t.Fatalf("RecordResults: %v", err)
	}
	as, err := s.ListAttempts(t.Context(), f.project.ID, cs[0].Delivery.ID)
	if err != nil || len(as) != 1 {
		t.Fatalf("ListAttempts = %d, %v; want 1", len(as), err)
	}
	if as[0].ResponseBody != body {
		t.Errorf("response body = %q, want the exact bytes %q", as[0].ResponseBody, body)
	}
	if want := "HTTP 500: \uFFFD"; as[0].Error != want {
		t.Errorf("attempt error = %q, want %q", as[0].Error, want)
	}
	d, err := s.GetDelivery(t.Context(), f.project.ID, cs[1].Delivery.ID)
	if err != nil || d.State != webhookd.DeliveryFailed || d.LastError != "bad \uFFFD" {
		t.Errorf("delivery failed without attempt = %+v, %v", d, err)
	}
}

// TestTextPostgreSQLRefuses: a NUL byte in caller-supplied text is invalid
// input (400), not an internal error, and stores nothing.
func TestTextPostgreSQLRefuses(t *testing.T) {
	t.Parallel()
	s := newStore(t, nil)
	f := newFixture(t, s, 1)
	_, _, err := s.PublishEvent(t.Context(), webhookd.NewEvent{
		ProjectID: f.project.ID, Type: webhookd.EventBatchSucceeded, IdempotencyKey: "k\x00",
	})
	if code := webhookd.ErrorCode(err); code != webhookd.EINVALID {
		t.Fatalf("publish with a NUL in the idempotency key: code %q (%v), want %q", code, err, webhookd.EINVALID)
	}
	p := &webhookd.Project{Name: "bad\xff"}
	if code := webhookd.ErrorCode(s.CreateProject(t.Context(), p)); code != webhookd.EINVALID {
		t.Errorf("project named with invalid UTF-8: code %q, want %q", code, webhookd.EINVALID)
	}
	if evs, err := s.ListEvents(t.Context(), f.project.ID, webhookd.EventFilter{}, webhookd.Page{Size: 10}); err != nil || len(evs) != 0 {
		t.Errorf("ListEvents = %d, %v; want nothing stored", len(evs), err)
	}
}

// TestIdempotencyAcrossProcesses publishes one idempotency key from several
// stores at once: exactly one event is created, and every caller gets it.
func TestIdempotencyAcrossProcesses(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	stores := []*postgres.Store{openStore(t, schema, nil), openStore(t, schema, nil)}
	f := newFixture(t, stores[0], 2)

	const publishers = 6
	var (
		wg      sync.WaitGroup
		ids     = make([]string, publishers)
		created = make([]bool, publishers)
		errs    = make([]error, publishers)
	)
	for i := range publishers {
		wg.Go(func() {
			var ev *webhookd.Event
			ev, created[i], errs[i] = stores[i%2].PublishEvent(t.Context(), webhookd.NewEvent{
				ProjectID: f.project.ID, Type: webhookd.EventBatchSucceeded, IdempotencyKey: "once",
			})
			if ev != nil {
				ids[i] = ev.ID
			}
		})
	}
	wg.Wait()
	nCreated := 0
	for i := range publishers {
		if errs[i] != nil {
			t.Fatalf("publisher %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Errorf("publisher %d got event %s, publisher 0 got %s", i, ids[i], ids[0])
		}
		if created[i] {
			nCreated++
		}
	}
	if nCreated != 1 {
		t.Errorf("%d publishers created the event, want 1", nCreated)
	}
	evs, err := stores[1].ListEvents(t.Context(), f.project.ID, webhookd.EventFilter{}, webhookd.Page{Size: 100})
	if err != nil || len(evs) != 1 || evs[0].DeliveryCount != 2 {
		t.Errorf("ListEvents = %d events, %v; want 1 with 2 deliveries", len(evs), err)
	}
}

// TestTimesAreUTC reads times through a session whose time zone is not UTC:
// they must come back equal and in UTC, as the domain hands them out.
func TestTimesAreUTC(t *testing.T) {
	t.Parallel()
	url := testURL(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	created := time.Date(2026, 3, 1, 23, 30, 0, 123456000, time.UTC)
	s, err := postgres.Open(t.Context(), url+sep+"timezone=Asia/Kolkata", postgres.Options{
		Clock:  fakeclock.New(created),
		Schema: testSchema(t),
		Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	f := newFixture(t, s, 0)
	p, err := s.GetProject(t.Context(), f.project.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.CreateTime != created {
		t.Errorf("CreateTime = %v (%v), want %v in UTC", p.CreateTime, p.CreateTime.Location(), created)
	}
}

// TestSchemaFromURL opens stores whose schema comes from a search_path in the
// URL rather than from Options, as a deployment may configure it: they are
// scoped to that schema all the same, wake-ups and locks included.
func TestSchemaFromURL(t *testing.T) {
	t.Parallel()
	url := testURL(t)
	conn := dbConn(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	open := func(schema string) *postgres.Store {
		s, err := postgres.Open(t.Context(), url+sep+"search_path="+schema, postgres.Options{Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	schema, other := testSchema(t), testSchema(t)
	for _, sc := range []string{schema, other} {
		if _, err := conn.Exec(t.Context(), `CREATE SCHEMA `+pgx.Identifier{sc}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	a, b, elsewhere := open(schema), open(schema), open(other)
	var tables int
	err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'deliveries'`, schema).Scan(&tables)
	if err != nil || tables != 1 {
		t.Fatalf("deliveries tables in schema %s: %d, %v; want 1", schema, tables, err)
	}

	wakes := listenFor(t, b)
	newFixture(t, a, 1).publish(t, a)
	waitWake(t, wakes, "a publish in the URL's schema")

	unlock, ok, err := a.TryLock(t.Context(), "sweep")
	if err != nil || !ok {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	defer unlock()
	if _, ok, err := b.TryLock(t.Context(), "sweep"); err != nil || ok {
		t.Errorf("TryLock in the same schema = %v, %v; want it held by the other store", ok, err)
	}
	if unlock, ok, err := elsewhere.TryLock(t.Context(), "sweep"); err != nil || !ok {
		t.Errorf("TryLock in another schema = %v, %v; want the lock, which is per schema", ok, err)
	} else {
		unlock()
	}
}

// TestListenWakesOwnProcessAtOnce: a commit of the listening store itself
// wakes it before the commit's call returns, without waiting for the
// notification's round trip through the server, and only then: its own
// notification, which other stores act on, does not wake it again.
func TestListenWakesOwnProcessAtOnce(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	s, other := openStore(t, schema, nil), openStore(t, schema, nil)
	f := newFixture(t, s, 1)
	wakes, otherWakes := listenFor(t, s), listenFor(t, other)
	f.publish(t, s)
	select {
	case <-wakes:
	default:
		t.Fatal("PublishEvent returned before waking the store's own listener")
	}
	waitWake(t, otherWakes, "the publish, on the other store") // the notification went out
	select {
	case <-wakes:
		t.Error("the store's own notification woke it a second time")
	case <-time.After(300 * time.Millisecond):
	}
}

// TestDeleteWebhookRacingResults deletes webhooks while the results of their
// deliveries are recorded (with auto-disable, which writes the webhook row):
// both lock deliveries before the webhook, so neither fails with a deadlock.
func TestDeleteWebhookRacingResults(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s := newStore(t, clock)
	ctx := t.Context()
	for round := range 10 {
		f := newFixture(t, s, 1)
		for range 20 {
			f.publish(t, s)
		}
		cs, err := s.ClaimDeliveries(ctx, 100, time.Hour)
		if err != nil || len(cs) != 20 {
			t.Fatalf("round %d: claimed %d, %v; want 20", round, len(cs), err)
		}
		results := make([]webhookd.Result, len(cs))
		for i, c := range cs {
			results[i] = webhookd.Result{
				DeliveryID: c.Delivery.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeFailed,
				Attempt:      &webhookd.Attempt{Time: clock.Now(), StatusCode: 500},
				DisableAfter: time.Nanosecond,
			}
		}
		var wg sync.WaitGroup
		var recordErr, deleteErr error
		wg.Go(func() { recordErr = s.RecordResults(ctx, results) })
		wg.Go(func() { deleteErr = s.DeleteWebhook(ctx, f.project.ID, f.webhooks[0].ID) })
		wg.Wait()
		if recordErr != nil || deleteErr != nil {
			t.Fatalf("round %d: RecordResults: %v; DeleteWebhook: %v", round, recordErr, deleteErr)
		}
	}
}

// TestPublishAllOrNothing: an event's deliveries are written in the same
// transaction as the event (for an event without an idempotency key, an
// implicit one: both inserts in one batch). A delivery PostgreSQL refuses —
// a URI with a NUL byte, which only the delivery's text column sees (the
// webhook_config column holds it escaped) — leaves no event behind.
func TestPublishAllOrNothing(t *testing.T) {
	t.Parallel()
	s := newStore(t, nil)
	f := newFixture(t, s, 0)
	_, _, err := s.PublishEvent(t.Context(), webhookd.NewEvent{
		ProjectID:     f.project.ID,
		Type:          webhookd.EventBatchSucceeded,
		Data:          json.RawMessage(`{}`),
		WebhookConfig: &webhookd.WebhookConfig{URIs: []string{"https://example.com/a\x00b"}},
	})
	if webhookd.ErrorCode(err) != webhookd.EINVALID {
		t.Fatalf("publish with a NUL in a URI: %v, want %s", err, webhookd.EINVALID)
	}
	evs, err := s.ListEvents(t.Context(), f.project.ID, webhookd.EventFilter{}, webhookd.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 0 {
		t.Errorf("the event of a failed publish was stored: %+v", evs[0])
	}
}
