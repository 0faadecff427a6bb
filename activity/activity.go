// Package activity keeps the last hour of delivery attempts in memory, by
// project and destination, minute by minute, and fans attempts out to live
// subscribers. It is what the console's overview, destination health and
// live tail read through the API.
//
// It records what this process's delivery engine attempted. The store
// keeps every attempt too, but asking it for an hour of latencies would
// need indexes by time that every attempt would pay for on the hot path;
// here an attempt costs one map lookup and a few additions under a lock.
// With several processes (PostgreSQL), each reports its own attempts.
package activity

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/webhookd/webhookd"
)

// Window is how far back the recorder remembers, in minutes.
const (
	Window       = time.Hour
	windowMins   = int(Window / time.Minute)
	maxSeries    = 10000 // (project, destination) pairs remembered at once
	subscriberQ  = 256   // attempts a slow subscriber may fall behind
	latencySlots = len(latencyBounds) + 1
)

// latencyBounds are the upper bounds of the latency histogram's buckets,
// in milliseconds: quantiles are read to within a bucket, which is fine
// for a chart and costs a fixed 30 counters per minute.
var latencyBounds = [...]float64{1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700,
	1000, 1500, 2000, 3000, 5000, 7000, 10000, 15000, 20000, 30000, 60000}

// Attempt is one attempt (or a delivery failed without one) as the engine
// made it.
type Attempt struct {
	ProjectID  string
	EventID    string
	EventType  string
	DeliveryID string
	WebhookID  string
	URI        string
	// Destination is the scheme, host and port the engine's circuit
	// guards (webhookd.DestinationOf).
	Destination string
	Number      int
	Time        time.Time
	Outcome     webhookd.Outcome
	StatusCode  int
	Latency     time.Duration
	Error       string
	ErrorStage  string
	// Attempted is false for a delivery failed without an attempt.
	Attempted bool
}

// Succeeded reports whether the attempt succeeded.
func (a Attempt) Succeeded() bool { return a.Outcome == webhookd.OutcomeSucceeded }

// bucket is one minute of one series.
type bucket struct {
	minute    int64 // Unix minutes; a bucket of another minute is stale
	attempts  int
	succeeded int
	hist      [latencySlots]uint32
}

func (b *bucket) add(a Attempt) {
	b.attempts++
	if a.Succeeded() {
		b.succeeded++
	}
	if a.Attempted {
		b.hist[latencySlot(a.Latency)]++
	}
}

func latencySlot(d time.Duration) int {
	ms := float64(d) / float64(time.Millisecond)
	return sort.SearchFloat64s(latencyBounds[:], ms)
}

// series is a project's attempts at one destination.
type series struct {
	buckets [windowMins]bucket
	last    time.Time
	// failingSince is the time of the first failure of an unbroken run of
	// failures; zero after a success.
	failingSince time.Time
	webhooks     map[string]time.Time // webhook id → last attempt
	uris         map[string]time.Time
}

type key struct{ project, destination string }

// Recorder is the in-memory record. The zero value is not ready; use New.
type Recorder struct {
	clock webhookd.Clock

	mu      sync.Mutex
	series  map[key]*series
	backlog map[string]*[windowMins]gauge // project → samples of its backlog
	subs    map[string]map[*Subscription]struct{}
	closed  bool
}

// gauge is one minute's last sample of a level.
type gauge struct {
	minute int64
	value  int
	set    bool
}

// New returns an empty recorder that tells the time by clock.
func New(clock webhookd.Clock) *Recorder {
	if clock == nil {
		clock = webhookd.SystemClock{}
	}
	return &Recorder{
		clock:   clock,
		series:  map[key]*series{},
		backlog: map[string]*[windowMins]gauge{},
		subs:    map[string]map[*Subscription]struct{}{},
	}
}

