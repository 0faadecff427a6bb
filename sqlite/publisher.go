package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/handoff"
)

// maxPublishBatch bounds how many events concurrent calls share in one
// transaction, so that one commit never holds the write lock for long. A
// request is never split: one of PublishEvents may exceed it alone.
const maxPublishBatch = 256

// errClosed answers calls made after Close.
var errClosed = errors.New("sqlite: store is closed")

// publisher is group commit for PublishEvent and PublishEvents. A commit
// costs about as much for one event as for many (most of it is writing WAL
// frames), and the API publishes one event per request. So concurrent calls
// are queued to one goroutine, which takes every call waiting when it is free
// and publishes them in one transaction; one bad request fails alone (see
// publishBatch). A lone caller waits for nothing: its batch is itself.
type publisher struct {
	queue chan *publishRequest // unbuffered: a request sent is a request taken
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once

	largest atomic.Int64 // the most requests that shared a transaction so far, for tests
}

// publishRequest is one call: one event for PublishEvent, any number for
// PublishEvents, which are stored or failed together.
type publishRequest struct {
	ctx    context.Context
	events []webhookd.NewEvent
	one    [1]webhookd.NewEvent // events of a PublishEvent, without another allocation
	result chan publishResult   // buffered: the publisher never blocks on a caller that left
}

type publishResult struct {
	published []webhookd.PublishedEvent
	// failed is the index of the event whose own error err is, or -1 when
	// err is the request's (its context) or the transaction's.
	failed int
	err    error
}

func (s *Store) startPublisher() {
	s.pub = &publisher{queue: make(chan *publishRequest), quit: make(chan struct{}), done: make(chan struct{})}
	go s.runPublisher()
}

// stopPublisher ends the publisher after the batch it is running; calls
// still waiting to be taken answer errClosed.
func (s *Store) stopPublisher() {
	if s.pub == nil {
		return
	}
	s.pub.once.Do(func() { close(s.pub.quit) })
	<-s.pub.done
}

// PublishEvent stores the event and one delivery per destination in one
// transaction (see webhookd.Store for the routing rules), possibly shared
// with concurrent calls (see publisher).
func (s *Store) PublishEvent(ctx context.Context, ne webhookd.NewEvent) (*webhookd.Event, bool, error) {
	req := &publishRequest{ctx: ctx, result: make(chan publishResult, 1)}
	req.one[0] = ne
	req.events = req.one[:]
	r := s.publish(req)
	if r.err != nil {
		return nil, false, r.err
	}
	return r.published[0].Event, r.published[0].Created, nil
}

// PublishEvents stores the events and their deliveries, all or nothing (see
// webhookd.Store), in a transaction possibly shared with concurrent calls
// (see publisher and planRequest).
func (s *Store) PublishEvents(ctx context.Context, events []webhookd.NewEvent) ([]webhookd.PublishedEvent, error) {
	if len(events) == 0 {
		return nil, webhookd.FieldErrorf("events", "events must list at least one event.")
	}
	// A copy: a caller that leaves on its context may reuse its slice
	// while the publisher still reads the request.
	req := &publishRequest{ctx: ctx, events: slices.Clone(events), result: make(chan publishResult, 1)}
	r := s.publish(req)
	switch {
	case r.err != nil && r.failed >= 0:
		return nil, webhookd.ElementError("events", r.failed, r.err)
	case r.err != nil:
		return nil, r.err
	}
	return r.published, nil
}

// publish hands req to the publisher and waits for its answer.
func (s *Store) publish(req *publishRequest) publishResult {
	ctx := req.ctx
	select {
	case s.pub.queue <- req:
	case <-s.pub.quit:
		return publishResult{failed: -1, err: errClosed}
	case <-ctx.Done():
		return publishResult{failed: -1, err: ctx.Err()}
	}
	select {
	case r := <-req.result:
		return r
	case <-ctx.Done():
		// The events may still be published: as when a response is lost
		// after a commit, the caller retries with its idempotency keys.
		return publishResult{failed: -1, err: ctx.Err()}
	}
}

func (s *Store) runPublisher() {
	defer close(s.pub.done)
	batch := make([]*publishRequest, 0, maxPublishBatch)
	for {
		batch = batch[:0]
		select {
		case r := <-s.pub.queue:
			batch = append(batch, r)
		case <-s.pub.quit:
			return
		}
	collect:
		for n := len(batch[0].events); n < maxPublishBatch; {
			select {
			case r := <-s.pub.queue:
				batch = append(batch, r)
				n += len(r.events)
			default:
				break collect
			}
		}
		if n := int64(len(batch)); n > s.pub.largest.Load() {
			s.pub.largest.Store(n)
		}
		s.publishBatch(batch)
	}
}

// publishBatch publishes the requests of one batch in one transaction and
// answers each. A request the caller got wrong (an event invalid, of an
// unknown project or webhook) fails alone, before it writes anything (see
// publishTx); a database failure fails the whole batch, none of which is
// then stored. The transaction is not bound to any caller's context: one
// caller leaving must not abort the others.
//
// The new deliveries the hand-off target takes are written leased and
// handed to it after the commit (see handoff.Target); the engines are
// woken only when some are left for them to claim, before the callers are
// answered.
func (s *Store) publishBatch(batch []*publishRequest) {
	ctx := context.Background()
	results := make([]publishResult, len(batch))
	var ho *handoff.Tx
	wake := false // a new delivery is due for the engines to claim
	err := s.write(ctx, func(tx *sql.Tx) error {
		// now is read inside the transaction so that events' CreateTimes
		// follow their commit order.
		now := s.now()
		ho = s.handOff.Begin(now)
		planner := webhookd.NewPlanner(planReader{s, tx}, s.filters, now)
		found := audiences{}
		for i, r := range batch {
			if err := r.ctx.Err(); err != nil {
				results[i] = publishResult{failed: -1, err: err}
				continue
			}
			planned, failed, err := s.publishTx(ctx, tx, ho, planner, found, r.events)
			switch {
			case err != nil && failed < 0:
				return err
			case err != nil:
				results[i] = publishResult{failed: failed, err: err}
				continue
			}
			published := make([]webhookd.PublishedEvent, len(planned))
			for j, p := range planned {
				published[j] = webhookd.PublishedEvent{Event: p.Event, Created: p.Created}
			}
			wake = wake || (ho == nil && webhookd.NewDeliveries(planned) > 0)
			results[i] = publishResult{published: published, failed: -1}
		}
		return s.fillHandOff(ctx, tx, ho, found)
	})
	ho.Settle(err == nil)
	if err == nil && (wake || ho.Claimable()) {
		s.wake()
	}
	for i, r := range batch {
		res := results[i]
		if res.err == nil && err != nil { // the transaction failed: nothing of the batch was stored
			res = publishResult{failed: -1, err: err}
		}
		r.result <- res
	}
}
