// Package pgtest makes the PostgreSQL test suites say when they skip.
//
// Those suites run only when WEBHOOKD_TEST_POSTGRES_URL names a database, and
// t.Skip says why only under go test -v: a plain `go test ./...` prints
// "ok" for a package whose PostgreSQL tests all skipped. Each package with
// such tests calls AnnounceSkip from its TestMain.
package pgtest

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// EnvURL names the variable holding the URL of the database the PostgreSQL
// tests may use, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvURL = "WEBHOOKD_TEST_POSTGRES_URL"

// AnnounceSkip prints one line saying that pkg's PostgreSQL tests skip, when
// EnvURL is unset.
//
// go test keeps a passing package's output to itself unless run with -v, so
// the line goes to the test binary's stderr (seen with -v or when the package
// fails) and also to where the go command itself writes its errors: its
// stderr (Linux), or else the terminal. A file the go command writes
// without O_APPEND (`go test > log 2>&1`) is left alone: a line appended
// behind its back would be overwritten by its next write.
func AnnounceSkip(pkg string) {
	if os.Getenv(EnvURL) != "" {
		return
	}
	line := fmt.Sprintf("%s: PostgreSQL tests skipped: %s is not set (make test-postgres runs them)\n", pkg, EnvURL)
	fmt.Fprint(os.Stderr, line)
	if w := goCommandOutput(); w != nil {
		_, _ = w.WriteString(line)
		_ = w.Close()
	}
}

// goCommandOutput opens where the go command that runs this test binary
// writes, or returns nil when that is this binary's own stderr already, or
// cannot be written safely.
func goCommandOutput() *os.File {
	own, err := os.Stderr.Stat()
	if err != nil {
		return nil
	}
	var candidates []string
	if runtime.GOOS == "linux" {
		candidates = append(candidates, "/proc/"+strconv.Itoa(os.Getppid())+"/fd/2")
	}
	candidates = append(candidates, "/dev/tty")
	for _, name := range candidates {
		info, err := os.Stat(name)
		if err != nil {
			continue
		}
		if os.SameFile(info, own) {
			return nil // the line is shown already
		}
		if info.Mode().IsRegular() && !appending(name) {
			continue
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			continue
		}
		return f
	}
	return nil
}

// appending reports whether /proc/PID/fd/N was opened with O_APPEND, as its
// fdinfo's octal flags say.
func appending(fdPath string) bool {
	b, err := os.ReadFile(strings.Replace(fdPath, "/fd/", "/fdinfo/", 1))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return err == nil && flags&syscall.O_APPEND != 0
		}
	}
	return false
}