// Record adds an attempt and hands it to the project's subscribers. It
// never blocks: a subscriber that has fallen subscriberQ behind loses the
// attempt, and is told how many it lost.
func (r *Recorder) Record(a Attempt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := key{a.ProjectID, a.Destination}
	s := r.series[k]
	if s == nil {
		if len(r.series) >= maxSeries {
			r.evictLocked(a.Time)
		}
		s = &series{webhooks: map[string]time.Time{}, uris: map[string]time.Time{}}
		r.series[k] = s
	}
	m := a.Time.Unix() / 60
	b := &s.buckets[m%int64(windowMins)]
	if b.minute != m {
		*b = bucket{minute: m}
	}
	b.add(a)
	s.last = a.Time
	if a.Succeeded() {
		s.failingSince = time.Time{}
	} else if s.failingSince.IsZero() {
		s.failingSince = a.Time
	}
	if a.WebhookID != "" {
		s.webhooks[a.WebhookID] = a.Time
	}
	s.uris[a.URI] = a.Time
	for sub := range r.subs[a.ProjectID] {
		select {
		case sub.c <- a:
		default:
			sub.lost++
		}
	}
}

// evictLocked drops the series idle longest (and every one idle for the
// whole window), so that memory stays bounded however many destinations
// come and go.
func (r *Recorder) evictLocked(now time.Time) {
	var oldest key
	var oldestTime time.Time
	for k, s := range r.series {
		if now.Sub(s.last) > Window {
			delete(r.series, k)
			continue
		}
		if oldestTime.IsZero() || s.last.Before(oldestTime) {
			oldest, oldestTime = k, s.last
		}
	}
	if len(r.series) >= maxSeries {
		delete(r.series, oldest)
	}
}

// NoteBacklog samples a project's backlog at now, for the backlog chart:
// the API notes it whenever it reads the backlog from the store.
func (r *Recorder) NoteBacklog(projectID string, pending int, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.backlog[projectID]
	if g == nil {
		g = &[windowMins]gauge{}
		r.backlog[projectID] = g
	}
	m := now.Unix() / 60
	g[m%int64(windowMins)] = gauge{minute: m, value: pending, set: true}
}

// Point is one minute of a project's attempts.
type Point struct {
	Time      time.Time
	Attempts  int
	Succeeded int
	Failed    int
	// P50 and P99 are latency quantiles, to within a histogram bucket;
	// nil without attempts.
	P50, P99 *time.Duration
	// Backlog is the last sample of the minute, if any was noted.
	Backlog *int
}

// Stats is a project's last hour.
type Stats struct {
	Points    []Point // one a minute, oldest first, ending with the current one
	Attempts  int
	Succeeded int
	P50, P99  *time.Duration
}

// Stats returns the project's last hour, minute by minute.
func (r *Recorder) Stats(projectID string) Stats {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	end := now.Unix() / 60
	first := end - int64(windowMins) + 1
	hists := make([][latencySlots]uint64, windowMins)
	st := Stats{Points: make([]Point, windowMins)}
	for i := range st.Points {
		st.Points[i].Time = time.Unix((first+int64(i))*60, 0).UTC()
	}
	for k, s := range r.series {
		if k.project != projectID {
			continue
		}
		for j := range s.buckets {
			b := &s.buckets[j]
			if b.minute < first || b.minute > end {
				continue
			}
			i := b.minute - first
			st.Points[i].Attempts += b.attempts
			st.Points[i].Succeeded += b.succeeded
			for h, n := range b.hist {
				hists[i][h] += uint64(n)
			}
		}
	}
	var total [latencySlots]uint64
	gs := r.backlog[projectID]
	for i := range st.Points {
		p := &st.Points[i]
		p.Failed = p.Attempts - p.Succeeded
		p.P50, p.P99 = quantile(hists[i], 0.5), quantile(hists[i], 0.99)
		for h, n := range hists[i] {
			total[h] += n
		}
		if gs != nil {
			m := first + int64(i)
			if g := gs[m%int64(windowMins)]; g.set && g.minute == m {
				v := g.value
				p.Backlog = &v
			}
		}
		st.Attempts += p.Attempts
		st.Succeeded += p.Succeeded
	}
	st.P50, st.P99 = quantile(total, 0.5), quantile(total, 0.99)
	return st
}

// quantile reads the q-quantile of a latency histogram as the upper bound
// of the bucket it falls in; nil for an empty histogram.
func quantile(hist [latencySlots]uint64, q float64) *time.Duration {
	var n uint64
	for _, c := range hist {
		n += c
	}
	if n == 0 {
		return nil
	}
	rank := max(uint64(math.Ceil(q*float64(n))), 1) // nearest rank
	var seen uint64
	for i, c := range hist {
		seen += c
		if seen >= rank {
			ms := latencyBounds[len(latencyBounds)-1] * 2
			if i < len(latencyBounds) {
				ms = latencyBounds[i]
			}
			d := time.Duration(ms * float64(time.Millisecond))
			return &d
		}
	}
	return nil
}

