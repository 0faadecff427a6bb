package webhookd_test

import (
	"os"
	"path/filepath"
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

// TestREADMEFirstStart keeps the README's first-start output current: it
// must show every SQLite migration a fresh database applies.
func TestREADMEFirstStart(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	names, err := filepath.Glob("sqlite/migrations/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("no SQLite migrations found: %v", err)
	}
	for _, name := range names {
		line := `"msg":"applied migration","migration":"` + filepath.Base(name) + `"`
		if !strings.Contains(string(readme), line) {
			t.Errorf("README.md's first-start output lacks %s: paste a fresh run's output", line)
		}
	}
}
