package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/webhookd/webhookd"
)

// TestUnavailableErrors: the failures of a connection — SQLSTATEs the server
// sends as it ends or refuses one, a refused dial, a broken socket — map to
// EUNAVAILABLE (503); the failures of a statement do not. The dial and
// socket errors are real ones, made against a closed port.
func TestUnavailableErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	_, refused := pgconn.Connect(context.Background(), fmt.Sprintf("postgres://x@127.0.0.1:%d/x?sslmode=disable&connect_timeout=5", closedPort))
	if refused == nil {
		t.Fatal("connecting to a closed port succeeded")
	}
	pgErr := func(code, msg string) error {
		return &pgconn.PgError{Severity: "FATAL", Code: code, Message: msg}
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"admin shutdown", pgErr("57P01", "terminating connection due to administrator command"), true},
		{"crash shutdown", pgErr("57P02", "terminating connection because of crash of another server process"), true},
		{"starting up", pgErr("57P03", "the database system is starting up"), true},
		{"shutting down", pgErr("57P03", "the database system is shutting down"), true},
		{"too many connections", pgErr("53300", "sorry, too many clients already"), true},
		{"read-only after a failover", pgErr("25006", "cannot execute INSERT in a read-only transaction"), true},
		{"connection failure", pgErr("08006", "connection failure"), true},
		{"PgBouncer: no server", pgErr("08P01", "server login has been failing, try again later (server_login_retry)"), true},
		{"wrapped in the store's words", fmt.Errorf("publish: %w", pgErr("57P01", "terminating connection")), true},
		{"refused dial (real)", refused, true},
		{"reset socket", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"closed conn", fmt.Errorf("query: %w", pgconn.ErrConnClosed), true},
		{"unique violation", pgErr("23505", "duplicate key value violates unique constraint"), false},
		{"serialization failure", pgErr("40001", "could not serialize access"), false},
		{"syntax error", pgErr("42601", "syntax error"), false},
		{"no rows", pgx.ErrNoRows, false},
		{"canceled", context.Canceled, false},
		{"anything else", errors.New("boom"), false},
	}
	for _, tt := range tests {
		if got := unavailable(tt.err); got != tt.want {
			t.Errorf("%s: unavailable(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
		code := webhookd.ErrorCode(mapErr(tt.err, "publish events", "Event"))
		if want := tt.want; want != (code == webhookd.EUNAVAILABLE) {
			t.Errorf("%s: mapErr gives code %q", tt.name, code)
		}
	}
}

// TestTerminatedConnectionIsUnavailable: a connection the server ends
// (pg_terminate_backend, as a fast shutdown does to every session) fails its
// next statement with an error that maps to EUNAVAILABLE.
func TestTerminatedConnectionIsUnavailable(t *testing.T) {
	t.Parallel()
	url := os.Getenv("WEBHOOKD_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("WEBHOOKD_TEST_POSTGRES_URL not set: skipping PostgreSQL tests")
	}
	ctx := context.Background()
	victim, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close(ctx)
	killer, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Close(ctx)
	if _, err := killer.Exec(ctx, `SELECT pg_terminate_backend($1)`, victim.PgConn().PID()); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the FATAL it was sent, then the closed socket
		_, err = victim.Exec(ctx, `SELECT 1`)
		if !unavailable(err) || webhookd.ErrorCode(mapErr(err, "select", "Event")) != webhookd.EUNAVAILABLE {
			t.Errorf("after pg_terminate_backend: %v (%T): unavailable = %v", err, err, unavailable(err))
		}
	}
}

// TestRetryUnavailable: a call that failed on its connection is run once
// more; one whose commit failed, or that failed otherwise, is not.
func TestRetryUnavailable(t *testing.T) {
	t.Parallel()
	dead := &pgconn.PgError{Code: "57P01"}
	for _, tc := range []struct {
		name  string
		errs  []error // what each call returns
		calls int
		ok    bool
	}{
		{"success", []error{nil}, 1, true},
		{"dead connection, then a fresh one", []error{dead, nil}, 2, true},
		{"still down", []error{dead, dead}, 2, false},
		{"the commit failed: it may have committed", []error{&commitError{dead}, nil}, 1, false},
		{"not a connection error", []error{errors.New("boom"), nil}, 1, false},
	} {
		calls := 0
		err := retryUnavailable(context.Background(), func() error {
			calls++
			return tc.errs[calls-1]
		})
		if calls != tc.calls || (err == nil) != tc.ok {
			t.Errorf("%s: %d calls, err %v; want %d calls, ok %v", tc.name, calls, err, tc.calls, tc.ok)
		}
	}
}

// TestPublishRetriesOnAFreshConnection: when the server ended the pooled
// connection a publish draws (a restart ends them all), the publish is
// written on another and succeeds instead of failing.
func TestPublishRetriesOnAFreshConnection(t *testing.T) {
	t.Parallel()
	s := openInternalWith(t, Options{MaxConns: 1})
	ctx := context.Background()
	p := &webhookd.Project{Name: webhookd.NewID("project-")}
	if err := s.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	var pid uint32
	if err := s.pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err == nil {
		t.Fatal("terminating the pool's only connection from itself succeeded")
	}
	// The pool's one connection is dead again; publish on it.
	if err := s.pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	killer, err := pgx.Connect(ctx, os.Getenv("WEBHOOKD_TEST_POSTGRES_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Close(ctx)
	if _, err := killer.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PublishEvent(ctx, webhookd.NewEvent{
		ProjectID: p.ID, Type: webhookd.EventBatchSucceeded, Data: json.RawMessage(`{"id":"batches/b1"}`), Source: "api",
	}); err != nil {
		t.Fatalf("publish on a terminated connection: %v", err)
	}
}

// TestTakePoolMode: pool_mode is webhookd's setting, taken out of the URL
// before the driver sees it (PostgreSQL and PgBouncer would refuse it as a
// startup parameter), in both URL forms.
func TestTakePoolMode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, rest string
		tx        bool
		err       bool
	}{
		{"postgres://h/db", "postgres://h/db", false, false},
		{"postgres://h/db?pool_mode=transaction", "postgres://h/db", true, false},
		{"postgres://h/db?pool_mode=transaction&sslmode=disable", "postgres://h/db?sslmode=disable", true, false},
		{"postgres://h/db?sslmode=disable&pool_mode=transaction", "postgres://h/db?sslmode=disable", true, false},
		{"postgres://h/db?a=1&pool_mode=session&b=2", "postgres://h/db?a=1&b=2", false, false},
		{"host=h pool_mode=transaction dbname=db", "host=h  dbname=db", true, false},
		{"postgres://h/db?pool_max_conns=4", "postgres://h/db?pool_max_conns=4", false, false},
		{"postgres://h/db?pool_mode=statement", "", false, true},
	} {
		rest, tx, err := takePoolMode(tc.url)
		if rest != tc.rest || tx != tc.tx || (err != nil) != tc.err {
			t.Errorf("takePoolMode(%q) = %q, %v, %v; want %q, %v, error %v", tc.url, rest, tx, err, tc.rest, tc.tx, tc.err)
		}
	}
	if _, err := Open(context.Background(), "postgres://127.0.0.1:1/db?pool_mode=transaction", Options{Schema: "s"}); err == nil ||
		!strings.Contains(err.Error(), "search_path") {
		t.Errorf("Open with a schema behind a transaction pooler: %v, want a refusal that names search_path", err)
	}
}
