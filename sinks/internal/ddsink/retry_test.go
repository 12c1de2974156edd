package ddsink

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/ddintake"
	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// The kinds of error a failed Write returns.
const (
	plain        = "plain"
	retryAfter   = "retry-after"
	unauthorized = "unauthorized"
)

// errorKind classifies err the way the runtime does.
func errorKind(err error) string {
	var ra *sink.RetryAfterError
	switch {
	case sink.IsUnauthorized(err):
		return unauthorized
	case errors.As(err, &ra):
		return retryAfter
	}
	return plain
}

// TestFailedAnswers checks the error of a Write that the intake fails, and
// that the same batch goes through, once, when the fault is gone.
func TestFailedAnswers(t *testing.T) {
	tests := []struct {
		name     string
		fault    ddintake.Fault
		wantKind string
		wantWait time.Duration
		wantCode int // of the *IntakeError inside; 0 for none
	}{
		{
			name:     "429 with X-RateLimit-Reset",
			fault:    ddintake.Fault{Kind: ddintake.KindStatus, Status: 429, RateLimit: ddintake.RateLimit{Reset: 7 * time.Second}},
			wantKind: retryAfter, wantWait: 7 * time.Second, wantCode: 429,
		},
		{
			name:     "429 with Retry-After too",
			fault:    ddintake.Fault{Kind: ddintake.KindStatus, Status: 429, RetryAfter: true, RateLimit: ddintake.RateLimit{Reset: 3 * time.Second}},
			wantKind: retryAfter, wantWait: 3 * time.Second, wantCode: 429,
		},
		{
			name:     "503",
			fault:    ddintake.Fault{Kind: ddintake.KindStatus, Status: 503},
			wantKind: plain, wantCode: 503,
		},
		{
			name:     "503 with Retry-After",
			fault:    ddintake.Fault{Kind: ddintake.KindStatus, Status: 503, RetryAfter: true, RateLimit: ddintake.RateLimit{Reset: 2 * time.Second}},
			wantKind: retryAfter, wantWait: 2 * time.Second, wantCode: 503,
		},
		{
			name:     "500",
			fault:    ddintake.Fault{Kind: ddintake.KindStatus, Status: 500},
			wantKind: plain, wantCode: 500,
		},
		{
			name:     "408",
			fault:    ddintake.Fault{Kind: ddintake.KindStatus, Status: 408},
			wantKind: plain, wantCode: 408,
		},
		{
			name:     "dropped connection",
			fault:    ddintake.Fault{Kind: ddintake.KindDrop},
			wantKind: plain,
		},
		{
			name:     "403 from a proxy",
			fault:    ddintake.Fault{Kind: ddintake.KindStatus, Status: 403},
			wantKind: unauthorized, wantCode: 403,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, ddintake.Limits{})
			if _, err := f.intake.Inject(tt.fault); err != nil {
				t.Fatal(err)
			}
			evs := events(10)
			b := batchOf(0, evs...)
			_, err := f.w.Write(context.Background(), b)
			if err == nil {
				t.Fatal("Write: got no error, want one")
			}
			if got := errorKind(err); got != tt.wantKind {
				t.Errorf("error %v: got kind %s, want %s", err, got, tt.wantKind)
			}
			var ra *sink.RetryAfterError
			if errors.As(err, &ra) && ra.Wait != tt.wantWait {
				t.Errorf("wait: got %v, want %v", ra.Wait, tt.wantWait)
			}
			var ie *IntakeError
			gotCode := 0
			if errors.As(err, &ie) {
				gotCode = ie.Code
			}
			if gotCode != tt.wantCode {
				t.Errorf("intake error code: got %d, want %d (error %v)", gotCode, tt.wantCode, err)
			}
			if n := len(f.intake.Logs()); n != 0 {
				t.Errorf("intake holds %d logs after the failure, want none", n)
			}

			f.intake.ClearFaults()
			if _, err := f.w.Write(context.Background(), b); err != nil {
				t.Fatalf("Write after the fault: %v", err)
			}
			f.checkOnce(t, ids(evs))
		})
	}
}

// TestAPIKeyRotation checks that a wrong or missing key fails the Write as
// unauthorized, without the key in the error, and that the next Write picks
// up the fixed key without a new Writer.
func TestAPIKeyRotation(t *testing.T) {
	tests := []struct {
		name string
		// start sets the fixture up to fail; fix repairs it.
		start func(t *testing.T, f *fixture, c *config.Connector)
		fix   func(t *testing.T, f *fixture)
	}{
		{
			name:  "key file rewritten",
			start: func(t *testing.T, f *fixture, c *config.Connector) { writeKey(t, f.keyPath, "wrong-key-abcdef") },
			fix:   func(t *testing.T, f *fixture) { writeKey(t, f.keyPath, testKey) },
		},
		{
			name: "environment variable changed",
			start: func(t *testing.T, f *fixture, c *config.Connector) {
				t.Setenv("DDSINK_TEST_KEY", "wrong-key-abcdef")
				dd(c).APIKey = config.Secret{Env: "DDSINK_TEST_KEY"}
			},
			fix: func(t *testing.T, f *fixture) { t.Setenv("DDSINK_TEST_KEY", testKey) },
		},
		{
			name: "intake learns the key",
			start: func(t *testing.T, f *fixture, c *config.Connector) {
				writeKey(t, f.keyPath, "wrong-key-abcdef")
			},
			fix: func(t *testing.T, f *fixture) { f.intake.SetAPIKeys(testKey, "wrong-key-abcdef") },
		},
		{
			name: "key file missing",
			start: func(t *testing.T, f *fixture, c *config.Connector) {
				dd(c).APIKey = config.Secret{File: f.keyPath + ".missing"}
			},
			fix: func(t *testing.T, f *fixture) { writeKey(t, f.keyPath+".missing", testKey) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, ddintake.Limits{})
			c := connector(f.url, f.keyPath)
			tt.start(t, f, c)
			w, err := New(Options{Connector: c, Now: now})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			evs := events(5)
			b := batchOf(0, evs...)
			_, err = w.Write(context.Background(), b)
			if !sink.IsUnauthorized(err) {
				t.Fatalf("Write with a bad key: got %v, want an UnauthorizedError", err)
			}
			if strings.Contains(err.Error(), "wrong-key") || strings.Contains(err.Error(), testKey) {
				t.Errorf("error %q holds the key", err)
			}
			if n := len(f.intake.Logs()); n != 0 {
				t.Errorf("intake holds %d logs, want none", n)
			}
			tt.fix(t, f)
			if _, err := w.Write(context.Background(), b); err != nil {
				t.Fatalf("Write with the fixed key: %v", err)
			}
			f.checkOnce(t, ids(evs))
		})
	}
}

