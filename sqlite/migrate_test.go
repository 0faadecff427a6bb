package sqlite

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestMigrationsRecorded checks that Open applies every embedded migration
// once, in order, and records each in schema_migrations; a second Open of
// the same file applies none.
func TestMigrationsRecorded(t *testing.T) {
	t.Parallel()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for i, m := range ms {
		if m.version != i+1 {
			t.Errorf("migration %s has version %d, want %d (no gaps)", m.name, m.version, i+1)
		}
		want = append(want, m.version)
	}

	path := filepath.Join(t.TempDir(), "m.db")
	for range 2 {
		s, err := Open(t.Context(), path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := s.reader.QueryContext(t.Context(), `SELECT version FROM schema_migrations ORDER BY apply_time, version`)
		if err != nil {
			t.Fatal(err)
		}
		got, err := collect(rows, func(sc scanner) (int, error) {
			var v int
			return v, sc.Scan(&v)
		}, "versions")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("schema_migrations = %v, want %v", got, want)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
