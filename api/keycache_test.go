package api

import (
	"fmt"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

func TestKeyCache(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var c keyCache
	k := &webhookd.APIKey{ID: "k1"}
	h := webhookd.HashAPIKey("whd_one")
	if got := c.get(h, t0); got != nil {
		t.Fatalf("empty cache returned %v", got)
	}
	c.put(h, k, t0)
	for _, tt := range []struct {
		at   time.Duration
		want *webhookd.APIKey
	}{
		{0, k},
		{KeyCacheTTL - time.Nanosecond, k},
		{KeyCacheTTL, nil}, // expired: the store is asked again
	} {
		if got := c.get(h, t0.Add(tt.at)); got != tt.want {
			t.Errorf("get at +%v = %v, want %v", tt.at, got, tt.want)
		}
	}
	if got := c.get(webhookd.HashAPIKey("whd_other"), t0); got != nil {
		t.Errorf("another key's hash returned %v", got)
	}

	// The cache never holds more than keyCacheSize keys; expired ones go
	// first, so the key put last is always there.
	for i := range 2 * keyCacheSize {
		c.put(webhookd.HashAPIKey(fmt.Sprint("whd_", i)), k, t0.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(c.m); n > keyCacheSize {
		t.Errorf("cache holds %d keys, want at most %d", n, keyCacheSize)
	}
	last := t0.Add(time.Duration(2*keyCacheSize-1) * time.Millisecond)
	if got := c.get(webhookd.HashAPIKey(fmt.Sprint("whd_", 2*keyCacheSize-1)), last); got != k {
		t.Errorf("the key put last is missing")
	}
}
