package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/postgres"
	"github.com/webhookd/webhookd/sqlite"
)

// backend is a store adapter as the command uses it: the domain Store plus
// the health check.
type backend interface {
	webhookd.Store
	Ping(ctx context.Context) error
}

// openStore opens (and migrates) the database WEBHOOKD_DB names. Without
// create, a SQLite file that does not exist is an error naming it: only
// serve and migrate make a new database.
func openStore(ctx context.Context, db string, create bool, clock webhookd.Clock, logger *slog.Logger) (backend, error) {
	return openStoreFiltering(ctx, db, create, clock, logger, nil)
}

// openStoreFiltering is openStore with the compiler of webhooks' filters
// that routing uses (nil: the store's own, without metrics).
func openStoreFiltering(ctx context.Context, db string, create bool, clock webhookd.Clock, logger *slog.Logger, filters webhookd.FilterCompiler) (backend, error) {
	kind, loc, err := parseDB(db)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "sqlite":
		s, err := sqlite.Open(ctx, loc, sqlite.Options{Clock: clock, Logger: logger, MustExist: !create, Filters: filters})
		if errors.Is(err, sqlite.ErrNoDatabase) {
			abs, _ := filepath.Abs(loc)
			return nil, fmt.Errorf("no database at %s (from %s, set by --db or WEBHOOKD_DB): run this command where the server keeps its database, "+
				"or point --db at it; webhookd serve and webhookd migrate create a new one", abs, db)
		}
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", loc, err)
		}
		return s, nil
	default:
		s, err := postgres.Open(ctx, loc, postgres.Options{Clock: clock, Logger: logger, Filters: filters})
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		return s, nil
	}
}

// bootstrap makes sure the default project exists. With apiKey set it makes
// sure that key authenticates for the default project (for scripts and
// tests); otherwise, when it had to create the project, it creates one API
// key and prints it once.
func bootstrap(ctx context.Context, st webhookd.Store, apiKey string, clock webhookd.Clock, stdout io.Writer, logger *slog.Logger) error {
	p, err := st.FindProjectByName(ctx, webhookd.DefaultProjectName)
	created := false
	switch {
	case webhookd.ErrorCode(err) == webhookd.ENOTFOUND:
		p = &webhookd.Project{ID: webhookd.NewID(webhookd.PrefixProject), Name: webhookd.DefaultProjectName, CreateTime: clock.Now()}
		if err := st.CreateProject(ctx, p); err != nil {
			return fmt.Errorf("create default project: %w", err)
		}
		created = true
		logger.Info("created the default project", "project", p.ID)
	case err != nil:
		return fmt.Errorf("find default project: %w", err)
	}

	if apiKey != "" {
		_, err := st.FindAPIKey(ctx, webhookd.HashAPIKey(apiKey))
		switch {
		case err == nil:
			return nil
		case webhookd.ErrorCode(err) != webhookd.ENOTFOUND:
			return fmt.Errorf("look up WEBHOOKD_API_KEY: %w", err)
		}
		if err := st.CreateAPIKey(ctx, webhookd.NewAPIKeyRecord(p.ID, "WEBHOOKD_API_KEY", apiKey, clock)); err != nil {
			return fmt.Errorf("store WEBHOOKD_API_KEY: %w", err)
		}
		logger.Info("registered WEBHOOKD_API_KEY for the default project", "project", p.ID)
		return nil
	}
	if !created {
		return nil
	}
	key, rec := webhookd.GenerateAPIKey(p.ID, "first-start", clock)
	if err := st.CreateAPIKey(ctx, rec); err != nil {
		return fmt.Errorf("create first API key: %w", err)
	}
	fmt.Fprintf(stdout, "Created project %q (%s). Its API key, shown only this once:\n\n    %s\n\nUse it as the x-goog-api-key header. More keys: webhookd keys create --project default\n\n", p.Name, p.ID, key)
	return nil
}

// findProject resolves a project given by id or by name.
func findProject(ctx context.Context, st webhookd.Store, ref string) (*webhookd.Project, error) {
	if ref == "" {
		return nil, fmt.Errorf("%w: --project is required", errUsage)
	}
	p, err := webhookd.FindProject(ctx, st, ref)
	if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
		return nil, fmt.Errorf("no project with id or name %q", ref)
	}
	return p, err
}
