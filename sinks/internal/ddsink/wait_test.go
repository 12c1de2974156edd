package ddsink

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// headerIntake answers every request with a status and the headers it
// holds, as a rate-limited intake (or a proxy before it) would.
type headerIntake struct {
	status int

	mu     sync.Mutex
	header http.Header
}

func (h *headerIntake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	for k, vs := range h.header {
		w.Header()[k] = vs
	}
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(h.status)
	w.Write([]byte(`{"errors":[{"status":"429","title":"Too Many Requests"}]}`))
}

// logBuffer is a slog handler's output, safe for the Writer's concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// writeAgainst writes a batch through a Writer whose ceiling is
// maxRetryWait (zero: the default) to an intake answering 429 with header,
// and returns the Writer's logs and the Write's error.
func writeAgainst(t *testing.T, header http.Header, maxRetryWait time.Duration) (string, error) {
	t.Helper()
	in := &headerIntake{status: http.StatusTooManyRequests, header: header}
	ts := httptest.NewServer(in)
	t.Cleanup(ts.Close)
	c := connector(ts.URL, keyFile(t, testKey))
	dd(c).MaxRetryWait = config.Duration(maxRetryWait)
	logs := &logBuffer{}
	w, err := New(Options{Connector: c, Now: now, Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, err = w.Write(context.Background(), batchOf(0, events(3)...))
	if err == nil {
		t.Fatal("Write against a 429: got no error, want one")
	}
	return logs.String(), err
}

// TestRetryWaitHeaders reads the wait out of the headers of a 429: the
// seconds and HTTP-date forms of Retry-After, X-RateLimit-Reset, both
// together (the longer wins), and values that must not be believed: a
// negative, garbage, or a number so large that it overflows a Duration.
// Every wait is capped at the default ceiling, and a capped wait is
// logged.
func TestRetryWaitHeaders(t *testing.T) {
	date := func(d time.Duration) string { return now().Add(d).UTC().Format(http.TimeFormat) }
	ceiling := DefaultMaxRetryWait
	tests := []struct {
		name       string
		retryAfter string // "" for none
		reset      string // X-RateLimit-Reset, "" for none
		// wantWait is the RetryAfterError's wait; -1 for a plain error,
		// which the runtime retries with its own backoff.
		wantWait   time.Duration
		wantCapped bool
	}{
		{name: "retry-after seconds", retryAfter: "7", wantWait: 7 * time.Second},
		{name: "retry-after zero", retryAfter: "0", wantWait: 0},
		{name: "reset seconds", reset: "12", wantWait: 12 * time.Second},
		{name: "retry-after at the ceiling", retryAfter: "300", wantWait: ceiling},
		{name: "retry-after a day", retryAfter: "86400", wantWait: ceiling, wantCapped: true},
		{name: "reset a day", reset: "86400", wantWait: ceiling, wantCapped: true},
		// time.Duration(s)*time.Second wraps for s over about 9.2e9.
		{name: "retry-after past a Duration", retryAfter: "9300000000", wantWait: ceiling, wantCapped: true},
		{name: "retry-after past an int64", retryAfter: "99999999999999999999999999999", wantWait: ceiling, wantCapped: true},
		{name: "reset past an int64", reset: "18446744073709551616", wantWait: ceiling, wantCapped: true},
		{name: "retry-after negative", retryAfter: "-5", wantWait: -1},
		{name: "reset negative", reset: "-86400", wantWait: -1},
		{name: "retry-after NaN", retryAfter: "NaN", wantWait: -1},
		{name: "retry-after fraction", retryAfter: "1.5", wantWait: -1},
		{name: "retry-after signed", retryAfter: "+5", wantWait: -1},
		{name: "retry-after exponent", retryAfter: "1e9", wantWait: -1},
		{name: "retry-after garbage", retryAfter: "soon", wantWait: -1},
		{name: "retry-after non-ASCII digits", retryAfter: "٣", wantWait: -1},
		{name: "retry-after date in 90s", retryAfter: date(90 * time.Second), wantWait: 90 * time.Second},
		{name: "retry-after date past", retryAfter: date(-time.Hour), wantWait: 0},
		{name: "retry-after date in a day", retryAfter: date(24 * time.Hour), wantWait: ceiling, wantCapped: true},
		{name: "retry-after date in 9999", retryAfter: "Fri, 31 Dec 9999 23:59:59 GMT", wantWait: ceiling, wantCapped: true},
		{name: "both, reset longer", retryAfter: "3", reset: "10", wantWait: 10 * time.Second},
		{name: "both, retry-after longer", retryAfter: "20", reset: "10", wantWait: 20 * time.Second},
		{name: "both, reset huge", retryAfter: "5", reset: "86400", wantWait: ceiling, wantCapped: true},
		{name: "both, date and reset", retryAfter: date(30 * time.Second), reset: "4", wantWait: 30 * time.Second},
		{name: "both, garbage and reset", retryAfter: "soon", reset: "4", wantWait: 4 * time.Second},
		{name: "both, negative and garbage", retryAfter: "-1", reset: "x", wantWait: -1},
		{name: "neither", wantWait: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.retryAfter != "" {
				h.Set("Retry-After", tt.retryAfter)
			}
			if tt.reset != "" {
				h.Set("X-RateLimit-Reset", tt.reset)
			}
			logs, err := writeAgainst(t, h, 0)
			var ra *sink.RetryAfterError
			switch {
			case tt.wantWait < 0 && errors.As(err, &ra):
				t.Errorf("got a wait of %v, want a plain error (the headers are not believed)", ra.Wait)
			case tt.wantWait >= 0 && !errors.As(err, &ra):
				t.Errorf("got %v, want a RetryAfterError of %v", err, tt.wantWait)
			case tt.wantWait >= 0 && ra.Wait != tt.wantWait:
				t.Errorf("wait: got %v, want %v", ra.Wait, tt.wantWait)
			}
			var ie *IntakeError
			if !errors.As(err, &ie) || ie.Code != http.StatusTooManyRequests {
				t.Errorf("got %v, want it to wrap the intake's 429", err)
			}
			if got := strings.Contains(logs, "max_retry_wait"); got != tt.wantCapped {
				t.Errorf("a warning naming max_retry_wait: got %v, want %v; logs:\n%s", got, tt.wantCapped, logs)
			}
		})
	}
}

// TestRetryWaitCeiling checks that the connector's max_retry_wait is the
// ceiling: a longer wait is cut to it, with a warning that gives what the
// intake asked; a shorter one is kept, without a warning.
func TestRetryWaitCeiling(t *testing.T) {
	tests := []struct {
		name       string
		ceiling    time.Duration
		retryAfter string
		wantWait   time.Duration
		wantCapped bool
	}{
		{"an hour asked, 30s ceiling", 30 * time.Second, "3600", 30 * time.Second, true},
		{"20s asked, 30s ceiling", 30 * time.Second, "20", 20 * time.Second, false},
		{"31s asked, 30s ceiling", 30 * time.Second, "31", 30 * time.Second, true},
		{"a day asked, 1h ceiling", time.Hour, "86400", time.Hour, true},
		{"a sub-second ceiling", 1500 * time.Millisecond, "2", 1500 * time.Millisecond, true},
		{"default ceiling", 0, "3600", DefaultMaxRetryWait, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs, err := writeAgainst(t, http.Header{"Retry-After": {tt.retryAfter}}, tt.ceiling)
			var ra *sink.RetryAfterError
			if !errors.As(err, &ra) || ra.Wait != tt.wantWait {
				t.Fatalf("got %v, want a RetryAfterError of %v", err, tt.wantWait)
			}
			warned := strings.Contains(logs, "level=WARN") && strings.Contains(logs, "max_retry_wait")
			if warned != tt.wantCapped {
				t.Errorf("warned: got %v, want %v; logs:\n%s", warned, tt.wantCapped, logs)
			}
			if tt.wantCapped && !strings.Contains(logs, "retry_after="+tt.retryAfter) {
				t.Errorf("the warning does not give the intake's Retry-After %s; logs:\n%s", tt.retryAfter, logs)
			}
		})
	}
}

// TestNewRejectsBadCeiling: a connector built by hand, not by config.Load,
// cannot hand the Writer a ceiling that config.Load refuses.
func TestNewRejectsBadCeiling(t *testing.T) {
	for _, d := range []time.Duration{-time.Second, 500 * time.Millisecond, 25 * time.Hour} {
		c := connector("http://127.0.0.1:1", keyFile(t, testKey))
		dd(c).MaxRetryWait = config.Duration(d)
		if _, err := New(Options{Connector: c}); err == nil || !strings.Contains(err.Error(), "max_retry_wait") {
			t.Errorf("max_retry_wait %v: got %v, want an error naming max_retry_wait", d, err)
		}
	}
}
