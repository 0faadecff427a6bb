// Package handoff is how a store gives the delivery engine of its own process
// the deliveries a publish has just written, instead of leaving them for the
// engine to claim a moment after the commit.
//
// A fresh delivery is due at once, so the engine would otherwise claim it
// straight away: one more write, which on SQLite costs the single writer
// about as much as the publish itself. A store that supports the hand-off
// (Store) instead asks the engine (its Target) about each new delivery inside
// the publishing transaction. The ones it takes are written leased, exactly
// as ClaimDeliveries would leave them (a new lease token, NextAttemptTime =
// now + Lease), and given to it after the commit; the ones it puts off —
// their destination hangs or its circuit is open, so a claim would only
// defer them — are written due at the time it names, as a deferral would
// leave them; the rest are written due at once, to be claimed.
//
// The lease keeps the crash argument of a claim: if the process dies
// between the commit and the attempt, the deliveries are due again when the
// lease ends, and any engine claims them.
package handoff

import (
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"time"

	"github.com/webhookd/webhookd"
)

// Target is the delivery engine's side of the hand-off.
type Target interface {
	// Admit decides about one new delivery to uri: take it (the engine
	// has room for it), or not, and then make it due at putOff (zero: at
	// once). The store calls it inside its write transaction, so it must
	// not block. A transaction's takes are settled by exactly one call of
	// Take.
	Admit(uri string) (take bool, putOff time.Time)
	// Lease is how long the deliveries it takes are leased.
	Lease() time.Duration
	// Take settles a transaction's takes after it ended: taken is how many
	// Admit took, claims the deliveries the store leased (filled as
	// ClaimDeliveries fills its claims), none when the transaction failed.
	// It must not block.
	Take(claims []*webhookd.Claim, taken int)
}

// Store is a webhookd.Store that hands new deliveries to a Target.
type Store interface {
	// HandOffTo makes the store hand its publishes' new deliveries to t
	// (replacing any earlier Target) until remove is called. Events
	// published while none is set are only claimed.
	HandOffTo(t Target) (remove func())
}

// newLeaseToken returns a new random lease token, in the form the stores'
// claims give (32 hex digits).
func newLeaseToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// Point is what every Store shares: the Target set, if any. A store keeps
// one, implements HandOffTo with it, and begins a Tx in each publishing
// transaction.
type Point struct {
	p atomic.Pointer[targetBox]
}

// targetBox boxes a Target, so that remove can tell its own from a later
// one.
type targetBox struct{ t Target }

// HandOffTo sets t until remove is called (see Store).
func (p *Point) HandOffTo(t Target) (remove func()) {
	b := &targetBox{t: t}
	p.p.Store(b)
	return func() { p.p.CompareAndSwap(b, nil) }
}

// Begin starts the hand-off of a transaction that began at now. It returns
// nil when no Target is set; a nil *Tx hands nothing off.
func (p *Point) Begin(now time.Time) *Tx {
	b := p.p.Load()
	if b == nil {
		return nil
	}
	return &Tx{t: b.t, now: now}
}

// Tx is the hand-off of one publishing transaction: the store asks Admit
// about each new delivery, completes the claims of those taken (Claims),
// and settles with Settle once the transaction has ended.
type Tx struct {
	t     Target
	now   time.Time
	token string
	end   time.Time
	taken int
	// Claims are the deliveries written leased, for the store to
	// complete (as ClaimDeliveries fills its claims) before the commit:
	// Admit fills what the publish knows.
	Claims []*webhookd.Claim
	// claimable says a delivery was left due at once, for engines to claim.
	claimable bool
}

// Admit asks the Target about d, a new delivery of ev to dest as a publish
// writes it (see webhookd.Event.NewDelivery), and writes the answer into
// d. Taken, d is leased (a LeaseToken, NextAttemptTime at the lease's end)
// and a copy of it kept in Claims with ev's type and payload and, for a
// static destination, the webhook's state, secrets and headers as routing
// read them.
// Put off, d is due at that time. Otherwise d stays due at once; so it does
// with a nil Tx. The deliveries taken in one transaction share one lease
// token: it only has to tell their lease from any other claim.
func (t *Tx) Admit(ev *webhookd.Event, dest webhookd.Destination, d *webhookd.Delivery) {
	if t == nil {
		return
	}
	take, putOff := t.t.Admit(d.URI)
	switch {
	case take:
		if t.token == "" {
			t.token, t.end = newLeaseToken(), t.now.Add(t.t.Lease())
		}
		t.taken++
		d.LeaseToken, d.NextAttemptTime = t.token, t.end
		taken := *d
		c := &webhookd.Claim{Delivery: &taken, EventType: ev.Type, Payload: ev.Payload, TraceParent: ev.TraceParent}
		if w := dest.Webhook; w != nil {
			c.WebhookState, c.Secrets, c.Headers = w.State, w.Secrets, w.Headers
		}
		t.Claims = append(t.Claims, c)
	case putOff.IsZero():
		t.claimable = true
	default:
		d.NextAttemptTime = putOff
	}
}

// SetAudiences sets the Audience of the claims taken, one lookup per
// project: audience returns a project's.
func (t *Tx) SetAudiences(audience func(projectID string) (string, error)) error {
	if !t.Taken() {
		return nil
	}
	found := map[string]string{}
	for _, c := range t.Claims {
		p := c.Delivery.ProjectID
		a, ok := found[p]
		if !ok {
			var err error
			if a, err = audience(p); err != nil {
				return err
			}
			found[p] = a
		}
		c.Audience = a
	}
	return nil
}

// Taken says whether Admit took any delivery: Settle must then be called.
func (t *Tx) Taken() bool { return t != nil && t.taken > 0 }

// Claimable says whether a delivery was left due at once, so that the
// engines must be woken to claim it.
func (t *Tx) Claimable() bool { return t != nil && t.claimable }

// Settle gives the Target the claims in Claims after a commit (filled by
// then, as ClaimDeliveries fills its claims), or nothing after a failed
// transaction (committed false).
func (t *Tx) Settle(committed bool) {
	if !t.Taken() {
		return
	}
	claims := t.Claims
	if !committed {
		claims = nil
	}
	t.t.Take(claims, t.taken)
}
