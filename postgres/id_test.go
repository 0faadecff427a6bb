package postgres

import (
	"strings"
	"testing"
	"time"
)

func TestSortableIDOrder(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		earlier, now time.Time
	}{
		{"one millisecond", t0, t0.Add(time.Millisecond)},
		{"one day", t0, t0.Add(24 * time.Hour)},
		{"across a byte boundary", time.UnixMilli(0xff), time.UnixMilli(0x100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := newSortableID("dlv_", tt.earlier), newSortableID("dlv_", tt.now)
			if a >= b {
				t.Errorf("id at %v = %s, not before id at %v = %s", tt.earlier, a, tt.now, b)
			}
			if len(b) != len("dlv_")+26 || strings.Trim(b[4:], "234567abcdefghijklmnopqrstuvwxyz") != "" {
				t.Errorf("id %q is not the prefix and 26 characters of webhookd.NewID's alphabet", b)
			}
		})
	}
	if a, b := newSortableID("", t0), newSortableID("", t0); a == b {
		t.Errorf("two ids in the same millisecond are equal: %s", a)
	}
}
