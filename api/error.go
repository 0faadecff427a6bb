package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/webhookd/webhookd"
)

// status is an HTTP status with its Google canonical code.
type status struct {
	http      int
	canonical string
}

// statusOf maps a domain error code to the status the API answers with. It is
// the only place in the service that makes this mapping.
//
// ETOOLARGE answers 400, not 413: SPEC §2 asks for oversized bodies to be a
// 400 INVALID_ARGUMENT like every other bad input, and SDK callers then get the
// same BadRequestError for every input mistake.
func statusOf(code string) status {
	switch code {
	case webhookd.EINVALID, webhookd.ETOOLARGE:
		return status{http.StatusBadRequest, "INVALID_ARGUMENT"}
	case webhookd.EUNAUTHENTICATED:
		return status{http.StatusUnauthorized, "UNAUTHENTICATED"}
	case webhookd.EPERMISSION:
		return status{http.StatusForbidden, "PERMISSION_DENIED"}
	case webhookd.ENOTFOUND:
		return status{http.StatusNotFound, "NOT_FOUND"}
	case webhookd.ECONFLICT:
		return status{http.StatusConflict, "ALREADY_EXISTS"}
	case webhookd.EPRECONDITION:
		return status{http.StatusBadRequest, "FAILED_PRECONDITION"}
	case webhookd.EEXHAUSTED:
		return status{http.StatusTooManyRequests, "RESOURCE_EXHAUSTED"}
	case webhookd.ENOTIMPLEMENTED:
		return status{http.StatusNotImplemented, "UNIMPLEMENTED"}
	case webhookd.EUNAVAILABLE:
		return status{http.StatusServiceUnavailable, "UNAVAILABLE"}
	default:
		return status{http.StatusInternalServerError, "INTERNAL"}
	}
}

// errorBody is the Google error format that both SDK stacks parse.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

// writeError answers err in the Google error format. Internal errors are
// logged with their cause and answered with a generic message: their text may
// name tables, files or hosts that are none of the caller's business.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := webhookd.ErrorCode(err)
	st := statusOf(code)
	if code == webhookd.EUNAVAILABLE {
		// The store cannot be reached for now (a restart, a failover):
		// logged once per outage, and the client told when to try again.
		s.unavailable.Failed(r.Context(), err)
		w.Header().Set("Retry-After", retryAfter)
		writeStatus(w, st, webhookd.ErrorMessage(err))
		return
	}
	if st.http >= 500 {
		level := slog.LevelError
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			level = slog.LevelDebug // the client went away; nothing is wrong here
		}
		s.log.LogAttrs(r.Context(), level, "api request failed",
			slog.String("method", r.Method), slog.String("route", routeOf(r)), slog.Any("err", err))
	}
	writeStatus(w, st, webhookd.ErrorMessage(err))
}

// retryAfter is the Retry-After of a 503 UNAVAILABLE, in seconds: a
// database restart or failover is over in seconds, and clients back off
// further on their own when it is not.
const retryAfter = "1"

// writeStatus writes an error body for st with msg.
func writeStatus(w http.ResponseWriter, st status, msg string) {
	writeJSON(w, st.http, errorBody{Error: errorDetail{Code: st.http, Message: msg, Status: st.canonical}})
}

// writeJSON writes v as the JSON body of a response with code. Every
// response, success or error, carries a JSON body: the NextGen SDK fails on an
// empty one and on any other content type.
func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // URIs with & stay readable; the body is never HTML
	if err := enc.Encode(v); err != nil {
		// Only a programming error (an unmarshalable type) gets here.
		code = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"code":500,"message":"Internal error.","status":"INTERNAL"}}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("X-Content-Type-Options", "nosniff")
	// Responses may carry signing secrets; no cache may keep them.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}
