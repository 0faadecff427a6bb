package receiver

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

const secretPrefix = "whsec_"

// parseSecret decodes a "whsec_…" secret (the prefix is optional, as in the
// official Standard Webhooks libraries).
func parseSecret(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(s), secretPrefix))
	if err != nil {
		return nil, fmt.Errorf("secret must be whsec_ followed by base64: %w", err)
	}
	if len(key) == 0 {
		return nil, errors.New("secret is empty")
	}
	return key, nil
}

// maxSignatures bounds how many entries a webhook-signature list may carry:
// a sender signs with one secret per live secret (two during a rotation).
const maxSignatures = 16

// parseSignatureList returns the v1 signatures of a Standard Webhooks
// webhook-signature header: space-separated "version,base64" entries.
// Entries of other versions (such as v1a, asymmetric) are skipped, as the
// specification asks; a v1 entry that is not base64 of 32 bytes can match
// nothing and is skipped too. It fails when the header has no entry at all
// that looks like "version,signature", when it has v1 entries and none of
// them is well formed (the sender's bug, which "no signature matches" would
// hide), or when it has too many entries.
func parseSignatureList(header string) ([][]byte, error) {
	entries := strings.Fields(header)
	if len(entries) == 0 {
		return nil, fmt.Errorf("%w: empty %s", ErrMalformedHeader, HeaderSignature)
	}
	if len(entries) > maxSignatures {
		return nil, fmt.Errorf("%w: %s lists %d signatures (at most %d)", ErrMalformedHeader, HeaderSignature, len(entries), maxSignatures)
	}
	var sigs [][]byte
	wellFormed, malformedV1 := false, 0
	for _, e := range entries {
		version, sig, ok := strings.Cut(e, ",")
		if !ok || version == "" || sig == "" {
			continue
		}
		wellFormed = true
		if version != "v1" {
			continue
		}
		// Strict: lenient decoding ignores the unused low bits of the last
		// character, so several spellings would verify as one signature.
		mac, err := base64.StdEncoding.Strict().DecodeString(sig)
		if err != nil || len(mac) != sha256.Size {
			malformedV1++
			continue
		}
		sigs = append(sigs, mac)
	}
	switch {
	case !wellFormed:
		return nil, fmt.Errorf("%w: %s is neither a Standard Webhooks signature list nor a JWT", ErrMalformedHeader, HeaderSignature)
	case len(sigs) == 0 && malformedV1 > 0:
		return nil, fmt.Errorf("%w: %s: the v1 signature is malformed (want the base64 of a 32-byte HMAC-SHA256)", ErrMalformedHeader, HeaderSignature)
	}
	return sigs, nil
}

// verifyHMAC checks a Standard Webhooks signature list. Every listed
// signature is compared with the expected MAC of every secret, in constant
// time and without stopping at the first match, so that timing tells an
// attacker nothing about which secret or which entry matched.
func (v *Verifier) verifyHMAC(header, id, timestamp string, body []byte) error {
	sigs, err := parseSignatureList(header)
	if err != nil {
		return err
	}
	if len(v.keys) == 0 {
		return fmt.Errorf("%w: HMAC signature received but no secret is configured", ErrBadSignature)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrBadSignature)
	}
	match := 0
	for _, key := range v.keys {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(timestamp))
		m.Write([]byte{'.'})
		m.Write(body)
		want := m.Sum(nil)
		for _, sig := range sigs {
			match |= subtle.ConstantTimeCompare(sig, want)
		}
	}
	if match != 1 {
		return fmt.Errorf("%w: no signature matches a configured secret", ErrBadSignature)
	}
	return nil
}

// looksLikeJWT tells a compact JWS (three base64url segments) from a
// Standard Webhooks list, whose entries always contain a comma.
func looksLikeJWT(s string) bool {
	return strings.Count(s, ".") == 2 && !strings.ContainsAny(s, ", ")
}
