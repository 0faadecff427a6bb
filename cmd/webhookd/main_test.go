package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/internal/pgtest"
)

// TestMain removes the binary that buildBinary built for the process tests.
func TestMain(m *testing.M) {
	pgtest.AnnounceSkip("cmd/webhookd")
	code := m.Run()
	if builtBin != "" {
		_ = os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// TestHelpExitsZero: -h prints the help asked for and exits 0, for the
// program as for each command; a usage mistake still exits 2.
func TestHelpExitsZero(t *testing.T) {
	bin := buildBinary(t)
	for _, tc := range []struct {
		args []string
		want string // in the help printed
		code int
	}{
		{[]string{"-h"}, "Usage:", 0},
		{[]string{"serve", "-h"}, "-addr", 0},
		{[]string{"serve", "--help"}, "-addr", 0},
		{[]string{"receive", "-h"}, "Usage: webhookd receive", 0},
		{[]string{"bench", "-h"}, "-scenario", 0},
		{[]string{"projects", "list", "-h"}, "-db", 0},
		{[]string{"serve", "--no-such-flag"}, "-addr", 2},
		{[]string{"bench", "--scenario", "fast"}, "--scenario must be", 2},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(string(out), tc.want) {
			t.Errorf("webhookd %s: exit %d, want %d; output:\n%s", strings.Join(tc.args, " "), code, tc.code, out)
		}
	}
}
