// Package sqlite is the embedded webhookd.Store: one SQLite file, through the
// pure-Go driver modernc.org/sqlite, so that `webhookd serve` runs with no
// database server and builds without cgo.
//
// SQLite allows one writer at a time. Rather than let several connections
// race for the write lock and fail with SQLITE_BUSY, the store funnels every
// write through one connection (a *sql.DB limited to one open connection,
// transactions begun IMMEDIATE so that the lock is taken up front) and serves
// reads from a separate pool of read-only connections, which WAL mode lets
// run beside the writer. The hot path — publish, claim, record — is a handful
// of statements prepared once on the writer connection, and commits are
// shared: concurrent PublishEvent calls go into one transaction (group
// commit), a claim is one UPDATE for the batch, and so is recording it.
//
// The Store also implements webhookd.OperationStore (operations, files,
// uploads) and Listen, the in-process counterpart of PostgreSQL's
// LISTEN/NOTIFY wake-ups.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/filter"
	"github.com/webhookd/webhookd/internal/dberr"
	"github.com/webhookd/webhookd/internal/handoff"
)

// Options configure a Store.
type Options struct {
	// Clock gives every "now" the store needs (due deliveries, leases, secret
	// expiry, idempotency windows). Nil means the system clock.
	Clock webhookd.Clock
	// Logger receives the store's few log lines (migrations). Nil discards them.
	Logger *slog.Logger
	// ReadConns caps the read pool; zero means one per CPU, at least two.
	ReadConns int
	// MustExist refuses to create the file: Open fails with ErrNoDatabase
	// when it does not exist (administrative commands, which must not leave
	// an empty database wherever they run).
	MustExist bool
	// Filters compiles the webhooks' filters when routing; nil means a
	// filter.Compiler of the store's own, whose metrics go nowhere.
	Filters webhookd.FilterCompiler
}

// The page caches of SQLite, in KiB per connection (PRAGMA cache_size).
//
// modernc.org/sqlite builds SQLite with SQLITE_ENABLE_MEMORY_MANAGEMENT,
// which makes the page cache one pool for every connection of the process,
// bounded by the sum of their cache sizes; a connection may hold more than
// its own size while others hold less. Here only the writer's pages last: in
// WAL mode a reader empties its cache when it begins a read transaction
// after a commit, and the writer commits many times a second. So the writer
// comes to hold nearly the whole pool, the sooner the larger the database
// (its transactions outgrow its own size). With SQLite's default of 2000 KiB
// on each connection (the writer, the checkpointer and, on two CPUs, two
// readers), that was about 8 MB, and the resident size grew by some 12 MiB
// between a backlog of 10k deliveries and one of 1M (docs/benchmarks.md).
// The writer keeps that default; the readers and the checkpointer get about
// what one query needs (the inner pages of an index and the pages it
// reads), so the pool is at most writerCacheKiB + (ReadConns+1)×readCacheKiB.
// At the scale of the benchmarks the writer's cache misses did not change.
//
// A cached page costs about 8 KiB of memory, not 4: SQLite allocates each
// page (4 KiB) with its header, and modernc.org/libc's allocator rounds that
// up to a power of two.
const (
	writerCacheKiB = 2000
	readCacheKiB   = 256
)

// busyTimeout is how long a connection waits for a lock held by another
// process sharing the file (a `webhookd migrate` beside a running server)
// before failing with SQLITE_BUSY. Within one Store there is no contention:
// there is only one writer connection.
const busyTimeout = 5 * time.Second

