package postgres

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/handoff"
)

// publishGroups is group commit for PublishEvent without an idempotency
// key, the API's one event per request. PostgreSQL commits and plans each
// statement per call, so N publishers sending one event each cost N
// routing queries, 2N inserts and N commits. Here a publish that finds
// others waiting takes them all and writes them as one: one routing query
// per project, one insert per table, one commit, in the two round trips
// of publishPipelined. Up to maxGroupLeaders groups are written at once,
// so a lone publish waits for nothing, and a burst is written in parallel
// as well as together. Nothing is acknowledged before its group commits;
// when a group fails before its commit (an event of an unknown project,
// invalid data, a connection that failed to send), each of its events is
// published again alone, so that one bad request fails alone. A group whose
// outcome is unknown (the connection failed after sending it) is never
// published again: each of its callers is answered with the failure.
type publishGroups struct {
	mu      sync.Mutex
	waiting []*groupRequest
	leaders chan struct{} // a place is a group being written
	largest atomic.Int64  // the most events a group has written, for tests
}

// maxGroupLeaders is how many groups may be written at once, and
// maxGroupEvents the most events one takes.
const (
	maxGroupLeaders = 4
	maxGroupEvents  = 256
)

// groupRequest is one PublishEvent waiting to be written.
type groupRequest struct {
	ctx    context.Context
	ne     webhookd.NewEvent
	taken  bool             // by a group; guarded by publishGroups.mu
	result chan groupResult // buffered: a leader never blocks on a caller
}

type groupResult struct {
	ev  *webhookd.Event
	err error
}

// publishGrouped publishes ne, without an idempotency key, in a group
// (see publishGroups).
func (s *Store) publishGrouped(ctx context.Context, ne webhookd.NewEvent) (*webhookd.Event, error) {
	g := &s.groups
	req := &groupRequest{ctx: ctx, ne: ne, result: make(chan groupResult, 1)}
	g.mu.Lock()
	g.waiting = append(g.waiting, req)
	g.mu.Unlock()
	for {
		select {
		case g.leaders <- struct{}{}:
			if batch := g.take(); len(batch) > 0 {
				s.writeGroup(batch)
			}
			<-g.leaders
			g.mu.Lock()
			taken := req.taken
			g.mu.Unlock()
			if !taken {
				continue // another group is being written; lead the next
			}
			select { // it was in this group, or is in one being written
			case r := <-req.result:
				return r.ev, r.err
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		case r := <-req.result:
			return r.ev, r.err
		case <-ctx.Done():
			g.mu.Lock()
			defer g.mu.Unlock()
			if !req.taken {
				// Not written, and never will be.
				g.waiting = removeRequest(g.waiting, req)
			}
			// A request taken may still be published: as when a response
			// is lost after a commit, the caller retries.
			return nil, ctx.Err()
		}
	}
}

// take returns the requests waiting, at most maxGroupEvents, marked taken.
func (g *publishGroups) take() []*groupRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := min(len(g.waiting), maxGroupEvents)
	batch := make([]*groupRequest, n)
	copy(batch, g.waiting)
	g.waiting = append(g.waiting[:0], g.waiting[n:]...)
	for _, r := range batch {
		r.taken = true
	}
	if int64(n) > g.largest.Load() {
		g.largest.Store(int64(n))
	}
	return batch
}

func removeRequest(rs []*groupRequest, r *groupRequest) []*groupRequest {
	for i, x := range rs {
		if x == r {
			return append(rs[:i], rs[i+1:]...)
		}
	}
	return rs
}

// groupTimeout bounds the write of a group, which no caller's context
// does.
const groupTimeout = 30 * time.Second

// writeGroup publishes batch and answers each request. A lone request is
// published under its own context; a group under none (but groupTimeout),
// since one caller leaving must not abort the others.
func (s *Store) writeGroup(batch []*groupRequest) {
	if len(batch) == 1 {
		r := batch[0]
		ev, _, err := s.publishPipelined(r.ctx, r.ne)
		r.result <- groupResult{ev, err}
		return
	}
	events := make([]webhookd.NewEvent, len(batch))
	for i, r := range batch {
		events[i] = r.ne
	}
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	planned, err := s.publishEventsPipelined(ctx, events)
	if _, unknown := errors.AsType[*commitError](err); unknown {
		// The group may have committed: publishing its events again
		// could store them twice. Each caller is told it failed, as
		// when a response is lost after a commit.
		err = mapErr(err, "publish event", "Event")
		for _, r := range batch {
			r.result <- groupResult{err: err}
		}
		return
	}
	if err != nil {
		for _, r := range batch {
			ev, _, err := s.publishPipelined(r.ctx, r.ne)
			r.result <- groupResult{ev, err}
		}
		return
	}
	for i, r := range batch {
		r.result <- groupResult{ev: planned[i].Event}
	}
}

// publishEventsPipelined is publishPipelinedOnce for several events
// without an idempotency key: the routing queries, then every insert and
// the audiences of the projects whose deliveries were handed off, in one
// batch, which PostgreSQL runs as one implicit transaction. Its errors are
// not mapped. A failure of the batch that may have come after its commit
// is a *commitError (see publishPipelinedOnce); after any other, nothing
// was stored and the caller publishes each event again alone.
func (s *Store) publishEventsPipelined(ctx context.Context, events []webhookd.NewEvent) ([]webhookd.PlannedEvent, error) {
	now := s.now()
	planned, _, err := webhookd.NewPlanner(planReader{s.pool, s.scope, now}, s.filters, now).Plan(ctx, events)
	if err != nil {
		return nil, err
	}
	ho := s.handOff.Begin(now)
	b := &pgx.Batch{}
	n := queueEventWrites(b, ho, planned)
	var projects []string
	if ho.Taken() {
		seen := map[string]bool{}
		for _, c := range ho.Claims {
			if p := c.Delivery.ProjectID; !seen[p] {
				seen[p] = true
				projects = append(projects, p)
				b.Queue(audienceQuery, p)
			}
		}
	}
	err = execGroupWrites(s.pool.SendBatch(ctx, b), n > 0, ho, projects)
	ho.Settle(err == nil)
	if err != nil {
		if _, serverSaid := errors.AsType[*pgconn.PgError](err); !serverSaid && !pgconn.SafeToRetry(err) {
			return nil, &commitError{err}
		}
		return nil, err
	}
	if n > 0 {
		s.wakeFor(ho)
	}
	return planned, nil
}

// execGroupWrites reads the results of publishEventsPipelined's batch: the
// inserts (see execEventWrites), then the audience of each of projects,
// which it sets on the claims ho took.
func execGroupWrites(br pgx.BatchResults, deliveries bool, ho *handoff.Tx, projects []string) (err error) {
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := br.Exec(); err != nil {
		return err
	}
	if deliveries {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	audiences := make(map[string]string, len(projects))
	for _, p := range projects {
		var a string
		if err := br.QueryRow().Scan(&a); err != nil {
			return err
		}
		audiences[p] = a
	}
	return ho.SetAudiences(func(p string) (string, error) { return audiences[p], nil })
}
