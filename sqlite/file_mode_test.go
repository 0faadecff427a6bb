package sqlite_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/sqlite"
)

// TestDatabaseFilesAreOwnerOnly: the database file, its WAL and its shared
// memory file are created 0600, whatever the umask lets through.
func TestDatabaseFilesAreOwnerOnly(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "w.db")
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := &webhookd.Project{ID: "prj_mode", Name: "mode", CreateTime: time.Now()}
	if err := s.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(f), perm)
		}
	}
}

// TestOpenRestrictsAnOlderFile: a file that an earlier version created
// readable by everyone loses the other users' permissions on open.
func TestOpenRestrictsAnOlderFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // past the umask
		t.Fatal(err)
	}
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o640 {
		t.Fatalf("mode %v after open, want 0640 (the group's permissions are the operator's choice)", perm)
	}
}

// TestOpenMustExist: with MustExist a missing file is an error naming it,
// and nothing is created.
func TestOpenMustExist(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "missing.db")
	_, err := sqlite.Open(t.Context(), path, sqlite.Options{MustExist: true})
	if !errors.Is(err, sqlite.ErrNoDatabase) {
		t.Fatalf("Open of a missing file with MustExist: %v, want ErrNoDatabase", err)
	}
	if _, statErr := os.Stat(path); !errors.Is(statErr, fs.ErrNotExist) {
		t.Fatalf("Open created %s: %v", path, statErr)
	}
}
