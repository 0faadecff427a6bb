package postgres

import (
	"testing"

	"github.com/webhookd/webhookd"
)

// TestMigrationCutsAPIKeyPrefixes: the migration that cuts stored key
// prefixes leaves no more of a key than webhookd.APIKeyVisiblePrefix keeps,
// so that a short key that earlier versions stored whole is gone.
func TestMigrationCutsAPIKeyPrefixes(t *testing.T) {
	t.Parallel()
	s := openInternal(t, nil)
	ctx := t.Context()
	if _, err := s.pool.Exec(ctx, `INSERT INTO projects (id, name, create_time) VALUES ('p', 'p', now())`); err != nil {
		t.Fatal(err)
	}
	old := map[string]string{"key_a": "demo-key", "key_b": "whd_jorw", "key_c": "abc", "key_d": "sdk-suit"}
	for id, prefix := range old {
		if _, err := s.pool.Exec(ctx, `INSERT INTO api_keys (id, project_id, hash, prefix, create_time) VALUES ($1, 'p', $2, $3, now())`,
			id, []byte(id), prefix); err != nil {
			t.Fatal(err)
		}
	}
	// Apply the migration again, as to a database of an earlier version.
	if _, err := s.pool.Exec(ctx, `DELETE FROM schema_migrations WHERE name = '0004_api_key_prefix.sql'`); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Migrate(ctx); err != nil || n != 1 {
		t.Fatalf("Migrate applied %d migrations (%v), want 1", n, err)
	}
	for id, prefix := range old {
		var got string
		if err := s.pool.QueryRow(ctx, `SELECT prefix FROM api_keys WHERE id = $1`, id).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := webhookd.APIKeyVisiblePrefix(prefix); got != want {
			t.Errorf("prefix %q became %q, want %q", prefix, got, want)
		}
	}
}
