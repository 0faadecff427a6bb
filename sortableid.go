package webhookd

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"time"
)

// sortableEncoding is base32 with its alphabet in ASCII order, so that the
// encoded strings sort as their bytes do. Its characters are the same set
// as NewID's (lower-case letters and the digits 2–7).
var sortableEncoding = base32.NewEncoding("234567abcdefghijklmnopqrstuvwxyz").WithPadding(base32.NoPadding)

// NewSortableID returns prefix followed by 26 characters: 48 bits of Unix
// milliseconds, then 80 random bits. The stores use it for the rows the hot
// path inserts (events, deliveries, attempts): a random key puts each insert
// on a random leaf page of the primary-key index, which the commit must then
// write out; keys that grow with time share the rightmost pages. 80 random
// bits keep ids unguessable enough for names (not credentials) and
// collisions out of reach.
func NewSortableID(prefix string, t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails on supported platforms
	return prefix + sortableEncoding.EncodeToString(b[:])
}
