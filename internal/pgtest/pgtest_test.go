package pgtest_test

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/internal/pgtest"
)

// TestAnnounceSkipShows runs plain `go test` on a package whose PostgreSQL
// test skips, as a user would, and looks for the line in what go test shows:
// without -v, go test keeps a passing package's own output to itself.
func TestAnnounceSkipShows(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("outside Linux the line goes to the terminal, which a test cannot read")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	want := "skipper: PostgreSQL tests skipped: " + pgtest.EnvURL + " is not set"
	for _, tc := range []struct {
		url  string
		show bool
	}{
		{"", true},
		{"postgres://unused.invalid/db", false},
	} {
		cmd := exec.Command(goBin, "test", "-count=1", "./testdata/skipper")
		cmd.Env = append(withoutURL(os.Environ()), pgtest.EnvURL+"="+tc.url)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go test: %v\n%s", err, out)
		}
		if got := strings.Contains(string(out), want); got != tc.show {
			t.Errorf("%s=%q: line shown = %v, want %v; go test printed:\n%s", pgtest.EnvURL, tc.url, got, tc.show, out)
		}
		if n := strings.Count(string(out), want); n > 1 {
			t.Errorf("line shown %d times, want once:\n%s", n, out)
		}
	}
}

func withoutURL(env []string) []string {
	var kept []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, pgtest.EnvURL+"=") {
			kept = append(kept, kv)
		}
	}
	return kept
}
