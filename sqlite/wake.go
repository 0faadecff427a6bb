package sqlite

import (
	"context"
	"sync"
)

// listeners is the in-process counterpart of PostgreSQL's LISTEN/NOTIFY: an
// SQLite file has one server process, so waking its delivery engines needs no
// more than a list of callbacks.
type listeners struct {
	mu    sync.Mutex
	next  int
	wakes map[int]func()
}

// Listen calls wake once it listens, and then after every commit of this
// store that made deliveries due (PublishEvent, RetryDelivery,
// RecoverDeliveries, operation changes that publish) before the call that
// committed returns, until ctx ends or the store closes; it then returns
// nil. wake runs on the committing goroutine and must not block (signal a
// channel with room for one).
func (s *Store) Listen(ctx context.Context, wake func()) error {
	s.listeners.mu.Lock()
	if s.listeners.wakes == nil {
		s.listeners.wakes = map[int]func(){}
	}
	id := s.listeners.next
	s.listeners.next++
	s.listeners.wakes[id] = wake
	s.listeners.mu.Unlock()
	wake()

	select {
	case <-ctx.Done():
	case <-s.pub.quit:
	}

	s.listeners.mu.Lock()
	delete(s.listeners.wakes, id)
	s.listeners.mu.Unlock()
	return nil
}

func (s *Store) wake() {
	s.listeners.mu.Lock()
	defer s.listeners.mu.Unlock()
	for _, w := range s.listeners.wakes {
		w()
	}
}
