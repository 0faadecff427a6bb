package webhookd_test

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEGoHandler keeps the README's Go receiver identical to the code
// that examples/gohandler tests: the README shows code that runs.
func TestREADMEGoHandler(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("examples/gohandler/handler.go")
	if err != nil {
		t.Fatal(err)
	}
	fn := string(src)
	fn = fn[strings.Index(fn, "// receiverMux"):]
	if !strings.Contains(string(readme), fn) {
		t.Fatalf("README.md must contain examples/gohandler/handler.go's receiverMux verbatim:\n%s", fn)
	}
}