// openOne opens a *sql.DB of exactly one connection, kept open for good.
func openOne(path string, params url.Values) (*sql.DB, error) {
	db, err := sql.Open("sqlite", path+"?"+params.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// Store is the SQLite implementation of webhookd.Store.
type Store struct {
	writer *sql.DB // exactly one connection: SQLite has one writer at a time
	reader *sql.DB // read-only pool
	clock  webhookd.Clock
	log    *slog.Logger
	stmts  *statements
	pub    *publisher
	ckpt   *checkpointer

	listeners listeners
	// handOff is the engine publishes hand new deliveries to, if any.
	handOff handoff.Point
	// filters compiles webhooks' filters for routing (see Options.Filters).
	filters webhookd.FilterCompiler
}

var _ webhookd.Store = (*Store)(nil)

// Open opens (creating if needed, with mode 0600) the database file at path,
// applies the migrations it lacks, and returns a Store ready for use.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.Contains(path, "?") {
		// An in-memory database would be private to each connection, and a URI
		// would clash with the parameters Open appends.
		return nil, fmt.Errorf("sqlite: open: want a plain file path, got %q", path)
	}
	s := &Store{clock: opts.Clock, log: opts.Logger}
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

	if err := prepareFile(path, opts.MustExist, s.log); err != nil {
		return nil, err
	}

	params := url.Values{}
	params.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	params.Set("_foreign_keys", "1")
	params.Set("_synchronous", "NORMAL")
	params.Add("_pragma", "temp_store(memory)") // sorts and statement journals stay off the disk
	// The connection that commits checkpoints the WAL when it passes this
	// many pages; the background checkpointer (see checkpointer) normally
	// keeps it far shorter, so this is a safety net. (Against SQLite's
	// default of 1000 on the writer, measured here interleaved: claim+record
	// 18% and concurrent publishes 10% faster.)
	params.Add("_pragma", "wal_autocheckpoint(10000)")

	w := withCache(params, writerCacheKiB)
	w.Set("_journal_mode", "WAL") // persistent in the file; set by the writer only
	w.Set("_txlock", "immediate")
	writer, err := openOne(path, w)
	if err != nil {
		return nil, err
	}
	s.writer = writer

	if _, err := s.Migrate(ctx); err != nil {
		_ = writer.Close()
		return nil, err
	}

	r := withCache(params, readCacheKiB)
	r.Set("_query_only", "1")
	reader, err := sql.Open("sqlite", path+"?"+r.Encode())
	if err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := opts.ReadConns
	if n <= 0 {
		n = max(2, runtime.NumCPU())
	}
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	s.reader = reader

	if s.stmts, err = prepare(ctx, writer, reader); err != nil {
		_ = s.Close()
		return nil, err
	}
	s.startPublisher()
	if err := s.startCheckpointer(path, withCache(params, readCacheKiB)); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// withCache returns a copy of the connection parameters params with a page
// cache of cacheKiB.
func withCache(params url.Values, cacheKiB int) url.Values {
	c := url.Values{}
	for k, v := range params {
		c[k] = slices.Clone(v) // c's _pragma list grows: params' must not
	}
	c.Add("_pragma", fmt.Sprintf("cache_size(%d)", -cacheKiB))
	return c
}

// Ping checks that both the writer and the read pool answer.
func (s *Store) Ping(ctx context.Context) error {
	for _, db := range []*sql.DB{s.writer, s.reader} {
		var one int
		if err := db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
			return fmt.Errorf("sqlite: ping: %w", err)
		}
	}
	return nil
}

// Close closes every connection. It first lets SQLite refresh the planner's
// statistics where they have drifted (PRAGMA optimize, as SQLite advises for
// long-lived connections); the WAL is checkpointed into the main file when
// the last connection closes.
func (s *Store) Close() error {
	s.stopPublisher()
	errs := []error{s.stopCheckpointer()}
	if s.writer != nil && s.stmts != nil {
		ctx, cancel := context.WithTimeout(context.Background(), busyTimeout)
		if _, err := s.writer.ExecContext(ctx, `PRAGMA optimize`); err != nil {
			s.log.Warn("sqlite: optimize on close", "err", err)
		}
		cancel()
	}
	if s.stmts != nil {
		errs = append(errs, s.stmts.close())
	}
	if s.reader != nil {
		errs = append(errs, s.reader.Close())
	}
	if s.writer != nil {
		errs = append(errs, s.writer.Close())
	}
	return errors.Join(errs...)
}

// write runs fn in one IMMEDIATE transaction on the writer connection.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// read runs fn in one read transaction, so that the queries it makes see one
// snapshot of the database.
func (s *Store) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

// now is the store clock's time at the database's precision (microseconds,
// see micros), so that a time the store hands out equals the same time read
// back: a publish's hand-off claims are the claims a claim would return.
func (s *Store) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

// Times are stored as INTEGER Unix microseconds in UTC (see 0001_init.sql).

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// nullMicros is the column value of an optional time: NULL when nil.
func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

// timePtr converts a scanned optional time column.
func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// limit is the LIMIT of a page: SQLite reads a negative LIMIT as "no limit".
func limit(p webhookd.Page) int {
	if p.Size <= 0 {
		return -1
	}
	return p.Size
}

// sqliteCode returns the extended result code of a driver error, or 0.
func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

func isUniqueViolation(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func isForeignKeyViolation(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// mapErr turns a driver error of a call op on resource into a domain error
// (see dberr.Map).
func mapErr(err error, op, resource string) error {
	return dberr.Map("sqlite", err, errKind(err), op, resource)
}

// mapCreateErr is mapErr for the insert of a project's resource (see
// dberr.MapCreate).
func mapCreateErr(err error, op, resource string) error {
	return dberr.MapCreate("sqlite", err, errKind(err), op, resource)
}

// errKind tells what a driver error means.
func errKind(err error) dberr.Kind {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return dberr.NoRows
	case isUniqueViolation(err):
		return dberr.Unique
	case isForeignKeyViolation(err):
		return dberr.ForeignKey
	}
	return dberr.Other
}

// affectedOne turns an UPDATE or DELETE that matched no row into not-found.
func affectedOne(res sql.Result, err error, op, resource string) error {
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if n == 0 {
		return webhookd.NotFound(resource)
	}
	return nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}
