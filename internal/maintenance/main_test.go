package maintenance

import (
	"os"
	"testing"

	"github.com/webhookd/webhookd/internal/pgtest"
)

func TestMain(m *testing.M) {
	pgtest.AnnounceSkip("internal/maintenance")
	os.Exit(m.Run())
}
