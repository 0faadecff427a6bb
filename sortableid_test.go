package webhookd_test

import (
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

func TestSortableIDOrdersByTime(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	prev := webhookd.NewSortableID(webhookd.PrefixDelivery, t0)
	for _, d := range []time.Duration{time.Millisecond, time.Second, time.Hour, 24 * 365 * time.Hour} {
		next := webhookd.NewSortableID(webhookd.PrefixDelivery, t0.Add(d))
		if next <= prev {
			t.Errorf("id at +%v = %s, not after %s", d, next, prev)
		}
		prev = next
	}
	if a, b := webhookd.NewSortableID("x_", t0), webhookd.NewSortableID("x_", t0); a == b {
		t.Errorf("two ids of the same millisecond are equal: %s", a)
	}
	id := webhookd.NewSortableID(webhookd.PrefixEvent, t0)
	if !strings.HasPrefix(id, webhookd.PrefixEvent) || len(id) != len(webhookd.NewID(webhookd.PrefixEvent)) {
		t.Errorf("id %q: want prefix %q and the length of webhookd.NewID", id, webhookd.PrefixEvent)
	}
	if strings.Trim(strings.TrimPrefix(id, webhookd.PrefixEvent), "234567abcdefghijklmnopqrstuvwxyz") != "" {
		t.Errorf("id %q has characters outside webhookd.NewID's alphabet", id)
	}
}
