package receiver

import (
	"context"
	"sync"
	"time"
)

// DuplicateFilter remembers the webhook-ids a receiver has accepted.
// Delivery is at-least-once: a sender that did not see the receiver's 2xx
// (a timeout, a lost connection) sends the same message again, with the same
// webhook-id. Implement it over a shared store (Redis SET NX with a TTL, a
// unique index) when several receiver processes share the work.
type DuplicateFilter interface {
	// Seen records id and reports whether it was already recorded.
	Seen(ctx context.Context, id string) (bool, error)
	// Forget removes id, so that a message the receiver failed to process
	// is processed when the sender retries it.
	Forget(ctx context.Context, id string) error
}

// DefaultDuplicateTTL covers the sender's whole retry window (24 hours for
// webhookd and the Gemini API) plus the timestamp tolerance.
const DefaultDuplicateTTL = 24*time.Hour + time.Hour

// DefaultMaxDuplicateIDs bounds a MemoryFilter's memory (roughly 100 bytes
// an id); past it the oldest ids are forgotten first.
const DefaultMaxDuplicateIDs = 1 << 20

// MemoryFilter is an in-process DuplicateFilter: ids are kept for a TTL, in
// a map plus a queue in arrival order, so expiry costs O(1) per call.
type MemoryFilter struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu    sync.Mutex
	seen  map[string]time.Time // id → expiry
	queue []filterEntry        // arrival order; may hold forgotten ids
	head  int
}

type filterEntry struct {
	id     string
	expiry time.Time
}

// NewMemoryFilter returns a filter that remembers ids for ttl (default
// DefaultDuplicateTTL when ttl <= 0) and at most DefaultMaxDuplicateIDs of
// them. now is its clock (time.Now when nil).
func NewMemoryFilter(ttl time.Duration, now func() time.Time) *MemoryFilter {
	if ttl <= 0 {
		ttl = DefaultDuplicateTTL
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryFilter{ttl: ttl, max: DefaultMaxDuplicateIDs, now: now, seen: map[string]time.Time{}}
}

// Seen implements DuplicateFilter.
func (f *MemoryFilter) Seen(_ context.Context, id string) (bool, error) {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expire(now)
	if exp, ok := f.seen[id]; ok && now.Before(exp) {
		return true, nil
	}
	exp := now.Add(f.ttl)
	f.seen[id] = exp
	f.queue = append(f.queue, filterEntry{id: id, expiry: exp})
	for len(f.seen) > f.max && f.head < len(f.queue) {
		f.pop()
	}
	return false, nil
}

// Forget implements DuplicateFilter.
func (f *MemoryFilter) Forget(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.seen, id)
	return nil
}

// Len returns how many ids the filter holds.
func (f *MemoryFilter) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.seen)
}

func (f *MemoryFilter) expire(now time.Time) {
	for f.head < len(f.queue) && !now.Before(f.queue[f.head].expiry) {
		f.pop()
	}
}

// pop drops the oldest queue entry, and its id unless the id was recorded
// again later (forgotten, then seen anew).
func (f *MemoryFilter) pop() {
	e := f.queue[f.head]
	f.queue[f.head] = filterEntry{}
	f.head++
	if exp, ok := f.seen[e.id]; ok && exp.Equal(e.expiry) {
		delete(f.seen, e.id)
	}
	if f.head > len(f.queue)/2 && f.head > 1024 {
		f.queue = append([]filterEntry(nil), f.queue[f.head:]...)
		f.head = 0
	}
}
