package ddintake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// APIError is one item of the intake's error body, the HTTPLogError of the
// Datadog API schema.
type APIError struct {
	Status string `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

// ErrorBody is the intake's error body: {"errors":[...]}.
type ErrorBody struct {
	Errors []APIError `json:"errors"`
}

// rejection is a request the intake turns down, with the status and detail to
// answer with.
type rejection struct {
	status int
	detail string
}

// Error returns the status and the detail.
func (r *rejection) Error() string { return fmt.Sprintf("%d: %s", r.status, r.detail) }

// reject returns a rejection with a formatted detail.
func reject(status int, format string, args ...any) *rejection {
	return &rejection{status: status, detail: fmt.Sprintf(format, args...)}
}

// newAPIError returns the error item for status with detail.
func newAPIError(status int, detail string) APIError {
	return APIError{Status: strconv.Itoa(status), Title: http.StatusText(status), Detail: detail}
}

// writeErrors answers with status and an errors body holding errs.
func writeErrors(w http.ResponseWriter, status int, errs ...APIError) {
	writeJSON(w, status, ErrorBody{Errors: errs})
}

// writeError answers with status and an errors body holding one error.
func writeError(w http.ResponseWriter, status int, detail string) {
	writeErrors(w, status, newAPIError(status, detail))
}

// writeJSON answers with status and v encoded as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
