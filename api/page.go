package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/webhookd/webhookd"
)

// queryParam returns a query parameter given in snake_case (what the NextGen
// SDK sends) or camelCase (what the legacy stack sends). Both spellings with
// different values is an error rather than a silent pick.
func queryParam(r *http.Request, snake string) (string, error) {
	q := r.URL.Query()
	v := q.Get(snake)
	if camel := camelCase(snake); camel != snake && q.Has(camel) {
		if q.Has(snake) && q.Get(camel) != v {
			return "", webhookd.FieldErrorf(snake, "%s is given twice with different values (as %s and %s).", snake, snake, camel)
		}
		v = q.Get(camel)
	}
	return v, nil
}

// camelCase is the inverse of snakeCase for the parameter names we define.
func camelCase(s string) string {
	var b strings.Builder
	upper := false
	for _, r := range s {
		switch {
		case r == '_':
			upper = true
		case upper && 'a' <= r && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
			upper = false
		default:
			b.WriteRune(r)
			upper = false
		}
	}
	return b.String()
}

// listing is one page request of a listing: what to ask the store for, and
// how to make the token of the page after it.
type listing struct {
	collection string
	projectID  string
	size       int
	after      webhookd.Cursor
}

// parseListing reads page_size and page_token. page_size defaults to
// DefaultPageSize and is clamped to MaxPageSize; the token must have been
// made for this collection of this project.
func (s *Server) parseListing(r *http.Request, collection string) (*listing, error) {
	l := &listing{collection: collection, projectID: projectOf(r), size: DefaultPageSize}
	size, err := queryParam(r, "page_size")
	if err != nil {
		return nil, err
	}
	if size != "" {
		n, err := strconv.Atoi(size)
		switch {
		case err != nil && strings.TrimLeft(size, "0123456789") == "":
			n = MaxPageSize // all digits, just too large for an int
		case err != nil:
			return nil, webhookd.FieldErrorf("page_size", "page_size must be an integer, got %q.", size)
		case n < 0:
			return nil, webhookd.FieldErrorf("page_size", "page_size must not be negative, got %d.", n)
		}
		if n > 0 {
			l.size = min(n, MaxPageSize)
		}
	}
	token, err := queryParam(r, "page_token")
	if err != nil {
		return nil, err
	}
	if token != "" {
		if l.after, err = s.tokens.decode(collection, l.projectID, token); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// page is what to ask the store for: one item more than the page, to learn
// whether another page follows without a count query.
func (l *listing) page() webhookd.Page {
	return webhookd.Page{Size: l.size + 1, After: l.after}
}

// trim cuts the one-extra item off a store result and returns the token of
// the next page, or "" when this page is the last.
func trim[T any](s *Server, l *listing, items []T, cursor func(T) webhookd.Cursor) ([]T, string) {
	if len(items) <= l.size {
		return items, ""
	}
	items = items[:l.size]
	return items, s.tokens.encode(l.collection, l.projectID, cursor(items[len(items)-1]))
}

// formatTime is the timestamp format of every response: RFC 3339 in UTC,
// with as many fractional digits as needed, as Google APIs write them, down
// to the microsecond both stores keep: a time answered before the store read
// it back (a create) reads as it will on every later answer.
func formatTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
}

// formatTimePtr formats an optional time; nil gives "" (omitted).
func formatTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return formatTime(*t)
}

// now is the API's current time, truncated to what both stores keep
// (microseconds), so that a resource answered on create is the same as the
// one answered by a later get.
func (s *Server) now() time.Time { return s.cfg.Clock.Now().UTC().Truncate(time.Microsecond) }
