package delivery

import (
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
)

// BreakerConfig configures the per-destination circuit breaker.
//
// The breaker is a few lines here rather than sony/gobreaker: the engine
// needs the breaker's clock to be the injected one (so tests drive it with a
// fake clock) and needs to know when an open circuit will let a trial
// through (to defer claims exactly until then), and gobreaker offers
// neither; keeping one breaker per destination in the same map as the
// in-flight counts also makes both checks one lock.
type BreakerConfig struct {
	// FailureThreshold is how many consecutive failed attempts open a
	// destination's circuit. Default 5.
	FailureThreshold int
	// OpenFor is how long an open circuit defers the destination's
	// deliveries before it lets one trial attempt through. Default 30s.
	OpenFor time.Duration
}

func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.FailureThreshold <= 0 {
		c.FailureThreshold = 5
	}
	if c.OpenFor <= 0 {
		c.OpenFor = 30 * time.Second
	}
	return c
}

// destinationKey names the destination a URI is sent to: scheme, host and
// port, the unit that keep-alive pools, in-flight caps and circuits share.
func destinationKey(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" {
		return uri // the sender fails it; any key will do
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// verdict is how an attempt's outcome counts for its destination's circuit.
type verdict int

const (
	verdictNeutral verdict = iota // no request reached the network, or the engine stopped it
	verdictHealthy                // the receiver answered promptly (2xx, or a 3xx/4xx it chose)
	verdictFailing                // the destination is down, slow or overloaded
)

// destination is the state of one destination: attempts in flight and its
// circuit. A circuit is closed when openUntil is zero, open before
// openUntil, and half-open after it (one trial attempt at a time).
type destination struct {
	inflight  int
	failures  int
	openUntil time.Time
	trial     bool
}

// destinations admits attempts per destination. It is what keeps a hanging
// or failing destination from taking the workers that healthy ones need:
// claims it refuses are deferred without occupying a worker.
type destinations struct {
	limit    int
	breaker  BreakerConfig
	deferFor time.Duration

	mu     sync.Mutex
	byKey  map[string]*destination
	opened int // circuits open or half-open
}

func newDestinations(limit int, breaker BreakerConfig, deferFor time.Duration) *destinations {
	return &destinations{limit: limit, breaker: breaker, deferFor: deferFor, byKey: map[string]*destination{}}
}

// acquire admits one attempt to key at now, or returns when its claim should
// be due again: at the half-open time for an open circuit, a little later
// for a destination at its in-flight cap. Deferral times are spread by up to
// deferFor so that a big backlog does not come due in one instant.
func (ds *destinations) acquire(key string, now time.Time) (ok bool, retryAt time.Time) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	d := ds.byKey[key]
	if d == nil {
		d = &destination{}
		ds.byKey[key] = d
	}
	var spread time.Duration
	if ds.deferFor > 0 {
		spread = time.Duration(rand.Int64N(int64(ds.deferFor)))
	}
	if !d.openUntil.IsZero() {
		if now.Before(d.openUntil) {
			return false, d.openUntil.Add(spread)
		}
		if d.trial || d.inflight > 0 {
			return false, now.Add(ds.deferFor/2 + spread)
		}
		d.trial = true
	} else if d.inflight >= ds.limit {
		return false, now.Add(ds.deferFor/2 + spread)
	}
	d.inflight++
	return true, time.Time{}
}

// release ends an attempt admitted by acquire and applies its verdict to the
// circuit.
func (ds *destinations) release(key string, v verdict, now time.Time) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	d := ds.byKey[key]
	if d == nil {
		return
	}
	d.inflight--
	wasOpen := !d.openUntil.IsZero()
	switch v {
	case verdictHealthy:
		d.failures, d.openUntil = 0, time.Time{}
	case verdictFailing:
		d.failures++
		switch {
		case d.trial:
			d.openUntil = now.Add(ds.breaker.OpenFor) // the trial failed: open again
		case !wasOpen && d.failures >= ds.breaker.FailureThreshold:
			d.openUntil = now.Add(ds.breaker.OpenFor)
		}
	}
	if v != verdictNeutral {
		d.trial = false
	} else if d.trial && d.inflight == 0 {
		d.trial = false // the trial never ran; let the next claim try
	}
	if isOpen := !d.openUntil.IsZero(); isOpen != wasOpen {
		if isOpen {
			ds.opened++
		} else {
			ds.opened--
		}
	}
	if d.inflight == 0 && d.failures == 0 && d.openUntil.IsZero() {
		delete(ds.byKey, key) // healthy and idle: nothing worth remembering
	}
}

// openCircuits counts the destinations whose circuit is open or half-open.
func (ds *destinations) openCircuits() int {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return ds.opened
}