// TestRetrySkipsDelivered fails a later request of a batch, then writes
// the batch again: what the first attempt delivered or rejected is not
// sent again, and the rejections still come back.
func TestRetrySkipsDelivered(t *testing.T) {
	tests := []struct {
		name string
		n    int
		// failOn is an event id: the first request carrying it fails with 503.
		failOn string
		poison string
		// wantFirst is how many events the first attempt delivered.
		wantFirst    int
		wantRejected []int64
	}{
		{name: "second request fails", n: 2000, failOn: "evt-01500", wantFirst: 1000},
		{name: "third request fails", n: 2500, failOn: "evt-02100", wantFirst: 2000},
		{name: "poison in the first, second fails", n: 2000, failOn: "evt-01500", poison: "evt-00010",
			wantFirst: 999, wantRejected: []int64{10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, ddintake.Limits{})
			failed := false
			f.proxy.fail = func(n int, body []byte) int {
				if !failed && bytes.Contains(body, []byte(tt.failOn)) {
					failed = true
					return http.StatusServiceUnavailable
				}
				return 0
			}
			if tt.poison != "" {
				if _, err := f.intake.Inject(ddintake.Fault{Kind: ddintake.KindPoison, Match: tt.poison}); err != nil {
					t.Fatal(err)
				}
			}
			evs := events(tt.n)
			b := batchOf(0, evs...)
			if _, err := f.w.Write(context.Background(), b); err == nil || errorKind(err) != plain {
				t.Fatalf("first Write: got %v, want a plain error", err)
			}
			if got := len(f.delivered(t)); got != tt.wantFirst {
				t.Errorf("after the first attempt: %d events delivered, want %d", got, tt.wantFirst)
			}
			sentBefore := len(f.proxy.bodySizes())

			res, err := f.w.Write(context.Background(), b)
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			var gotRejected []int64
			for _, r := range res.Rejected {
				gotRejected = append(gotRejected, r.Offset)
			}
			if !slices.Equal(gotRejected, tt.wantRejected) {
				t.Errorf("rejected: got %v, want %v", gotRejected, tt.wantRejected)
			}
			want := ids(evs)
			for _, off := range tt.wantRejected {
				want = removeID(want, evs[off].Id)
			}
			f.checkOnce(t, want)
			wantRetryRequests := (tt.n - tt.wantFirst - len(tt.wantRejected) + maxEntries - 1) / maxEntries
			if got := len(f.proxy.bodySizes()) - sentBefore; got != wantRetryRequests {
				t.Errorf("retry sent %d requests, want %d", got, wantRetryRequests)
			}
		})
	}
}

// TestProgressForgotten checks that the memory of a batch does not outlive
// it: a delivered batch, or another batch of the partition, starts afresh.
func TestProgressForgotten(t *testing.T) {
	f := newFixture(t, ddintake.Limits{})
	evs := events(3)
	b := batchOf(0, evs...)
	if _, err := f.w.Write(context.Background(), b); err != nil {
		t.Fatalf("Write: %v", err)
	}
	// The same offsets again, as after a rebalance back to this replica
	// before the commit: they are sent again (at least once).
	if _, err := f.w.Write(context.Background(), b); err != nil {
		t.Fatalf("Write again: %v", err)
	}
	for id, n := range f.delivered(t) {
		if n != 2 {
			t.Errorf("event %s: delivered %d times, want 2", id, n)
		}
	}
	if n := len(f.w.book.byPart); n != 0 {
		t.Errorf("progress kept for %d partitions after success, want none", n)
	}

	var book progressBook
	p := book.begin(batchOf(0, evs...))
	p.accept([]entry{{offset: 0}})
	if !book.begin(batchOf(0, evs...)).done(0) {
		t.Errorf("same batch: offset 0 not remembered")
	}
	if book.begin(batchOf(1, evs[1:]...)).done(0) || len(book.byPart) != 1 {
		t.Errorf("another batch of the partition: got the old progress or %d entries, want a fresh one", len(book.byPart))
	}
}

func removeID(ids []string, id string) []string {
	out := ids[:0:0]
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}
