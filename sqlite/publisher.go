package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/webhookd/webhookd"
)

// maxPublishBatch bounds how many concurrent PublishEvent calls share one
// transaction, so that one commit never holds the write lock for long.
const maxPublishBatch = 256

// errClosed answers calls made after Close.
var errClosed = errors.New("sqlite: store is closed")

// publisher is group commit for PublishEvent. A commit costs about as much
// for one event as for many (most of it is writing WAL frames), and the API
// publishes one event per request. So concurrent calls are queued to one
// goroutine, which takes every call waiting when it is free and publishes
// them in one transaction; one bad event fails alone (see publishBatch). A
// lone caller waits for nothing: its batch is itself.
type publisher struct {
	queue chan *publishRequest // unbuffered: a request sent is a request taken
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once

	largest atomic.Int64 // the largest batch so far, for tests
}

type publishRequest struct {
	ctx    context.Context
	ne     webhookd.NewEvent
	result chan publishResult // buffered: the publisher never blocks on a caller that left
}

type publishResult struct {
	ev      *webhookd.Event
	created bool
	err     error
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
	req := &publishRequest{ctx: ctx, ne: ne, result: make(chan publishResult, 1)}
	select {
	case s.pub.queue <- req:
	case <-s.pub.quit:
		return nil, false, errClosed
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	select {
	case r := <-req.result:
		return r.ev, r.created, r.err
	case <-ctx.Done():
		// The event may still be published: as when a response is lost
		// after a commit, the caller retries with its idempotency key.
		return nil, false, ctx.Err()
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
		for len(batch) < maxPublishBatch {
			select {
			case r := <-s.pub.queue:
				batch = append(batch, r)
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
// answers each. A request the caller got wrong (invalid, unknown project or
// webhook) fails alone, before it writes anything; a database failure fails
// the whole batch, none of which is then stored. The transaction is not bound
// to any caller's context: one caller leaving must not abort the others.
func (s *Store) publishBatch(batch []*publishRequest) {
	ctx := context.Background()
	results := make([]publishResult, len(batch))
	err := s.write(ctx, func(tx *sql.Tx) error {
		// now is read inside the transaction so that events' CreateTimes
		// follow their commit order.
		now := s.now()
		for i, r := range batch {
			if err := r.ctx.Err(); err != nil {
				results[i].err = err
				continue
			}
			pub, first, err := s.planPublish(ctx, tx, r.ne, now)
			switch {
			case err != nil:
				results[i].err = err
			case first != nil:
				results[i] = publishResult{ev: first}
			default:
				if err := s.writePublish(ctx, tx, pub); err != nil {
					return err
				}
				results[i] = publishResult{ev: pub.ev, created: true}
			}
		}
		return nil
	})
	wake := false
	for i, r := range batch {
		res := results[i]
		switch {
		case res.err != nil:
		case err != nil: // the transaction failed: nothing of the batch was stored
			res = publishResult{err: err}
		case res.created && res.ev.DeliveryCount > 0:
			wake = true
		}
		r.result <- res
	}
	if wake {
		s.wake()
	}
}
