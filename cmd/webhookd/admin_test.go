package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/webhookd/webhookd"
)

// runCLI runs the command line with --db db last (flags may follow the
// positional arguments, as the usage shows them) and returns what it printed.
func runCLI(t *testing.T, db string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), append(args, "--db", db), &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestAdminCommands drives migrate, projects and keys against one SQLite
// file, and checks what they did through the store itself.
func TestAdminCommands(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "admin.db")

	out, _, err := runCLI(t, db, "migrate")
	if err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate: %q %v", out, err)
	}

	out, _, err = runCLI(t, db, "projects", "create", "acme", "--audience", "acme-client-id")
	if err != nil {
		t.Fatalf("projects create: %v", err)
	}
	id, name, _ := strings.Cut(strings.TrimSpace(out), "\t")
	if !strings.HasPrefix(id, webhookd.PrefixProject) || name != "acme" {
		t.Fatalf("projects create printed %q", out)
	}
	if _, _, err := runCLI(t, db, "projects", "create", "acme"); err == nil {
		t.Fatal("a second project named acme was created")
	}
	if _, _, err := runCLI(t, db, "projects", "update", "acme", "--audience", "other"); err != nil {
		t.Fatalf("projects update: %v", err)
	}
	out, _, err = runCLI(t, db, "projects", "list")
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "other") {
		t.Fatalf("projects list: %q %v", out, err)
	}

	key, _, err := runCLI(t, db, "keys", "create", "--project", "acme", "--name", "ci")
	if err != nil {
		t.Fatalf("keys create: %v", err)
	}
	key = strings.TrimSpace(key)
	if !strings.HasPrefix(key, webhookd.APIKeyPrefix) {
		t.Fatalf("keys create printed %q", key)
	}

	st := openTestStore(t, db)
	k, err := st.FindAPIKey(context.Background(), webhookd.HashAPIKey(key))
	if err != nil || k.ProjectID != id || k.Name != "ci" {
		t.Fatalf("the printed key does not authenticate for acme: %+v %v", k, err)
	}
	p, err := st.GetProject(context.Background(), id)
	if err != nil || p.Audience != "other" {
		t.Fatalf("project after update: %+v %v", p, err)
	}
	st.Close()

	out, _, err = runCLI(t, db, "keys", "list", "--project", id)
	if err != nil || !strings.Contains(out, k.ID) || strings.Contains(out, key) {
		t.Fatalf("keys list must name the key and never show it: %q %v", out, err)
	}
	if _, _, err := runCLI(t, db, "keys", "revoke", "--project", "acme", k.ID); err != nil {
		t.Fatalf("keys revoke: %v", err)
	}
	st = openTestStore(t, db)
	defer st.Close()
	if k, err := st.FindAPIKey(context.Background(), webhookd.HashAPIKey(key)); err == nil && k.RevokeTime == nil {
		t.Fatal("the revoked key still authenticates")
	}

	if _, _, err := runCLI(t, db, "keys", "create", "--project", "nope"); err == nil {
		t.Fatal("a key was created for an unknown project")
	}
}

// TestUsageErrors: a command-line mistake exits 2 and touches nothing: no
// database appears in the working directory.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, args := range [][]string{
		{}, {"frobnicate"}, {"projects"}, {"projects", "explode"}, {"projects", "create"},
		{"projects", "list", "extra"}, {"projects", "list", "--bogus"}, {"keys"}, {"keys", "explode"},
		{"keys", "revoke"}, {"migrate", "extra"},
	} {
		err := run(context.Background(), args, io.Discard, io.Discard)
		if !errors.Is(err, errUsage) || exitCode(err) != 2 {
			t.Errorf("webhookd %v: %v (exit %d), want a usage error (exit 2)", args, err, exitCode(err))
		}
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("usage errors left %v in the working directory", left)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "webhookd "+webhookd.Version) {
		t.Fatalf("version: %q %v", out.String(), err)
	}
}

// TestAdminNeedsAnExistingDatabase: the projects and keys commands refuse a
// database file that does not exist, name the file they looked for, and
// create nothing; migrate creates it.
func TestAdminNeedsAnExistingDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	for _, args := range [][]string{{"projects", "list"}, {"projects", "create", "acme"}, {"keys", "create"}, {"keys", "list", "--project", "default"}} {
		_, _, err := runCLI(t, "sqlite:"+path, args...)
		if err == nil || !strings.Contains(err.Error(), "no database at "+path) {
			t.Errorf("webhookd %v on a missing database: %v, want an error naming %s", args, err, path)
		}
		if _, statErr := os.Stat(path); !errors.Is(statErr, fs.ErrNotExist) {
			t.Fatalf("webhookd %v created %s", args, path)
		}
	}
	if _, _, err := runCLI(t, "sqlite:"+path, "migrate"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "sqlite:"+path, "projects", "list"); err != nil {
		t.Fatalf("projects list after migrate: %v", err)
	}
}

// TestBootstrap: the first start creates the default project and prints one
// key that authenticates; a second start prints nothing; WEBHOOKD_API_KEY is
// registered for the default project.
func TestBootstrap(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "boot.db")
	st := openTestStore(t, db)
	defer st.Close()
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	clock := webhookd.SystemClock{}

	var out bytes.Buffer
	if err := bootstrap(ctx, st, "", clock, &out, logger); err != nil {
		t.Fatal(err)
	}
	var key string
	for _, f := range strings.Fields(out.String()) {
		if strings.HasPrefix(f, webhookd.APIKeyPrefix) {
			key = f
		}
	}
	p, err := st.FindProjectByName(ctx, webhookd.DefaultProjectName)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := st.FindAPIKey(ctx, webhookd.HashAPIKey(key)); err != nil || k.ProjectID != p.ID {
		t.Fatalf("first start printed %q; its key: %+v %v", out.String(), k, err)
	}

	out.Reset()
	if err := bootstrap(ctx, st, "", clock, &out, logger); err != nil || out.Len() != 0 {
		t.Fatalf("second start printed %q (%v)", out.String(), err)
	}
	if err := bootstrap(ctx, st, "script-key-0123456789", clock, &out, logger); err != nil {
		t.Fatal(err)
	}
	if k, err := st.FindAPIKey(ctx, webhookd.HashAPIKey("script-key-0123456789")); err != nil || k.ProjectID != p.ID {
		t.Fatalf("WEBHOOKD_API_KEY: %+v %v", k, err)
	}
	if err := bootstrap(ctx, st, "script-key-0123456789", clock, &out, logger); err != nil {
		t.Fatalf("registering the same key again: %v", err)
	}
}

func openTestStore(t *testing.T, db string) backend {
	t.Helper()
	st, err := openStore(context.Background(), db, true, webhookd.SystemClock{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return st
}
