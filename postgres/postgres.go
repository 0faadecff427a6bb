// Package postgres is the scale-out webhookd.Store (and OperationStore):
// PostgreSQL through pgx.
//
// Any number of webhookd processes may share one database. The deliveries
// table is the queue: processes lease due rows with FOR UPDATE SKIP LOCKED,
// wake each other with LISTEN/NOTIFY, and elect a single runner for
// maintenance with advisory locks. Migrations are embedded and applied by
// Open under an advisory lock, so processes may start together.
//
// A process wires the two cross-process pieces itself:
//
//	go store.Listen(ctx, engine.Wake) // other processes' events start delivery at once
//
//	if unlock, ok, err := store.TryLock(ctx, "retention"); err == nil && ok {
//		sweep(ctx) // one process of the deployment at a time
//		unlock()
//	}
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/filter"
	"github.com/webhookd/webhookd/internal/dberr"
	"github.com/webhookd/webhookd/internal/handoff"
)

// Options configures a Store. The zero value is usable.
type Options struct {
	// Clock is the store's clock; nil means the system clock. Its time is
	// passed into every query (never SQL now()), so a fake clock governs
	// leases, expiry and idempotency windows.
	Clock webhookd.Clock
	// Logger receives migration and reconnection messages; nil discards them.
	Logger *slog.Logger
	// Schema, when set, is created if missing and used as the search_path,
	// so that several deployments (or tests) can share one database.
	Schema string
	// MaxConns caps the pool; zero means DefaultMaxConns. A pool_max_conns
	// setting in the URL takes precedence.
	MaxConns int32
	// Filters compiles the webhooks' filters when routing; nil means a
	// filter.Compiler of the store's own, whose metrics go nowhere.
	Filters webhookd.FilterCompiler
}

// DefaultMaxConns is the pool size when neither Options nor the URL sets one.
// pgxpool's own default (the number of CPUs, at least 4) suits CPU-bound
// work; the store's transactions mostly wait for the WAL flush of their
// commit, so more of them in flight is what makes PostgreSQL flush many
// commits at once.
const DefaultMaxConns = 16

// DefaultMinConns is how many connections the pool opens at start and keeps
// open, unless the URL sets pool_min_conns. A connection opened on demand
// arrives when it is needed most — in a burst, which it delays: opening it
// costs a server process, whose caches then start cold. (Against a freshly
// started server, the first claims of a 500 events/s burst took 100–800 ms
// each on the 2-core machine of docs/benchmarks.md; the steady state's took
// 1–3 ms.)
const DefaultMinConns = DefaultMaxConns / 2

// Store is a webhookd.Store on PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	clock  webhookd.Clock
	log    *slog.Logger
	schema string
	// scope tells this deployment's notifications and advisory locks from
	// those of others on the same database: the schema, whether it came
	// from Options or from a search_path in the URL.
	scope    string
	notifier *notifier
	// sender names this Store in its notifications (see notifyChannel).
	sender string
	local  localWakes
	// handOff is the engine publishes hand new deliveries to, if any.
	handOff handoff.Point
	// filters compiles webhooks' filters for routing (see Options.Filters).
	filters webhookd.FilterCompiler
	// txPooling: the URL said pool_mode=transaction (see takePoolMode).
	txPooling bool
	// groups commits concurrent publishes together (publishGroups).
	groups publishGroups
}

// takePoolMode removes the pool_mode setting from url, which is webhookd's,
// not PostgreSQL's, and reports whether it says transaction. Behind a
// connection pooler in transaction pooling mode (PgBouncer's
// pool_mode=transaction, the mode managed platforms use) a session lasts one
// transaction, so the store keeps no state in one: no named prepared
// statements, no LISTEN (engines poll), advisory locks held by a
// transaction rather than a session. pool_mode=session, the default, is a
// direct connection or a session pooler.
func takePoolMode(url string) (rest string, txPooling bool, err error) {
	re := regexp.MustCompile(`(^|[?&\s])pool_mode=([^&\s]*)`)
	m := re.FindStringSubmatchIndex(url)
	if m == nil {
		return url, false, nil
	}
	switch mode := url[m[4]:m[5]]; mode {
	case "transaction":
		txPooling = true
	case "session":
	default:
		return "", false, fmt.Errorf("postgres: pool_mode=%s: want transaction or session", mode)
	}
	start, end := m[0]+len(url[m[2]:m[3]]), m[1] // keep the separator before it
	if end < len(url) && url[end] == '&' {
		end++ // and drop the one after
	} else if start > 0 && url[start-1] == '&' {
		start--
	}
	rest = url[:start] + url[end:]
	return strings.TrimSuffix(rest, "?"), txPooling, nil
}

var _ webhookd.Store = (*Store)(nil)

