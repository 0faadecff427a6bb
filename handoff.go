package webhookd

import (
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"time"
)

// HandOff is a delivery engine's side of the publish hand-off. A fresh
// delivery is due at once, so the engine of the publishing process would
// otherwise claim it a moment after the commit: one more write, which on
// SQLite costs the single writer about as much as the publish itself. A
// store that supports the hand-off (HandOffStore) instead asks the engine
// about each new delivery inside the publishing transaction. The ones it
// takes are written leased, exactly as ClaimDeliveries would leave them (a
// new LeaseToken, NextAttemptTime = now + Lease), and given to it after the
// commit; the ones it puts off — their destination hangs or its circuit is
// open, so a claim would only defer them — are written due at the time it
// names, as a deferral would leave them; the rest are written due at once,
// to be claimed.
//
// The lease keeps the crash argument of a claim: if the process dies
// between the commit and the attempt, the deliveries are due again when the
// lease ends, and any engine claims them.
type HandOff interface {
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
	Take(claims []*Claim, taken int)
}

// HandOffStore is a Store that hands new deliveries to a HandOff.
type HandOffStore interface {
	// HandOffTo makes the store hand its publishes' new deliveries to h
	// (replacing any earlier HandOff) until remove is called. Events
	// published while none is set are only claimed.
	HandOffTo(h HandOff) (remove func())
}

// NewLeaseToken returns a new random lease token, in the form the stores'
// claims give (32 hex digits).
func NewLeaseToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// HandOffPoint is what every HandOffStore shares: the HandOff set, if any.
// A store keeps one, implements HandOffTo with it, and begins a HandOffTx in
// each publishing transaction.
type HandOffPoint struct {
	p atomic.Pointer[handOffBox]
}

// handOffBox boxes a HandOff, so that remove can tell its own from a later
// one.
type handOffBox struct{ h HandOff }

// HandOffTo sets h until remove is called (see HandOffStore).
func (hp *HandOffPoint) HandOffTo(h HandOff) (remove func()) {
	b := &handOffBox{h: h}
	hp.p.Store(b)
	return func() { hp.p.CompareAndSwap(b, nil) }
}

// Begin starts the hand-off of a transaction that began at now. It returns
// nil when no HandOff is set; a nil *HandOffTx hands nothing off.
func (hp *HandOffPoint) Begin(now time.Time) *HandOffTx {
	b := hp.p.Load()
	if b == nil {
		return nil
	}
	return &HandOffTx{h: b.h, now: now}
}

// HandOffTx is the hand-off of one publishing transaction: the store asks
// Admit about each new delivery, keeps the claims of those it writes leased
// in Claims, and settles with Settle once the transaction has ended.
type HandOffTx struct {
	h     HandOff
	now   time.Time
	token string
	end   time.Time
	taken int
	// Claims are the deliveries written leased, for the store to fill
	// (as ClaimDeliveries fills its claims) before the commit.
	Claims []*Claim
	// claimable says a delivery was left due at once, for engines to claim.
	claimable bool
}

// Admit asks the HandOff about one new delivery to uri and returns how to
// write it: leased with token until due, or ("", putOff time), or ("",
// zero time) for due at once. The deliveries taken in one transaction share
// one lease token: it only has to tell their lease from any other claim.
func (t *HandOffTx) Admit(uri string) (token string, due time.Time) {
	if t == nil {
		return "", time.Time{}
	}
	take, putOff := t.h.Admit(uri)
	switch {
	case take:
		if t.token == "" {
			t.token, t.end = NewLeaseToken(), t.now.Add(t.h.Lease())
		}
		t.taken++
		return t.token, t.end
	case putOff.IsZero():
		t.claimable = true
	}
	return "", putOff
}

// Taken says whether Admit took any delivery: Settle must then be called.
func (t *HandOffTx) Taken() bool { return t != nil && t.taken > 0 }

// Claimable says whether a delivery was left due at once, so that the
// engines must be woken to claim it.
func (t *HandOffTx) Claimable() bool { return t != nil && t.claimable }

// Settle gives the HandOff the claims in Claims after a commit (filled by
// then, as ClaimDeliveries fills its claims), or nothing after a failed
// transaction (committed false).
func (t *HandOffTx) Settle(committed bool) {
	if !t.Taken() {
		return
	}
	claims := t.Claims
	if !committed {
		claims = nil
	}
	t.h.Take(claims, t.taken)
}
