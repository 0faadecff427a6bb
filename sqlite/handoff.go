package sqlite

import (
	"context"
	"time"

	"github.com/webhookd/webhookd"
)

var _ webhookd.HandOffStore = (*Store)(nil)

// HandOffTo makes publishes ask h about each new delivery and hand it those
// it takes (see webhookd.HandOff), until remove is called. The events that
// operation changes publish are only claimed.
func (s *Store) HandOffTo(h webhookd.HandOff) (remove func()) { return s.handOff.HandOffTo(h) }

// handOverTimeout bounds the read that fills handed-off claims; the
// deliveries are claimed again when their lease ends if it fails.
const handOverTimeout = 10 * time.Second

// settleHandOff ends the hand-off of a publish transaction. After a commit
// it fills the claims and hands them over on a goroutine of its own, so that
// neither the publisher nor its callers wait for the read; after a failure it
// only releases what was taken.
func (s *Store) settleHandOff(ho *webhookd.HandOffTx, committed bool) {
	if !ho.Taken() {
		return
	}
	if !committed {
		ho.Settle(false)
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), handOverTimeout)
		defer cancel()
		if err := s.fillClaims(ctx, ho.Claims); err != nil {
			s.log.Error("handing new deliveries to the engine failed; they are due again when their lease ends",
				"deliveries", len(ho.Claims), "err", err)
			ho.Claims = nil
		}
		ho.Settle(true)
	}()
}
