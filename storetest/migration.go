package storetest

import (
	"bytes"
	"testing"

	"github.com/webhookd/webhookd"
)

// RequireFileContents fails t unless each file of want (by id, in project
// projectID) holds its content in st: what a store's test of a migration
// that moves file content checks once the store has migrated.
func RequireFileContents(t *testing.T, st webhookd.OperationStore, projectID string, want map[string][]byte) {
	t.Helper()
	for id, content := range want {
		got, err := webhookd.ReadFileContent(t.Context(), st, projectID, id)
		if err != nil || !bytes.Equal(got, content) {
			t.Errorf("%s after the migration: %q, %v; want %q", id, got, err, content)
		}
	}
}
