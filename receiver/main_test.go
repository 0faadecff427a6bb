package receiver_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves goroutines behind: JWKS fetches,
// handlers and servers must all end with their tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
