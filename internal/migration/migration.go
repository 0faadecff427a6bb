// Package migration reads the numbered SQL migrations a store embeds. Each
// store applies them in its own dialect and records them in its own
// schema_migrations table; what a migration file is, and in which order the
// files run, is decided here once.
package migration

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Migration is one numbered file, e.g. 0001_init.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Before returns the migrations of ms that come before the one called
// name (all of them when none is), to build a database of an earlier
// version in a test of a migration.
func Before(ms []Migration, name string) []Migration {
	for i, m := range ms {
		if m.Name == name {
			return ms[:i]
		}
	}
	return ms
}

// Load returns the migrations in dir of fsys in version order. A file is
// named NNNN_description.sql with a positive number; a badly named file or
// two files of one version are a build mistake, which every test run of the
// store catches.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration %q: name must be NNNN_description.sql, NNNN a positive number", name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migrations %q and %q share version %d", out[i-1].Name, out[i].Name, out[i].Version)
		}
	}
	return out, nil
}
