package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/webhookd/webhookd/internal/handoff"
)

// notifyChannel is the LISTEN/NOTIFY channel that tells every process that
// deliveries became due. Channels are database-wide, so the payload carries
// the schema (the scope) and listeners ignore other schemas' notifications.
// The payload is "scope sender", sender naming the Store that committed:
// its own listeners were woken straight after the commit (see localWakes),
// so they skip it instead of claiming a second time for nothing.
const notifyChannel = "webhookd_deliveries"

// notifyPayload is what the Store scope whose notifier is sender sends.
func notifyPayload(scope, sender string) string { return scope + " " + sender }

// parseNotifyPayload splits a payload into its scope and sender. A payload
// without a sender (from a version before senders) has sender "".
func parseNotifyPayload(payload string) (scope, sender string) {
	if i := strings.LastIndexByte(payload, ' '); i >= 0 {
		return payload[:i], payload[i+1:]
	}
	return payload, ""
}

// notifySpacing is the least time between two notifications of one Store.
// Commits within it share one notification, so that a steady stream of
// single-event publishes costs other processes a claim per spacing, not
// one per event; it delays only other processes' wake-ups, by at most
// this much, since this process's engines are woken at the commit.
const notifySpacing = 5 * time.Millisecond

// notifier sends the wake-ups of one Store, after the commits that made
// deliveries due, from one goroutine.
//
// The NOTIFY is not part of the writing transaction, on purpose: PostgreSQL
// takes a database-wide lock when a notifying transaction commits and holds
// it through the WAL flush, so notifying inside every publish would
// serialise all publishes of all processes behind one lock and one fsync
// each. Here the notification is its own transaction, committed without
// waiting for the flush (it has nothing to make durable), and wake-ups that
// arrive while one is being sent fold into the next. A wake-up lost to a
// crash right after a commit costs latency only: engines also poll.
type notifier struct {
	pool    *pgxpool.Pool
	payload string
	log     *slog.Logger
	kick    chan struct{}
	stop    context.CancelFunc
	done    chan struct{}
}

func startNotifier(pool *pgxpool.Pool, payload string, log *slog.Logger) *notifier {
	ctx, stop := context.WithCancel(context.Background())
	n := &notifier{pool: pool, payload: payload, log: log, kick: make(chan struct{}, 1), stop: stop, done: make(chan struct{})}
	go n.run(ctx)
	return n
}

// wake asks for a notification without waiting for it.
func (n *notifier) wake() {
	select {
	case n.kick <- struct{}{}:
	default: // one is pending already; it covers this commit too
	}
}

func (n *notifier) run(ctx context.Context) {
	defer close(n.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.kick:
		}
		sctx, cancel := context.WithTimeout(ctx, closeTimeout)
		_, err := n.pool.Exec(sctx, `SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)`, notifyChannel, n.payload)
		cancel()
		if err != nil && ctx.Err() == nil {
			n.log.Warn("postgres: notify failed; listeners will poll", "err", err)
		}
		t := time.NewTimer(notifySpacing)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// close stops the notifier; a wake-up still pending is dropped.
func (n *notifier) close() {
	n.stop()
	<-n.done
}

// localWakes are the wake functions of this Store's running Listen calls.
// They are called straight after a commit, so that this process's engines
// start at once; the notification reaches them too, a moment later, and the
// engines fold the two into one.
type localWakes struct {
	mu    sync.Mutex
	next  int
	wakes map[int]func()
}

func (l *localWakes) add(wake func()) (remove func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wakes == nil {
		l.wakes = map[int]func(){}
	}
	id := l.next
	l.next++
	l.wakes[id] = wake
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.wakes, id)
	}
}

func (l *localWakes) call() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, wake := range l.wakes {
		wake()
	}
}

// wakeAll tells every delivery engine, here and in other processes, that a
// commit made deliveries due.
func (s *Store) wakeAll() {
	s.local.call()
	s.notifier.wake()
}

// wakeFor wakes the engines after a publish that created deliveries, unless
// its hand-off took or put off every one of them: then none is due for a
// claim.
func (s *Store) wakeFor(ho *handoff.Tx) {
	if ho == nil || ho.Claimable() {
		s.wakeAll()
	}
}

// Reconnection backoff of Listen: short enough that a restarted database is
// noticed quickly, capped so that a long outage does not hammer it.
const (
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 10 * time.Second
)

// closeTimeout bounds the goodbye on a dedicated connection, which may be
// sent after the caller's context has ended.
const closeTimeout = 5 * time.Second