// Open connects to the database at url (a PostgreSQL URL or keyword/value
// string; pool settings such as pool_max_conns are accepted), applies any
// pending migrations and returns the store.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	url, txPooling, err := takePoolMode(url)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	s := &Store{clock: opts.Clock, log: opts.Logger, schema: opts.Schema, txPooling: txPooling}
	s.groups.leaders = make(chan struct{}, maxGroupLeaders)
	s.filters = opts.Filters
	if s.filters == nil {
		s.filters = filter.Default()
	}
	if s.clock == nil {
		s.clock = webhookd.SystemClock{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
		if opts.MaxConns > 0 {
			cfg.MaxConns = opts.MaxConns
		}
	}
	if !strings.Contains(url, "pool_min_conns") {
		cfg.MinConns = min(DefaultMinConns, cfg.MaxConns)
	}
	configureConn(cfg.ConnConfig, s.schema, "webhookd")
	s.scope = s.schema
	if s.scope == "" {
		s.scope = cfg.ConnConfig.RuntimeParams["search_path"]
	}
	if s.txPooling {
		if s.scope != "" {
			return nil, errors.New("postgres: pool_mode=transaction: a schema (search_path) cannot be set per connection behind a transaction pooler; set it on the role or database instead (ALTER ROLE … SET search_path)")
		}
		// Named prepared statements live in one server session, which a
		// transaction pooler hands to other clients between transactions:
		// every statement is parsed with its execution instead, in the
		// same round trip (the unnamed statement), with the parameter
		// types learnt once per connection. (QueryExecModeExec cannot
		// encode a map as jsonb; DescribeExec takes two round trips, which
		// the pooler may send to two server sessions.)
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	}
	// The server's warnings go to the log: a statement that "worked" with
	// a warning did not do what it was written for (a SET LOCAL outside a
	// transaction block, say). Plain notices (CREATE … IF NOT EXISTS
	// skipping) are debug.
	cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		level := slog.LevelDebug
		if n.SeverityUnlocalized == "WARNING" || n.SeverityUnlocalized == "" && n.Severity == "WARNING" {
			level = slog.LevelWarn
		}
		s.log.Log(context.Background(), level, "postgres: server notice", "severity", n.Severity, "message", n.Message, "code", n.Code)
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		registerTypes(c)
		return nil
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if _, err := s.Migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	s.sender = webhookd.NewID("")
	s.notifier = startNotifier(s.pool, notifyPayload(s.scope, s.sender), s.log)
	return s, nil
}

// configureConn sets what every connection of the store needs: the schema
// as search_path and a recognisable application_name.
func configureConn(cfg *pgx.ConnConfig, schema, appName string) {
	if schema != "" {
		cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = appName
	}
}

// registerTypes makes timestamptz scan in UTC whatever the server's or the
// process's time zone, so that times read back compare equal to the domain's.
func registerTypes(c *pgx.Conn) {
	c.TypeMap().RegisterType(&pgtype.Type{
		Name:  "timestamptz",
		OID:   pgtype.TimestamptzOID,
		Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
	})
}

// Close closes every pooled connection. Connections held by Listen and
// TryLock are ended by their contexts and unlock functions.
func (s *Store) Close() error {
	s.notifier.close()
	s.pool.Close()
	return nil
}

// Ping checks that the database answers; it backs /readyz.
//
// A server in recovery — a standby, which is what the old primary becomes
// after a failover, or what a URL still naming it reaches — answers, but
// refuses every write: it is not ready either.
func (s *Store) Ping(ctx context.Context) error {
	var standby bool
	if err := s.pool.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&standby); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	if standby {
		return errors.New("postgres: ping: the server is a read-only standby (in recovery); after a failover, point the URL at the new primary")
	}
	return nil
}

// now is the store clock's time at the database's precision (timestamptz
// keeps microseconds, and pgx truncates when it encodes), so that a time the
// store hands out equals the same time read back.
func (s *Store) now() time.Time {
	return s.clock.Now().UTC().Truncate(time.Microsecond)
}

// inTx runs fn in a transaction, committing if it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.inTxWith(ctx, pgx.TxOptions{}, fn)
}

// inTxWith is inTx with opts. A failure of the COMMIT itself is a
// *commitError: the transaction may or may not have committed, so it is
// never run again (see retryUnavailable).
func (s *Store) inTxWith(ctx context.Context, opts pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }() // after a commit, a no-op
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return &commitError{err}
	}
	return nil
}

// commitError is the failure of a COMMIT, whose outcome is unknown.
type commitError struct{ err error }