// Destination is a project's last hour at one destination.
type Destination struct {
	Destination  string
	Attempts     int
	Succeeded    int
	P50, P99     *time.Duration
	FailingSince time.Time
	LastAttempt  time.Time
	// WebhookIDs and URIs are those attempted in the last hour, sorted.
	WebhookIDs []string
	URIs       []string
}

// Destinations returns the project's destinations attempted in the last
// hour, by name.
func (r *Recorder) Destinations(projectID string) []Destination {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	end := now.Unix() / 60
	var out []Destination
	for k, s := range r.series {
		if k.project != projectID || now.Sub(s.last) > Window {
			continue
		}
		d := Destination{Destination: k.destination, FailingSince: s.failingSince, LastAttempt: s.last}
		var hist [latencySlots]uint64
		for i := range s.buckets {
			b := &s.buckets[i]
			if b.minute <= end-int64(windowMins) || b.minute > end {
				continue
			}
			d.Attempts += b.attempts
			d.Succeeded += b.succeeded
			for j, n := range b.hist {
				hist[j] += uint64(n)
			}
		}
		d.P50, d.P99 = quantile(hist, 0.5), quantile(hist, 0.99)
		d.WebhookIDs = recent(s.webhooks, now)
		d.URIs = recent(s.uris, now)
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Destination < out[j].Destination })
	return out
}

// recent returns the keys of m seen within the window, sorted, and forgets
// the others.
func recent(m map[string]time.Time, now time.Time) []string {
	var out []string
	for k, t := range m {
		if now.Sub(t) > Window {
			delete(m, k)
			continue
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Subscription receives a project's attempts as they are recorded.
type Subscription struct {
	r       *Recorder
	project string
	c       chan Attempt
	lost    int
}

// C delivers the attempts; it is closed when the recorder closes.
func (s *Subscription) C() <-chan Attempt { return s.c }

// Lost returns, and resets, how many attempts were dropped because the
// subscriber fell behind.
func (s *Subscription) Lost() int {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	n := s.lost
	s.lost = 0
	return n
}

// Subscribe starts a subscription to projectID's attempts. Close it.
func (r *Recorder) Subscribe(projectID string) *Subscription {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &Subscription{r: r, project: projectID, c: make(chan Attempt, subscriberQ)}
	if r.closed {
		close(s.c)
		return s
	}
	if r.subs[projectID] == nil {
		r.subs[projectID] = map[*Subscription]struct{}{}
	}
	r.subs[projectID][s] = struct{}{}
	return s
}

// Close ends the subscription.
func (s *Subscription) Close() {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.subs[s.project][s]; ok {
		delete(r.subs[s.project], s)
		if len(r.subs[s.project]) == 0 {
			delete(r.subs, s.project)
		}
		close(s.c)
	}
}

// Close ends every subscription, so that live streams end when the server
// shuts down; recording goes on.
func (r *Recorder) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, subs := range r.subs {
		for s := range subs {
			close(s.c)
		}
	}
	r.subs = map[string]map[*Subscription]struct{}{}
}

// Of turns a claim and its result, as the delivery engine observes them
// (delivery.Config.Observe), into what the recorder keeps; now is the time
// of a delivery failed without an attempt.
func Of(c *webhookd.Claim, r webhookd.Result, destination string, now time.Time) Attempt {
	d := c.Delivery
	a := Attempt{
		ProjectID: d.ProjectID, EventID: d.EventID, EventType: c.EventType, DeliveryID: d.ID,
		WebhookID: d.WebhookID, URI: d.URI, Destination: destination, Outcome: r.Outcome, Error: r.Error, Time: now,
	}
	if at := r.Attempt; at != nil {
		a.Attempted, a.Number, a.Time, a.StatusCode, a.Latency = true, at.Number, at.Time, at.StatusCode, at.Latency
		a.Error, a.ErrorStage = at.Error, at.ErrorStage
	}
	return a
}
