package receiver

// SetMaxIDs lets tests reach the eviction bound without a million ids.
func (f *MemoryFilter) SetMaxIDs(n int) { f.max = n }

// Internal parsers exposed to the fuzz tests.
var (
	ParseSignatureList = parseSignatureList
	ParseJWKS          = parseJWKS
	CacheMaxAge        = cacheMaxAge
)
