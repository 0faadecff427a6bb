package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/api"
)

// adminEnv is what every administrative command needs: the configured
// database, opened and migrated, and a quiet logger.
type adminEnv struct {
	cfg   Config
	store webhookd.Store
	clock webhookd.Clock
}

// openAdmin parses the common --db flag on fs and the command's own, checks
// the positional arguments with usage, and only then opens the store, so
// that a usage error touches nothing. Only migrate may create the database
// (create); the other commands refuse a database file that does not exist.
func openAdmin(ctx context.Context, fs *flag.FlagSet, args []string, stderr io.Writer, create bool, usage func(positional []string) error) (*adminEnv, []string, error) {
	cfg := defaultConfig()
	if err := cfg.fromEnv(); err != nil {
		return nil, nil, err
	}
	fs.StringVar(&cfg.DB, "db", cfg.DB, "database: sqlite:PATH or postgres://URL (WEBHOOKD_DB)")
	fs.SetOutput(stderr)
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if err := usage(positional); err != nil {
		return nil, nil, err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	clock := webhookd.SystemClock{}
	st, err := openStore(ctx, cfg.DB, create, clock, logger)
	if err != nil {
		return nil, nil, err
	}
	return &adminEnv{cfg: cfg, store: st, clock: clock}, positional, nil
}

// wantArgs is the usage check of a command that takes n positional
// arguments, as line shows them.
func wantArgs(n int, line string) func([]string) error {
	return func(positional []string) error {
		if len(positional) != n {
			return fmt.Errorf("%w: webhookd %s", errUsage, line)
		}
		return nil
	}
}

// parseInterspersed parses flags wherever they stand among the arguments, as
// the usage shows them after the positional ones ("projects create NAME
// --audience AUD"); the standard flag package stops at the first positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	env, _, err := openAdmin(ctx, fs, args, stderr, true, wantArgs(0, "migrate [--db DB]"))
	if err != nil {
		return err
	}
	defer env.store.Close()
	fmt.Fprintln(stdout, "database schema is up to date")
	return nil
}

// projectsUsage is the usage line of each projects command.
var projectsUsage = map[string]func([]string) error{
	"create": wantArgs(1, "projects create NAME [--audience AUD]"),
	"list":   wantArgs(0, "projects list"),
	"update": wantArgs(1, "projects update ID|NAME --audience AUD"),
}

func runProjects(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: projects create|list|update", errUsage)
	}
	sub := args[0]
	usage, ok := projectsUsage[sub]
	if !ok {
		return fmt.Errorf("%w: unknown projects command %q (create, list or update)", errUsage, sub)
	}
	fs := flag.NewFlagSet("projects "+sub, flag.ContinueOnError)
	audience := fs.String("audience", "", "JWT audience of this project's dynamic deliveries (default: the destination URI)")
	env, rest, err := openAdmin(ctx, fs, args[1:], stderr, false, usage)
	if err != nil {
		return err
	}
	defer env.store.Close()
	switch sub {
	case "create":
		if _, err := env.store.FindProjectByName(ctx, rest[0]); err == nil {
			return fmt.Errorf("a project named %q exists already", rest[0])
		}
		p := &webhookd.Project{ID: webhookd.NewID(webhookd.PrefixProject), Name: rest[0], Audience: *audience, CreateTime: env.clock.Now()}
		if err := env.store.CreateProject(ctx, p); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\t%s\n", p.ID, p.Name)
		return nil
	case "list":
		ps, err := env.store.ListProjects(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tAUDIENCE\tCREATED")
		for _, p := range ps {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.ID, p.Name, orDash(p.Audience), p.CreateTime.Format(time.RFC3339))
		}
		return tw.Flush()
	default: // update
		p, err := findProject(ctx, env.store, rest[0])
		if err != nil {
			return err
		}
		p.Audience = *audience
		if err := env.store.UpdateProject(ctx, p); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\t%s\taudience=%s\n", p.ID, p.Name, orDash(p.Audience))
		return nil
	}
}

// keysUsage is the usage line of each keys command.
var keysUsage = map[string]func([]string) error{
	"create": wantArgs(0, "keys create --project ID|NAME [--name NAME]"),
	"list":   wantArgs(0, "keys list --project ID|NAME"),
	"revoke": wantArgs(1, "keys revoke --project ID|NAME KEY_ID"),
}

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: keys create|list|revoke", errUsage)
	}
	sub := args[0]
	usage, ok := keysUsage[sub]
	if !ok {
		return fmt.Errorf("%w: unknown keys command %q (create, list or revoke)", errUsage, sub)
	}
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	project := fs.String("project", webhookd.DefaultProjectName, "project id or name")
	name := fs.String("name", "", "a label for the key")
	env, rest, err := openAdmin(ctx, fs, args[1:], stderr, false, usage)
	if err != nil {
		return err
	}
	defer env.store.Close()
	p, err := findProject(ctx, env.store, *project)
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		key, rec := webhookd.GenerateAPIKey(p.ID, *name, env.clock)
		if err := env.store.CreateAPIKey(ctx, rec); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "API key %s for project %s (shown only this once):\n", rec.ID, p.Name)
		fmt.Fprintln(stdout, key)
		return nil
	case "list":
		ks, err := env.store.ListAPIKeys(ctx, p.ID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tCREATED\tREVOKED")
		for _, k := range ks {
			revoked := "-"
			if k.RevokeTime != nil {
				revoked = k.RevokeTime.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\t%s\n", k.ID, orDash(k.Name), k.Prefix, k.CreateTime.Format(time.RFC3339), revoked)
		}
		return tw.Flush()
	default: // revoke
		if err := env.store.RevokeAPIKey(ctx, p.ID, rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s\n", rest[0])
		return nil
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// runPortalLink prints a portal link: a URL that opens the console for one
// project with one role until it expires. It is signed under the master
// key, so it needs the same WEBHOOKD_MASTER_KEY (or key file) as the
// servers, and its URL starts with WEBHOOKD_PUBLIC_URL.
func runPortalLink(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("portal-link", flag.ContinueOnError)
	project := fs.String("project", webhookd.DefaultProjectName, "project id or name")
	role := fs.String("role", api.RoleView, "view, or manage_webhooks")
	ttl := fs.Duration("ttl", api.DefaultPortalLinkTTL, "how long the link works")
	env, _, err := openAdmin(ctx, fs, args, stderr, false, wantArgs(0, "portal-link --project ID|NAME [--role view|manage_webhooks] [--ttl 1h]"))
	if err != nil {
		return err
	}
	defer env.store.Close()
	p, err := findProject(ctx, env.store, *project)
	if err != nil {
		return err
	}
	sealer, err := loadSealer(env.cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	link, err := api.NewPortalLinks(sealer).Create(publicURL(env.cfg)+env.cfg.PathPrefix+"/console/", p.ID, *role, *ttl, env.clock.Now())
	if err != nil {
		return fmt.Errorf("%w: %s", errUsage, webhookd.ErrorMessage(err))
	}
	fmt.Fprintf(stderr, "Portal link for project %s (%s), until %s:\n", p.Name, link.Role, link.ExpireTime.Format(time.RFC3339))
	fmt.Fprintln(stdout, link.URL)
	return nil
}
