package api

import (
	"sync"
	"time"

	"github.com/webhookd/webhookd"
)

// KeyCacheTTL is how long a server goes on accepting an API key it has
// seen, without asking the store again. Keys are revoked with `webhookd
// keys revoke`, often from another process, which no server can hear of:
// revocation takes effect on running servers within this time.
const KeyCacheTTL = 5 * time.Second

// keyCacheSize bounds the keys remembered at once.
const keyCacheSize = 4096

// keyCache remembers recently found API keys by hash, so that a stream of
// requests with one key costs one store lookup every KeyCacheTTL instead of
// one per request — a read transaction and a query, about a tenth of the
// CPU of a publish measured by `webhookd bench`. Only keys that were found
// are kept: an unknown key always reaches the store (and cannot fill the
// cache).
type keyCache struct {
	mu sync.Mutex
	m  map[string]keyCacheEntry
}

type keyCacheEntry struct {
	key   *webhookd.APIKey
	until time.Time
}

// get returns the key cached for hash, or nil if none is or it has expired.
func (c *keyCache) get(hash []byte, now time.Time) *webhookd.APIKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[string(hash)]
	if !ok || !now.Before(e.until) {
		return nil
	}
	return e.key
}

// put remembers k for KeyCacheTTL from now. When the cache is full it first
// drops expired entries, then, if it must, arbitrary ones.
func (c *keyCache) put(hash []byte, k *webhookd.APIKey, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]keyCacheEntry)
	}
	if len(c.m) >= keyCacheSize {
		for h, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, h)
			}
		}
		for h := range c.m {
			if len(c.m) < keyCacheSize {
				break
			}
			delete(c.m, h)
		}
	}
	c.m[string(hash)] = keyCacheEntry{key: k, until: now.Add(KeyCacheTTL)}
}
