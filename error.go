package webhookd

import (
	"errors"
	"fmt"
)

// Error codes shared by every layer. They are mapped to HTTP statuses and
// Google canonical codes only at the API edge (package api).
const (
	EINVALID         = "invalid"         // 400 INVALID_ARGUMENT
	EUNAUTHENTICATED = "unauthenticated" // 401 UNAUTHENTICATED
	EPERMISSION      = "permission"      // 403 PERMISSION_DENIED
	ENOTFOUND        = "not_found"       // 404 NOT_FOUND
	ECONFLICT        = "conflict"        // 409 ALREADY_EXISTS / ABORTED
	EPRECONDITION    = "precondition"    // 400 FAILED_PRECONDITION
	ETOOLARGE        = "too_large"       // 400 INVALID_ARGUMENT (SPEC §2: oversized bodies are a 400)
	ENOTIMPLEMENTED  = "not_implemented" // 501 UNIMPLEMENTED
	EEXHAUSTED       = "exhausted"       // 429 RESOURCE_EXHAUSTED
	EUNAVAILABLE     = "unavailable"     // 503 UNAVAILABLE
	EINTERNAL        = "internal"        // 500 INTERNAL
)

// Error is a domain error: a code the API maps to a status, and a message
// meant for the API caller. Field names the offending input field, if any.
type Error struct {
	Code    string
	Message string
	Field   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("webhookd error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an EINVALID *Error that names field.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the *Error in err's chain, EINTERNAL for any
// other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the caller-facing message of err: the message of the
// *Error in its chain, or a generic text for internal errors (whose details
// belong in the log, not in a response).
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return "Internal error."
	}
}

// ElementError returns err as the error of element i of list (such as
// "events"), so that the caller of a call on many items learns which one
// failed. An *Error keeps its code, and its field and message are prefixed
// with "list[i]" (Field "data" becomes "events[2].data"); any other error is
// wrapped.
func ElementError(list string, i int, err error) error {
	elem := fmt.Sprintf("%s[%d]", list, i)
	var e *Error
	if !errors.As(err, &e) {
		return fmt.Errorf("%s: %w", elem, err)
	}
	field := elem
	if e.Field != "" {
		field += "." + e.Field
	}
	return &Error{Code: e.Code, Field: field, Message: elem + ": " + e.Message}
}

// ErrNotFound is returned by stores when a row does not exist (or belongs to
// another project: the two are indistinguishable on purpose).
var ErrNotFound = &Error{Code: ENOTFOUND, Message: "not found"}

// NotFound returns an ENOTFOUND error naming the resource, e.g. "Webhook not found".
func NotFound(resource string) *Error {
	return &Error{Code: ENOTFOUND, Message: resource + " not found"}
}
