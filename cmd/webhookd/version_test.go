package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionLine(t *testing.T) {
	t.Parallel()
	platform := runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH
	vcs := func(kv ...string) *debug.BuildInfo {
		info := &debug.BuildInfo{}
		for i := 0; i < len(kv); i += 2 {
			info.Settings = append(info.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return info
	}
	for _, tc := range []struct {
		name, version, commit string
		info                  *debug.BuildInfo
		want                  string
	}{
		{"stamped", "1.2.3", "abc123", vcs("vcs.revision", "fff"), "webhookd 1.2.3 (commit abc123, " + platform + ")"},
		{"recorded by go build", "0.1.0-dev", "", vcs("vcs.revision", "fff", "vcs.modified", "false"), "webhookd 0.1.0-dev (commit fff, " + platform + ")"},
		{"recorded, dirty tree", "0.1.0-dev", "", vcs("vcs.revision", "fff", "vcs.modified", "true"), "webhookd 0.1.0-dev (commit fff-dirty, " + platform + ")"},
		{"none", "0.1.0-dev", "", vcs(), "webhookd 0.1.0-dev (commit unknown, " + platform + ")"},
		{"no build info", "0.1.0-dev", "", nil, "webhookd 0.1.0-dev (commit unknown, " + platform + ")"},
	} {
		if got := versionLine(tc.version, tc.commit, tc.info); got != tc.want {
			t.Errorf("%s: versionLine = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestVersionStamped builds the binary as make dist does, with the version
// and commit set by -ldflags -X, and checks that `webhookd version` prints
// them: the variables' import paths are a contract of the Makefile.
func TestVersionStamped(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "webhookd")
	ldflags := "-X github.com/webhookd/webhookd.Version=9.8.7-test -X github.com/webhookd/webhookd.Commit=0123456789abcdef"
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("webhookd version: %v\n%s", err, out)
	}
	if want := "webhookd 9.8.7-test (commit 0123456789abcdef, "; !strings.HasPrefix(string(out), want) {
		t.Errorf("webhookd version printed %q, want it to start with %q", out, want)
	}
}
