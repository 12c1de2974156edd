package ddsink

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxDetail caps the intake's answer quoted in errors and dead letters.
const maxDetail = 1024

// answer is what the intake made of one request.
type answer struct {
	code   int // 0 when no answer came
	header http.Header
	body   []byte
	err    error // the client's error, nil on success
}

// accepted reports whether the intake took the request. Datadog answers
// 202; any 2xx is taken as delivered, even when its body did not decode.
func (a answer) accepted() bool { return a.code >= 200 && a.code < 300 }

// codeLabel is the metric label of the answer.
func (a answer) codeLabel() string {
	if a.code == 0 {
		return "error"
	}
	return strconv.Itoa(a.code)
}

// detail returns the intake's answer, cut to maxDetail bytes.
func (a answer) detail() string {
	s := strings.TrimSpace(string(a.body))
	if s == "" && a.err != nil {
		s = a.err.Error()
	}
	if len(s) > maxDetail {
		s = s[:maxDetail] + "..."
	}
	return s
}

// failure returns the error of an answer that did not deliver n logs.
func (a answer) failure(n int) error {
	if a.code == 0 {
		return fmt.Errorf("submit %d logs: %w", n, a.err)
	}
	return &IntakeError{Code: a.code, Detail: a.detail()}
}

// retryWait returns how long the intake asked to wait before the next
// request: the larger of X-RateLimit-Reset (seconds until the rate limit
// period resets) and Retry-After (seconds or an HTTP date), and whether it
// asked at all.
func (a answer) retryWait(now time.Time) (time.Duration, bool) {
	var wait time.Duration
	found := false
	if s, err := strconv.ParseInt(strings.TrimSpace(a.header.Get("X-RateLimit-Reset")), 10, 64); err == nil && s >= 0 {
		wait, found = time.Duration(s)*time.Second, true
	}
	if v := strings.TrimSpace(a.header.Get("Retry-After")); v != "" {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
			wait, found = max(wait, time.Duration(s)*time.Second), true
		} else if t, err := http.ParseTime(v); err == nil {
			wait, found = max(wait, t.Sub(now)), true
		}
	}
	return max(wait, 0), found
}

// IntakeError is an answer of the intake other than a success.
type IntakeError struct {
	Code   int
	Detail string // the answer's body, cut short
}

// Error returns the status and the intake's answer.
func (e *IntakeError) Error() string {
	return fmt.Sprintf("datadog intake answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Detail)
}
