package integration_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/webhookd/webhookd/internal/pgtest"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// server, store and client a test starts must be shut down by it. The one
// exception is started by a dependency of the Go SDK when it is loaded.
func TestMain(m *testing.M) {
	pgtest.AnnounceSkip("api/integration")
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}
