package lrotest_test

import (
	"testing"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/lro/lrotest"
)

func TestMemStore(t *testing.T) {
	t.Parallel()
	lrotest.Run(t, func(t *testing.T) lrotest.Harness {
		clock := fakeclock.New(lrotest.T0)
		s := lrotest.NewMemStore(clock)
		return lrotest.Harness{
			Store:      s,
			Clock:      clock,
			NewProject: func(*testing.T) string { return webhookd.NewID(webhookd.PrefixProject) },
			Events:     s.Events,
		}
	})
}
