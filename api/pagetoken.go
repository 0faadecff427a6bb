package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"time"

	"github.com/webhookd/webhookd"
)

// pageTokens makes and checks the opaque page_token of listings. A token is
//
//	base64url( version | unix nanos (8 bytes) | id | tag (16 bytes) )
//
// where tag is HMAC-SHA256 over the collection name, the project id and
// everything before the tag, truncated to 128 bits. The tag makes a token
// tamper-evident and binds it to one project and one listing, so an edited
// token, or one replayed against another project's or collection's listing,
// is refused instead of being trusted as a position. Nothing in a token is
// secret: it holds the position of the last item of a page the caller saw.
type pageTokens struct {
	key []byte
}

const (
	pageTokenVersion = 1
	pageTokenTagSize = 16
	// pageTokenMaxLen bounds the tokens decode looks at; real ones are about
	// 80 characters.
	pageTokenMaxLen = 1024
)

// encode returns the token that continues collection of projectID after c.
func (p pageTokens) encode(collection, projectID string, c webhookd.Cursor) string {
	b := make([]byte, 0, 1+8+len(c.ID)+pageTokenTagSize)
	b = append(b, pageTokenVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Time.UnixNano()))
	b = append(b, c.ID...)
	b = append(b, p.tag(collection, projectID, b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decode returns the cursor of token, or an INVALID_ARGUMENT error naming
// page_token when the token was not made by encode for this collection and
// project.
func (p pageTokens) decode(collection, projectID, token string) (webhookd.Cursor, error) {
	invalid := webhookd.FieldErrorf("page_token", "page_token is invalid.")
	if len(token) > pageTokenMaxLen {
		return webhookd.Cursor{}, invalid
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	// The decoder skips newlines and ignores spare bits; a token must be
	// the one canonical encoding of its bytes, as encode made it.
	if err != nil || base64.RawURLEncoding.EncodeToString(b) != token ||
		len(b) < 1+8+pageTokenTagSize || b[0] != pageTokenVersion {
		return webhookd.Cursor{}, invalid
	}
	body, tag := b[:len(b)-pageTokenTagSize], b[len(b)-pageTokenTagSize:]
	if !hmac.Equal(tag, p.tag(collection, projectID, body)) {
		return webhookd.Cursor{}, invalid
	}
	nanos := int64(binary.BigEndian.Uint64(body[1:9]))
	return webhookd.Cursor{Time: time.Unix(0, nanos).UTC(), ID: string(body[9:])}, nil
}

// tag authenticates body for one collection of one project. Both names are
// length-prefixed so that no two (collection, project) pairs share an input.
func (p pageTokens) tag(collection, projectID string, body []byte) []byte {
	m := hmac.New(sha256.New, p.key)
	for _, s := range []string{collection, projectID} {
		m.Write([]byte(strconv.Itoa(len(s))))
		m.Write([]byte{':'})
		m.Write([]byte(s))
	}
	m.Write(body)
	return m.Sum(nil)[:pageTokenTagSize]
}