// dedicatedConn opens a connection outside the pool, for a session that
// outlives a query: LISTEN, or a session-level advisory lock. Pooled
// connections are shared and cannot carry session state safely.
func (s *Store) dedicatedConn(ctx context.Context, role string) (*pgx.Conn, error) {
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "webhookd " + role + " " + s.scope
	return pgx.ConnectConfig(ctx, cfg)
}

func closeConn(ctx context.Context, conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	_ = conn.Close(ctx)
}

// Listen calls wake soon after any store on this schema — in this process or
// any other — committed deliveries that are due now (PublishEvent,
// CommitOperationChange, RetryDelivery, RecoverDeliveries), until ctx ends;
// it then returns nil. Commits close together may share one wake-up; a
// commit of this Store wakes its own listeners at once, and again when the
// notification arrives.
//
// It holds one dedicated connection. When that connection fails, Listen logs,
// reconnects with capped exponential backoff, and calls wake once it listens
// again, since notifications sent meanwhile are lost. wake is called from
// Listen's goroutine and should not block (signal a channel with room for one).
//
// Behind a transaction pooler (pool_mode=transaction) there is no session
// to LISTEN in: Listen wakes only for this Store's own commits, and the
// engines find other processes' deliveries at their polls.
func (s *Store) Listen(ctx context.Context, wake func()) error {
	defer s.local.add(wake)()
	if s.txPooling {
		s.log.Info("postgres: pool_mode=transaction: no LISTEN; deliveries other processes publish are found by polling")
		<-ctx.Done()
		return nil
	}
	backoff := listenBackoffMin
	for {
		err := s.listen(ctx, wake, func() { backoff = listenBackoffMin })
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("postgres: listen: connection lost, reconnecting", "err", err, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, listenBackoffMax)
	}
}

// listen runs one connection's life: LISTEN, then wait. It calls listening
// once the LISTEN is in place.
func (s *Store) listen(ctx context.Context, wake, listening func()) error {
	conn, err := s.dedicatedConn(ctx, "listen")
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer closeConn(ctx, conn)
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{notifyChannel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	listening()
	wake()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait: %w", err)
		}
		if scope, sender := parseNotifyPayload(n.Payload); n.Channel == notifyChannel && scope == s.scope && sender != s.sender {
			wake()
		}
	}
}

// TryLock takes the advisory lock called name without waiting, for
// maintenance that one process of the deployment should run at a time
// (expiry sweeps, retention, key rotation). ok is false when another session
// holds it. The lock lives on a dedicated connection until unlock is called
// (unlock is idempotent); if that connection dies the lock is lost, so hold
// it for one round of work and take it again for the next, rather than for
// the life of the process. Names are scoped to the store's schema.
func (s *Store) TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error) {
	conn, err := s.dedicatedConn(ctx, "lock")
	if err != nil {
		return nil, false, fmt.Errorf("postgres: lock %s: connect: %w", name, err)
	}
	key := lockKey(s.scope, "lock", name)
	if s.txPooling {
		return s.tryLockInTx(ctx, conn, name, key)
	}
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, key).Scan(&ok); err != nil {
		closeConn(ctx, conn)
		return nil, false, fmt.Errorf("postgres: lock %s: %w", name, err)
	}
	if !ok {
		closeConn(ctx, conn)
		return nil, false, nil
	}
	var once sync.Once
	unlock = func() {
		once.Do(func() {
			// Unlock explicitly and wait for it before closing: closing
			// alone releases the lock only when the server gets round to
			// ending the session, and a caller may take it again at once.
			uctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			defer cancel()
			if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key); err != nil {
				s.log.Warn("postgres: unlock failed; closing the session releases it", "lock", name, "err", err)
			}
			_ = conn.Close(uctx)
		})
	}
	return unlock, true, nil
}

// tryLockInTx is TryLock behind a transaction pooler, where a session lock
// would stay with a server session that the pooler hands to other clients:
// the lock is a transaction's, and the transaction — which keeps the
// pooler's server connection for conn — stays open until unlock.
func (s *Store) tryLockInTx(ctx context.Context, conn *pgx.Conn, name, key string) (unlock func(), ok bool, err error) {
	tx, err := conn.Begin(ctx)
	if err == nil {
		err = tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))`, key).Scan(&ok)
	}
	if err != nil || !ok {
		closeConn(ctx, conn)
		if err != nil {
			return nil, false, fmt.Errorf("postgres: lock %s: %w", name, err)
		}
		return nil, false, nil
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			uctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			defer cancel()
			if err := tx.Rollback(uctx); err != nil {
				s.log.Warn("postgres: unlock failed; closing the connection ends its transaction", "lock", name, "err", err)
			}
			_ = conn.Close(uctx)
		})
	}, true, nil
}
