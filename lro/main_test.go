package lro_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The opencensus worker is started by an init function of the Go SDK's
// dependencies, not by anything under test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}
