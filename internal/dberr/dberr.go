// Package dberr turns a store's database errors into domain errors, the same
// way for every store: a store only tells which Kind of failure its driver
// reported.
package dberr

import (
	"errors"
	"fmt"

	"github.com/webhookd/webhookd"
)

// Kind is what a database error means to the caller.
type Kind int

// Kinds of database errors.
const (
	Other       Kind = iota // the store's own failure: an internal error
	NoRows                  // the row looked for does not exist
	Unique                  // a unique key is taken
	ForeignKey              // a row referred to does not exist
	BadText                 // text the database cannot store (PostgreSQL: NUL, invalid UTF-8)
	Unavailable             // the database cannot be reached for now: restarting, failing over, refusing connections
)

// errUnavailable is what a caller is told while the database cannot be
// reached: a 503 UNAVAILABLE at the API, which clients and the SDKs retry.
var errUnavailable = &webhookd.Error{Code: webhookd.EUNAVAILABLE, Message: "The service is temporarily unavailable; try again."}

// unavailableError is an Unavailable database error: the domain's
// EUNAVAILABLE error to callers (errors.As finds it), and the driver's error
// for the log and for errors.Is.
type unavailableError struct {
	msg string
	err error
}

func (e *unavailableError) Error() string   { return e.msg }
func (e *unavailableError) Unwrap() []error { return []error{errUnavailable, e.err} }

// Map returns err, of kind, as the domain error of a call op on resource
// of the store backend: no rows is resource not found, a unique key taken a
// conflict, text the database refuses invalid input (it is the caller's),
// an unreachable database unavailable (its message keeps the cause, for the
// log); a domain error passes as it is, and anything else is wrapped with
// the backend and op, for the log. A nil err is nil.
func Map(backend string, err error, kind Kind, op, resource string) error {
	var domainErr *webhookd.Error
	switch {
	case err == nil:
		return nil
	case kind == NoRows:
		return webhookd.NotFound(resource)
	case kind == Unique:
		return webhookd.Errorf(webhookd.ECONFLICT, "%s already exists.", resource)
	case kind == BadText:
		return webhookd.Errorf(webhookd.EINVALID, "Text fields must be valid UTF-8 without NUL characters.")
	case errors.As(err, &domainErr):
		return err // an unavailableError mapped already is one too
	case kind == Unavailable:
		return &unavailableError{msg: fmt.Sprintf("%s: %s: database unavailable: %v", backend, op, err), err: err}
	}
	return fmt.Errorf("%s: %s: %w", backend, op, err)
}

// MapCreate is Map for the insert of a project's resource, whose only
// reference is its project: a foreign key violation means the project is
// not found.
func MapCreate(backend string, err error, kind Kind, op, resource string) error {
	if kind == ForeignKey {
		return webhookd.NotFound("Project")
	}
	return Map(backend, err, kind, op, resource)
}
