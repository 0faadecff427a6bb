package sqlite

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"time"
)

// sortableEncoding is base32 with its alphabet in ASCII order, so that the
// encoded strings sort as their bytes do. Its characters are the same set
// as webhookd.NewID's (lower-case letters and the digits 2–7).
var sortableEncoding = base32.NewEncoding("234567abcdefghijklmnopqrstuvwxyz").WithPadding(base32.NoPadding)

// newSortableID returns prefix followed by 26 characters: 48 bits of Unix
// milliseconds, then 80 random bits. It is used for the rows the hot path
// inserts (events, deliveries, attempts): with a random id every insert
// dirties a random leaf page of the primary-key index, and every dirty page
// is one more frame written to the WAL on commit; ids that grow with time
// land on the same few pages. 80 random bits keep ids unguessable enough
// for what they are (names, not credentials) and collisions out of reach.
func newSortableID(prefix string, t time.Time) string {
	var b [16]byte
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(t.UnixMilli()))
	copy(b[:6], ms[2:])
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails on supported platforms
	return prefix + sortableEncoding.EncodeToString(b[:])
}
