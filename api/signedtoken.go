package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// signedToken makes and reads small tamper-evident tokens: the JSON of a
// value and an HMAC-SHA256 tag, both base64url, joined by a dot. Each use
// (sessions, portal links) has its own key derived from the master key, so
// a token of one is never accepted as the other. Nothing in one is secret
// from its holder; the tag only makes it unforgeable.
type signedToken struct {
	key []byte
}

// maxSignedTokenLen bounds what decode looks at; real tokens are short.
const maxSignedTokenLen = 2048

func (t signedToken) encode(v any) string {
	body, err := json.Marshal(v)
	if err != nil {
		panic("api: signed token of an unmarshalable value: " + err.Error())
	}
	b := base64.RawURLEncoding.EncodeToString(body)
	return b + "." + base64.RawURLEncoding.EncodeToString(t.tag(b))
}

// decode reads a token made by encode into v; it reports false for
// anything else.
func (t signedToken) decode(token string, v any) bool {
	if len(token) > maxSignedTokenLen {
		return false
	}
	b, tag, ok := strings.Cut(token, ".")
	if !ok {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(tag)
	if err != nil || !hmac.Equal(got, t.tag(b)) {
		return false
	}
	body, err := base64.RawURLEncoding.DecodeString(b)
	return err == nil && json.Unmarshal(body, v) == nil
}

func (t signedToken) tag(body string) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(body))
	return m.Sum(nil)
}
