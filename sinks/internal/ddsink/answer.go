package ddsink

import (
	"fmt"
	"math"
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
// request, and whether it asked at all: the larger of X-RateLimit-Reset
// (seconds until the rate limit resets) and Retry-After (seconds, or an
// HTTP date read against now; a date past means now). The wait is cut to
// ceiling, and capped says so. A value that is neither a count of seconds
// nor a date (a negative, a fraction, a sign, garbage) is not believed, as
// if absent. A count too large for any clock still means "long", and is
// capped: a rate-limited intake is waited for, not hammered.
func (a answer) retryWait(now time.Time, ceiling time.Duration) (wait time.Duration, asked, capped bool) {
	if d, ok := seconds(a.header.Get("X-RateLimit-Reset")); ok {
		wait, asked = d, true
	}
	if v := strings.TrimSpace(a.header.Get("Retry-After")); v != "" {
		if d, ok := seconds(v); ok {
			wait, asked = max(wait, d), true
		} else if t, err := http.ParseTime(v); err == nil {
			// Sub saturates instead of overflowing, for a date in 9999.
			wait, asked = max(wait, t.Sub(now)), true
		}
	}
	if wait > ceiling {
		return ceiling, asked, true
	}
	return max(wait, 0), asked, false
}

// maxSeconds is the most seconds a time.Duration holds.
const maxSeconds = uint64(math.MaxInt64 / int64(time.Second))

// seconds parses v as RFC 9110's delay-seconds, ASCII digits and nothing
// else, into a Duration. A count past what a Duration holds saturates at
// the largest one instead of wrapping (time.Duration(s)*time.Second wraps
// from about 9.2e9 seconds).
func seconds(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n <= maxSeconds { // then n*10+9 is far from overflowing
			n = n*10 + uint64(c-'0')
		}
	}
	if n > maxSeconds {
		return math.MaxInt64, true
	}
	return time.Duration(n) * time.Second, true
}

// clip cuts a header value quoted in a log.
func clip(v string) string {
	const most = 64
	if len(v) > most {
		return v[:most] + "..."
	}
	return v
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