func (e *commitError) Error() string { return "commit: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// retryUnavailable runs call, and once more when it failed because its
// connection did (see unavailable) before its transaction could commit.
// After a restart or a failover, every connection the pool held is dead,
// and each fails the one call that draws it; the second try draws a fresh
// connection. Nothing of the first try can have committed: the server rolls
// back a transaction whose connection ends. call must be safe to run twice —
// it writes only through the transaction that failed. A server still down
// fails the second try as fast as the first.
func retryUnavailable(ctx context.Context, call func() error) error {
	err := call()
	if err == nil || ctx.Err() != nil || !unavailable(err) {
		return err
	}
	if _, ok := errors.AsType[*commitError](err); ok {
		return err
	}
	return call()
}

// customPlans makes every statement of the transaction it is sent in plan
// for the values it is given and the tables as they are now.
//
// pgx prepares each statement once per connection. After five executions
// PostgreSQL may switch a prepared statement to a generic plan, made
// without the parameters' values and costed against the table sizes of that
// moment, and it keeps that plan until the table's statistics change (an
// ANALYZE, which autovacuum runs a minute or more later). A deliveries
// table that starts empty and grows by hundreds of rows a second gets, for
// "id = ANY ($1)", the generic plan of a table of a few pages: a
// sequential scan. Round 12 of issue 6 found it still scanning 24,000 rows
// for each batch of results, 45 ms a statement instead of under one, and
// the hot path's latency in hundreds of milliseconds. A custom plan costs a
// planning at each execution; the statements that take it are the ones run
// once per batch (TestSetLookupsPlanPerExecution).
const customPlans = `SET LOCAL plan_cache_mode = force_custom_plan`

// customPlansTx begins a transaction with customPlans, in the BEGIN's round
// trip (pgx sends a query without arguments as a simple query, which may
// hold several statements).
var customPlansTx = pgx.TxOptions{BeginQuery: "BEGIN; " + customPlans}

// inCustomPlanTx is inTx for the transactions that look rows up by a set of
// ids: their statements plan at each execution (see customPlans).
func (s *Store) inCustomPlanTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.inTxWith(ctx, customPlansTx, fn)
}

// PostgreSQL error codes the store maps to domain errors.
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
	pgBadCharacter        = "22021" // a NUL byte or invalid UTF-8 in text
)

// mapErr turns a driver error of a call op on resource into a domain error
// (see dberr.Map).
func mapErr(err error, op, resource string) error {
	return dberr.Map("postgres", err, errKind(err), op, resource)
}

// mapCreateErr is mapErr for the insert of a project's resource (see
// dberr.MapCreate).
func mapCreateErr(err error, op, resource string) error {
	return dberr.MapCreate("postgres", err, errKind(err), op, resource)
}

// errKind tells what a driver error means.
func errKind(err error) dberr.Kind {
	if errors.Is(err, pgx.ErrNoRows) {
		return dberr.NoRows
	}
	if unavailable(err) {
		return dberr.Unavailable
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case pgUniqueViolation:
			return dberr.Unique
		case pgForeignKeyViolation:
			return dberr.ForeignKey
		case pgBadCharacter:
			// SQLite stores such text; PostgreSQL refuses it. It is the
			// caller's input, so the caller hears about it.
			return dberr.BadText
		}
	}
	return dberr.Other
}

// unavailable says whether err is the failure of the connection rather than
// of the statement: the server refused or ended the connection — it is
// starting up, shutting down, restarting, out of connection slots — or the
// connection broke, or a failover left it on a server that is now a
// read-only standby. Each passes on its own; callers are told to try again
// (503 UNAVAILABLE), and retryUnavailable tries once more itself. It is the
// one place that tells these errors apart.
func unavailable(err error) bool {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch pgErr.Code {
		case "57P01", // admin_shutdown: pg_ctl stop -m fast, a restart, pg_terminate_backend
			"57P02", // crash_shutdown: another server process crashed
			"57P03", // cannot_connect_now: the server is starting up or shutting down
			"53300", // too_many_connections
			"25006": // read_only_sql_transaction: after a failover, the old primary
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08") // connection_exception (PgBouncer's too)
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true // refused, reset, or the server said no at startup
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return true
	}
	return errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

// affectedOne returns a not-found error when a write touched no row.
func affectedOne(tag pgconn.CommandTag, resource string) error {
	if tag.RowsAffected() == 0 {
		return webhookd.NotFound(resource)
	}
	return nil
}

// nullTime maps nil to SQL NULL; pgx encodes *time.Time that way already,
// but a copy keeps callers' pointers out of the driver.
func nullTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

// orNow returns t, or now when t is zero: callers may leave ids and times to
// the store.
func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// orID returns id, or a new id with prefix when id is empty.
func orID(id, prefix string) string {
	if id == "" {
		return webhookd.NewID(prefix)
	}
	return id
}

// limitOf turns a page size into a LIMIT parameter; a size of zero or less
// means no limit (SQL LIMIT NULL).
func limitOf(size int) *int64 {
	if size <= 0 {
		return nil
	}
	n := int64(size)
	return &n
}

// lockKey names an advisory lock: the lock space is the whole database, so
// the key includes the schema. PostgreSQL hashes it to 64 bits
// (hashtextextended); a collision would only make two holders wait on each
// other.
func lockKey(schema string, parts ...string) string {
	return schema + "/" + strings.Join(parts, "/")
}
