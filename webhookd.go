// Package webhookd holds the domain of the webhook delivery service: the
// resources (projects, API keys, webhooks, events, deliveries, attempts,
// long-running operations), their validation, the rules of publishing
// (routing, idempotency: Route, Planner), the error codes shared by every
// layer, and the Store interface that the storage adapters implement.
//
// It depends on nothing but the standard library, so that every other package
// (api, delivery, sqlite, postgres, lro, …) can depend on it without cycles.
// The path of data through the service is:
//
//	API request, job step ─► Store (one transaction: resource change + event + deliveries, as a Planner planned them)
//	   ├─► deliveries the engine of the process takes: handed over after the commit (internal/handoff)
//	   └─► the rest: the Store wakes the engines after the commit; they claim the due ones
//	        ─► signer ─► HTTP ─► receiver
package webhookd

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
	"time"
)

// Version is the release of webhookd; it is sent in the User-Agent of every
// delivery. It is a variable so that the build can stamp it (-ldflags -X).
var Version = "0.1.0-dev"

// Commit is the source revision the binary was built from, stamped by
// make dist (-ldflags -X). Left empty, `webhookd version` falls back to the
// revision the go command recorded, if any.
var Commit = ""

// Clock tells the time. It is injected wherever time matters so that retry,
// rotation and expiry logic can be tested with a fake clock instead of sleeps.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns the current time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// idEncoding is lower-case base32 without padding: ids stay URL-safe, need no
// escaping in paths and survive case-insensitive systems.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns prefix followed by 26 random characters (130 bits).
func NewID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return prefix + idEncoding.EncodeToString(b[:])
}

// ID prefixes, so that an id tells what it names in logs and support tickets.
const (
	PrefixProject   = "prj_"
	PrefixAPIKey    = "key_"
	PrefixWebhook   = "wh_"
	PrefixSecret    = "sec_"
	PrefixEvent     = "msg_" // Standard Webhooks uses msg_ for webhook-id values
	PrefixDelivery  = "dlv_"
	PrefixAttempt   = "att_"
	PrefixOperation = ""
)

// Project is the tenant: every other resource belongs to exactly one project
// and is visible only through that project's API keys.
type Project struct {
	ID   string
	Name string
	// Audience, when set, is the `aud` claim of dynamic (JWT-signed)
	// deliveries of this project; when empty the destination URI is used.
	Audience   string
	CreateTime time.Time
}

// DefaultProjectName is the project created on first start.
const DefaultProjectName = "default"

// APIKey authenticates API calls for one project. Only the SHA-256 hash of the
// key is stored; the key itself is shown once, when it is created.
type APIKey struct {
	ID        string
	ProjectID string
	Name      string
	// Hash is the SHA-256 of the full key.
	Hash []byte
	// Prefix is the start of the key (see APIKeyVisiblePrefix), kept to
	// tell keys apart in listings without storing the key.
	Prefix     string
	CreateTime time.Time
	RevokeTime *time.Time
}

// Page asks for one page of a listing. After is the position of the last item
// of the previous page; the zero Cursor asks for the first page.
type Page struct {
	Size  int
	After Cursor
}

// Cursor is a position in a listing ordered by (Time, ID).
type Cursor struct {
	Time time.Time
	ID   string
}

// IsZero reports whether c is the start of the listing.
func (c Cursor) IsZero() bool { return c.ID == "" && c.Time.IsZero() }

// trimLower is used by enum parsers that accept both the SDK's lower-case
// spelling and the source document's upper-case one.
func trimLower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
