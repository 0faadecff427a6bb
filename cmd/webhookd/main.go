// Command webhookd is the webhook delivery service and its tools: the server
// (serve), schema migrations (migrate), project and API key administration
// (projects, keys), a verifying receiver for local development (receive), and
// the version. It only wires packages together; the logic lives in them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/bench"
)

const usage = `webhookd — webhook delivery service

Usage:
  webhookd serve [flags]                 run the API and the delivery engine
  webhookd migrate [--db DB]             apply database migrations and exit
  webhookd projects create NAME [--audience AUD]
  webhookd projects list
  webhookd projects update ID|NAME --audience AUD
  webhookd keys create --project ID|NAME [--name NAME]
  webhookd keys list --project ID|NAME
  webhookd keys revoke --project ID|NAME KEY_ID
  webhookd portal-link --project ID|NAME [--role view|manage_webhooks] [--ttl 1h]
  webhookd receive --addr ADDR [--secret whsec_…]… [--jwks-url URL --audience AUD]
  webhookd bench [--scenario hmac|rs256|failing|hang] [flags]   measure delivery against the raw limit
  webhookd version

Configuration is read from WEBHOOKD_* environment variables; flags override
them. Run "webhookd serve -h" for the server's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "webhookd:", err)
		}
		os.Exit(exitCode(err))
	}
}

// errUsage marks command-line mistakes, which exit with status 2.
var errUsage = errors.New("usage")

// exitCode is the status err exits with: 0 after a -h that printed the help
// asked for (as webhookd -h), 2 for a usage error, 1 for anything else.
func exitCode(err error) int {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage), errors.Is(err, bench.ErrUsage):
		return 2
	}
	return 1
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, stdout, stderr)
	case "projects":
		return runProjects(ctx, rest, stdout, stderr)
	case "keys":
		return runKeys(ctx, rest, stdout, stderr)
	case "portal-link":
		return runPortalLink(ctx, rest, stdout, stderr)
	case "receive":
		return runReceive(ctx, rest, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		info, _ := debug.ReadBuildInfo()
		fmt.Fprintln(stdout, versionLine(webhookd.Version, webhookd.Commit, info))
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}

// versionLine is what `webhookd version` prints: the version, the commit
// (stamped, or else the one the go command recorded when it built from a
// checkout, marked -dirty if the tree had changes) and the platform.
func versionLine(version, commit string, info *debug.BuildInfo) string {
	if commit == "" && info != nil {
		var modified bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if commit != "" && modified {
			commit += "-dirty"
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	return fmt.Sprintf("webhookd %s (commit %s, %s, %s/%s)", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
