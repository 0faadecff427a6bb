package maintenance

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/postgres"
	"github.com/webhookd/webhookd/signing"
	"github.com/webhookd/webhookd/sqlite"
)

// retentionFixture is a SQLite store on a fake clock with a project, and a
// way to make finished events.
type retentionFixture struct {
	t       *testing.T
	store   webhookd.Store
	clock   *fakeclock.Clock
	project string
}

func newRetentionFixture(t *testing.T) *retentionFixture {
	t.Helper()
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "retention.db"), sqlite.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return newRetentionFixtureOn(t, st, clock)
}

func newRetentionFixtureOn(t *testing.T, st webhookd.Store, clock *fakeclock.Clock) *retentionFixture {
	t.Helper()
	p := &webhookd.Project{ID: webhookd.NewID(webhookd.PrefixProject), Name: "p", CreateTime: clock.Now()}
	if err := st.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	return &retentionFixture{t: t, store: st, clock: clock, project: p.ID}
}

// maintainer returns a Maintainer of the fixture's store with retention r,
// whose batches follow each other without a pause; a nil logger discards.
func (f *retentionFixture) maintainer(t *testing.T, logger *slog.Logger, r RetentionConfig) *Maintainer {
	t.Helper()
	r.Pause = -1
	m, err := New(Config{Store: f.store, Keys: noKeys{}, Clock: f.clock, Logger: logger, Retention: r})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// noKeys is a key ring with nothing to maintain, for the retention tests.
type noKeys struct{}

func (noKeys) Maintain(context.Context) error { return nil }
func (noKeys) Reload(context.Context) error   { return nil }

// events publishes n events with one delivery each and records outcome for
// every one (OutcomeRetry: still pending, due again in a year).
func (f *retentionFixture) events(n int, outcome webhookd.Outcome) {
	f.t.Helper()
	ctx := f.t.Context()
	for range n {
		_, _, err := f.store.PublishEvent(ctx, webhookd.NewEvent{ProjectID: f.project, Type: webhookd.EventBatchSucceeded,
			Data: []byte(`{"id":"b"}`), Source: "api", WebhookConfig: &webhookd.WebhookConfig{URIs: []string{"https://example.com/h"}}})
		if err != nil {
			f.t.Fatal(err)
		}
	}
	cs, err := f.store.ClaimDeliveries(ctx, n+1, time.Minute)
	if err != nil || len(cs) != n {
		f.t.Fatalf("claimed %d, %v; want %d", len(cs), err, n)
	}
	rs := make([]webhookd.Result, len(cs))
	for i, c := range cs {
		rs[i] = webhookd.Result{DeliveryID: c.Delivery.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: outcome,
			NextAttemptTime: f.clock.Now().Add(365 * 24 * time.Hour),
			Attempt:         &webhookd.Attempt{Time: f.clock.Now(), StatusCode: 500}}
	}
	if err := f.store.RecordResults(ctx, rs); err != nil {
		f.t.Fatal(err)
	}
}

func (f *retentionFixture) eventCount() int {
	f.t.Helper()
	evs, err := f.store.ListEvents(f.t.Context(), f.project, webhookd.EventFilter{}, webhookd.Page{Size: 1000})
	if err != nil {
		f.t.Fatal(err)
	}
	return len(evs)
}

func TestRetentionRun(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	tests := []struct {
		name          string
		batch, perRun int
		age           time.Duration
		want          []Pruned // one per run
		left          int      // events left after the runs
	}{
		// 5 succeeded, 2 failed and 2 pending events, aged past 30 days
		// (the succeeded go) or past 90 (the failed go too).
		{"succeeded go after 30 days", 2, 100, 31 * day, []Pruned{{Events: 5, Batches: 3}}, 4},
		{"failed go after 90 days", 2, 100, 91 * day, []Pruned{{Events: 7, Batches: 4}}, 2},
		{"a full last batch needs one more to see the end", 5, 100, 31 * day, []Pruned{{Events: 5, Batches: 2}}, 4},
		{"nothing yet", 2, 100, 29 * day, []Pruned{{Events: 0, Batches: 1}}, 9},
		{"per-run cap", 2, 3, 91 * day, []Pruned{{Events: 3, Batches: 2}, {Events: 3, Batches: 2}, {Events: 1, Batches: 1}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newRetentionFixture(t)
			f.events(5, webhookd.OutcomeSucceeded)
			f.events(2, webhookd.OutcomeFailed)
			f.events(2, webhookd.OutcomeRetry)
			f.clock.Advance(tt.age)
			var log strings.Builder
			m := f.maintainer(t, slog.New(slog.NewTextHandler(&log, nil)), RetentionConfig{Succeeded: 30 * day, Failed: 90 * day, Batch: tt.batch, PerRun: tt.perRun})
			for i, want := range tt.want {
				got, err := m.Prune(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("run %d: %+v, want %+v", i+1, got, want)
				}
			}
			if got := f.eventCount(); got != tt.left {
				t.Errorf("%d events left, want %d", got, tt.left)
			}
			if tt.want[0].Events > 0 && !strings.Contains(log.String(), "events_pruned="+strconv.Itoa(tt.want[0].Events)) {
				t.Errorf("log does not say how many were pruned:\n%s", log.String())
			}
		})
	}
}

func TestRetentionExpiresUploads(t *testing.T) {
	t.Parallel()
	f := newRetentionFixture(t)
	now := f.clock.Now()
	s := &webhookd.UploadSession{ID: webhookd.NewID(""), ProjectID: f.project, FileID: webhookd.NewID(webhookd.PrefixFile),
		DeclaredSize: -1, CreateTime: now, ExpireTime: now.Add(webhookd.UploadSessionTTL)}
	if err := f.store.CreateUploadSession(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	m := f.maintainer(t, nil, RetentionConfig{Succeeded: time.Hour, Failed: time.Hour, Batch: 10, PerRun: 10})
	if got, err := m.Prune(t.Context()); err != nil || got.Uploads != 0 {
		t.Fatalf("before expiry: %+v, %v; want no upload expired", got, err)
	}
	f.clock.Set(s.ExpireTime)
	if got, err := m.Prune(t.Context()); err != nil || got.Uploads != 1 {
		t.Fatalf("at expiry: %+v, %v; want 1 upload expired", got, err)
	}
}

// TestRetentionExpiresFiles: a run deletes the job outputs whose
// ExpireTime has passed, and says so in its log line.
func TestRetentionExpiresFiles(t *testing.T) {
	t.Parallel()
	f := newRetentionFixture(t)
	now := f.clock.Now()
	expire := now.Add(time.Hour)
	out := webhookd.NewFile(f.project, "batch-results.jsonl", "application/jsonl", webhookd.FileGenerated, []byte("{}\n"), now)
	out.ExpireTime = &expire
	kept := webhookd.NewFile(f.project, "in.jsonl", "application/jsonl", webhookd.FileUploaded, []byte("{}\n"), now)
	for _, file := range []*webhookd.File{out, kept} {
		if err := f.store.CreateFile(t.Context(), file); err != nil {
			t.Fatal(err)
		}
	}
	var log strings.Builder
	m := f.maintainer(t, slog.New(slog.NewTextHandler(&log, nil)), RetentionConfig{Succeeded: time.Hour, Failed: time.Hour, Batch: 10, PerRun: 10})
	if got, err := m.Prune(t.Context()); err != nil || got.Files != 0 {
		t.Fatalf("before expiry: %+v, %v; want no file expired", got, err)
	}
	f.clock.Set(expire)
	if got, err := m.Prune(t.Context()); err != nil || got.Files != 1 {
		t.Fatalf("at expiry: %+v, %v; want 1 file expired", got, err)
	}
	if _, err := f.store.GetFile(t.Context(), f.project, out.ID); webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
		t.Errorf("the expired output: %v, want it gone", err)
	}
	if _, err := f.store.GetFile(t.Context(), f.project, kept.ID); err != nil {
		t.Errorf("the upload without an expiry: %v", err)
	}
	if !strings.Contains(log.String(), "files_expired=1") {
		t.Errorf("log does not say a file expired:\n%s", log.String())
	}
}

func TestRetentionConfig(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	if c := (RetentionConfig{}).WithDefaults(); c.Succeeded != 30*day || c.Failed != 90*day || c.Batch != 500 || c.Pause != 10*time.Millisecond || c.PerRun != 200*500 {
		t.Errorf("defaults: %+v; want 30 days, 90 days, batches of 500 with 10ms pauses, 200 batches a run", c)
	}
	tests := []struct {
		name              string
		retention, failed time.Duration
		wantErr           string
	}{
		{"defaults", 0, 0, ""},
		{"equal", time.Hour, time.Hour, ""},
		{"failed shorter", 48 * time.Hour, 24 * time.Hour, "failed retention"},
		{"failed shorter than the default", 100 * day, 0, "failed retention"},
		{"negative", -time.Hour, time.Hour, "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := RetentionConfig{Succeeded: tt.retention, Failed: tt.failed}.WithDefaults().Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate: %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate: %v, want an error saying %q", err, tt.wantErr)
			}
		})
	}
}

