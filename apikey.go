package webhookd

import (
	"crypto/rand"
	"crypto/sha256"
)

// APIKeyPrefix starts every key webhookd issues, so that secret scanners and
// people can recognise one.
const APIKeyPrefix = "whd_"

// GenerateAPIKey returns a new API key (160 random bits) and the record to
// store for it: only the hash and a short prefix, never the key itself.
func GenerateAPIKey(projectID, name string, now Clock) (key string, rec *APIKey) {
	var b [20]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	key = APIKeyPrefix + idEncoding.EncodeToString(b[:])
	return key, NewAPIKeyRecord(projectID, name, key, now)
}

// NewAPIKeyRecord returns the record to store for a key chosen elsewhere (the
// WEBHOOKD_API_KEY of scripts and tests).
func NewAPIKeyRecord(projectID, name, key string, now Clock) *APIKey {
	prefix := key
	if len(prefix) > 8 {
		prefix = prefix[:8]
	}
	return &APIKey{
		ID:         NewID(PrefixAPIKey),
		ProjectID:  projectID,
		Name:       name,
		Hash:       HashAPIKey(key),
		Prefix:     prefix,
		CreateTime: now.Now(),
	}
}

// HashAPIKey is how keys are stored and looked up: SHA-256 of the key. Keys
// are long random strings, so a fast unsalted hash is enough.
func HashAPIKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}
