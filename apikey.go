package webhookd

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
	"unicode/utf8"
)

// APIKeyPrefix starts every key webhookd issues, so that secret scanners and
// people can recognise one.
const APIKeyPrefix = "whd_"

// MinAPIKeyLength is the shortest API key accepted, in characters: a key
// chosen by hand (WEBHOOKD_API_KEY) must be no easier to guess than about
// 100 random bits written in hex or base32. Generated keys have 36.
const MinAPIKeyLength = 20

// apiKeyVisibleChars is how many characters of a key, after APIKeyPrefix,
// its record keeps to tell keys apart in listings: few enough that what is
// stored says next to nothing about the key.
const apiKeyVisibleChars = 4

// ValidateAPIKey refuses a key shorter than MinAPIKeyLength.
func ValidateAPIKey(key string) error {
	if n := utf8.RuneCountInString(key); n < MinAPIKeyLength {
		return fmt.Errorf("an API key must be at least %d characters long, this one has %d; "+
			"use a key from `webhookd keys create`, or a long random value such as the output of `openssl rand -hex 20`",
			MinAPIKeyLength, n)
	}
	return nil
}

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
	return &APIKey{
		ID:         NewID(PrefixAPIKey),
		ProjectID:  projectID,
		Name:       name,
		Hash:       HashAPIKey(key),
		Prefix:     APIKeyVisiblePrefix(key),
		CreateTime: now.Now(),
	}
}

// APIKeyVisiblePrefix is the part of key that its record keeps: APIKeyPrefix
// and the 4 characters after it, or the first 4 characters of a key that
// webhookd did not generate. The stores' migrations cut the prefixes that
// earlier versions kept (8 characters, a whole short key) by the same rule.
func APIKeyVisiblePrefix(key string) string {
	keep := apiKeyVisibleChars
	if strings.HasPrefix(key, APIKeyPrefix) {
		keep += len(APIKeyPrefix)
	}
	for i := range key {
		if keep == 0 {
			return key[:i]
		}
		keep--
	}
	return key
}

// HashAPIKey is how keys are stored and looked up: SHA-256 of the key. Keys
// are long random strings, so a fast unsalted hash is enough.
func HashAPIKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}