// TestRunOncePrunes checks the wiring: a maintenance run prunes, and
// with a shared PostgreSQL database only the process holding the
// maintenance lock does.
func TestRunOncePrunes(t *testing.T) {
	t.Parallel()
	sealer, err := signing.NewSealer(make([]byte, signing.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	const day = 24 * time.Hour
	run := func(t *testing.T, f *retentionFixture, other Locker) {
		t.Helper()
		logger := slog.New(slog.NewTextHandler(t.Output(), nil))
		ring, err := signing.NewKeyRing(t.Context(), signing.KeyRingConfig{Store: f.store, Sealer: sealer, Clock: f.clock, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		f.events(3, webhookd.OutcomeSucceeded)
		f.clock.Advance(31 * day)
		m, err := New(Config{Store: f.store, Keys: ring, Clock: f.clock, Logger: logger,
			Retention: RetentionConfig{Succeeded: 30 * day, Failed: 90 * day, Batch: 2, PerRun: 100, Pause: -1}})
		if err != nil {
			t.Fatal(err)
		}
		if other != nil {
			unlock, ok, err := other.TryLock(t.Context(), lockName)
			if err != nil || !ok {
				t.Fatalf("TryLock by another process: %v, %v", ok, err)
			}
			if err := m.RunOnce(t.Context()); err != nil {
				t.Fatal(err)
			}
			if n := f.eventCount(); n != 3 {
				t.Fatalf("%d events left after a run without the lock, want all 3", n)
			}
			unlock()
		}
		if err := m.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := f.eventCount(); n != 0 {
			t.Fatalf("%d events left after maintenance, want 0", n)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		run(t, newRetentionFixture(t), nil)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := os.Getenv("WEBHOOKD_TEST_POSTGRES_URL")
		if url == "" {
			t.Skip("WEBHOOKD_TEST_POSTGRES_URL not set: skipping the PostgreSQL maintenance test")
		}
		clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		schema := "test_maint_" + webhookd.NewID("")
		open := func() *postgres.Store {
			st, err := postgres.Open(t.Context(), url, postgres.Options{Clock: clock, Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st
		}
		st, other := open(), open()
		t.Cleanup(func() {
			conn, err := pgx.Connect(context.Background(), url)
			if err != nil {
				return
			}
			defer conn.Close(context.Background())
			_, _ = conn.Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
		})
		run(t, newRetentionFixtureOn(t, st, clock), other)
	})
}
