package lrotest_test

import (
	"testing"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/lro/lrotest"
	"github.com/webhookd/webhookd/storetest"
)

// TestMemStore runs the operations conformance suite on the in-memory
// reference store, as the SQL stores run it within storetest.Run.
func TestMemStore(t *testing.T) {
	t.Parallel()
	storetest.RunOperations(t, func(t *testing.T) storetest.OperationHarness {
		clock := fakeclock.New(storetest.T0)
		s := lrotest.NewMemStore(clock)
		return storetest.OperationHarness{
			Store:      s,
			Clock:      clock,
			NewProject: func(*testing.T) string { return webhookd.NewID(webhookd.PrefixProject) },
			Events:     s.Events,
		}
	})
}

// TestMemStoreEventTypes runs the event types conformance suite on the
// in-memory reference store, as the SQL stores run it within storetest.Run.
func TestMemStoreEventTypes(t *testing.T) {
	t.Parallel()
	storetest.RunEventTypes(t, func(t *testing.T) storetest.EventTypeHarness {
		clock := fakeclock.New(storetest.T0)
		return storetest.EventTypeHarness{
			Store:      lrotest.NewMemStore(clock),
			Clock:      clock,
			NewProject: func(*testing.T) string { return webhookd.NewID(webhookd.PrefixProject) },
		}
	})
}
