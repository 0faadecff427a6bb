package sqlite_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: every Store
// must release its connections (and database/sql's openers) on Close, and
// Listen must return when its context ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
