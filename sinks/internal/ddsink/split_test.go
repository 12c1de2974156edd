package ddsink

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/auditstream/auditstream/ddintake"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// The Writer is what the runtime drives.
var _ sink.Writer = (*Writer)(nil)

// TestRequestsWithinIntakeLimits writes batches that need more than one
// request and checks the requests the intake got, and that every event
// arrived once.
func TestRequestsWithinIntakeLimits(t *testing.T) {
	tests := []struct {
		name   string
		events []*auditv1.Event
		// wantPerRequest maps an entry count to the requests that carried it.
		wantPerRequest map[int]int
	}{
		{
			name:           "2500 events by count",
			events:         events(2500),
			wantPerRequest: map[int]int{1000: 2, 500: 1},
		},
		{
			name:           "1000 events in one request",
			events:         events(1000),
			wantPerRequest: map[int]int{1000: 1},
		},
		{
			// Each log is about 700 kB: seven fit under 5 MB, eight do not.
			name: "10 large events by bytes",
			events: func() []*auditv1.Event {
				evs := events(10)
				for _, ev := range evs {
					withData(ev, 700_000)
				}
				return evs
			}(),
			wantPerRequest: map[int]int{7: 1, 3: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, ddintake.Limits{})
			b := batchOf(100, tt.events...)
			res, err := f.w.Write(context.Background(), b)
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if res.Through != b.Last() || len(res.Rejected) != 0 {
				t.Errorf("result: got through %d, %d rejected; want through %d, none rejected", res.Through, len(res.Rejected), b.Last())
			}
			f.checkOnce(t, ids(tt.events))
			st := f.intake.Stats()
			if !maps.Equal(st.EntriesPerRequest, tt.wantPerRequest) {
				t.Errorf("entries per request: got %v, want %v", st.EntriesPerRequest, tt.wantPerRequest)
			}
			if st.ByStatus[202] != st.Requests {
				t.Errorf("answers: got %v of %d requests, want all 202", st.ByStatus, st.Requests)
			}
			for i, size := range f.proxy.bodySizes() {
				if size > maxPayloadBytes {
					t.Errorf("request %d: %d bytes uncompressed, over %d", i+1, size, maxPayloadBytes)
				}
			}
			wantRequests := 0
			for _, n := range tt.wantPerRequest {
				wantRequests += n
			}
			if got := testutil.ToFloat64(f.w.metrics.requests.WithLabelValues("202")); got != float64(wantRequests) {
				t.Errorf("requests_total{code=202}: got %v, want %d", got, wantRequests)
			}
			if err := testutil.GatherAndCompare(f.reg, strings.NewReader(entriesHistogram(tt.wantPerRequest)),
				"auditstream_datadog_request_entries"); err != nil {
				t.Errorf("entries histogram: %v", err)
			}
			if got := testutil.ToFloat64(f.w.metrics.lastSuccess); got != float64(now().Unix()) {
				t.Errorf("last success: got %v, want %d", got, now().Unix())
			}
		})
	}
}

// entriesHistogram returns the exposition of the entries histogram after
// the requests of perRequest (entry count to requests).
func entriesHistogram(perRequest map[int]int) string {
	var b strings.Builder
	b.WriteString("# HELP auditstream_datadog_request_entries Logs per request to the Datadog logs intake. The intake takes at most 1000.\n")
	b.WriteString("# TYPE auditstream_datadog_request_entries histogram\n")
	count, sum := 0, 0
	for n, reqs := range perRequest {
		count += reqs
		sum += n * reqs
	}
	for _, le := range []int{1, 10, 100, 250, 500, 750, 999, 1000} {
		below := 0
		for n, reqs := range perRequest {
			if n <= le {
				below += reqs
			}
		}
		fmt.Fprintf(&b, "auditstream_datadog_request_entries_bucket{le=\"%d\"} %d\n", le, below)
	}
	fmt.Fprintf(&b, "auditstream_datadog_request_entries_bucket{le=\"+Inf\"} %d\n", count)
	fmt.Fprintf(&b, "auditstream_datadog_request_entries_sum %d\n", sum)
	fmt.Fprintf(&b, "auditstream_datadog_request_entries_count %d\n", count)
	return b.String()
}

// TestPayloadSizeIsWhatTheClientSends checks that the size the Writer
// measures is, to the byte, the body the client sends: JSON escaping, HTML
// characters and non-ASCII included.
func TestPayloadSizeIsWhatTheClientSends(t *testing.T) {
	evs := events(5)
	evs[1].Action = `<script>&"quoted"</script>`
	evs[2].Tenants = []string{"日本", "ünïcode"}
	evs[3].LoginIds = []string{"a\\b\n\t\u2028"}
	f := newFixture(t, ddintake.Limits{})
	if _, err := f.w.Write(context.Background(), batchOf(0, evs...)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	sum := 0
	logs := f.w.mapper.builder(0)
	for _, ev := range evs {
		n, err := logs.add(ev)
		if err != nil {
			t.Fatal(err)
		}
		logs.keep()
		sum += n
	}
	sizes := f.proxy.bodySizes()
	if want := payloadSize(len(evs), sum); len(sizes) != 1 || sizes[0] != want {
		t.Errorf("body sizes sent: got %v, want one of %d", sizes, want)
	}
}

// TestSplitOn413 shrinks the intake's limits below what the Writer packs,
// so that requests get 413 and must be split and sent again.
func TestSplitOn413(t *testing.T) {
	tests := []struct {
		name   string
		limits ddintake.Limits
		n      int
	}{
		{"entries over the intake's count", ddintake.Limits{MaxEntries: 300}, 1000},
		{"payload over the intake's bytes", ddintake.Limits{MaxPayloadBytes: 100_000}, 1500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.limits)
			evs := events(tt.n)
			res, err := f.w.Write(context.Background(), batchOf(0, evs...))
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if len(res.Rejected) != 0 {
				t.Errorf("rejected: got %v, want none", res.Rejected)
			}
			f.checkOnce(t, ids(evs))
			if st := f.intake.Stats(); st.ByStatus[413] == 0 {
				t.Errorf("answers: got %v, want some 413s that forced a split", st.ByStatus)
			}
		})
	}
}

// TestRejections checks the events that can never be delivered: they come
// back in Result.Rejected with their reason, and their neighbours are
// delivered.
func TestRejections(t *testing.T) {
	tests := []struct {
		name       string
		limits     ddintake.Limits
		events     func() []*auditv1.Event
		poison     []string // ddintake poison faults
		wantReason map[int64]string
		wantErr    string // in every rejection's Err
		// maxRequests bounds the requests: halving isolates an entry among
		// 1000 in 1 + 2*10 of them.
		maxRequests int
	}{
		{
			name:        "one poison entry among 1000",
			events:      func() []*auditv1.Event { return events(1000) },
			poison:      []string{"evt-00500"},
			wantReason:  map[int64]string{500: ReasonRejectedByIntake},
			wantErr:     "poison",
			maxRequests: 21,
		},
		{
			name:        "poison entries at both ends",
			events:      func() []*auditv1.Event { return events(1000) },
			poison:      []string{"evt-00000", "evt-00999"},
			wantReason:  map[int64]string{0: ReasonRejectedByIntake, 999: ReasonRejectedByIntake},
			wantErr:     "poison",
			maxRequests: 41,
		},
		{
			name: "a 2 MB event",
			events: func() []*auditv1.Event {
				evs := events(3)
				withData(evs[1], 2_000_000)
				return evs
			},
			wantReason: map[int64]string{1: ReasonTooLarge},
			wantErr:    "over the intake's limit",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.limits)
			for _, m := range tt.poison {
				if _, err := f.intake.Inject(ddintake.Fault{Kind: ddintake.KindPoison, Match: m}); err != nil {
					t.Fatal(err)
				}
			}
			evs := tt.events()
			b := batchOf(0, evs...)
			res, err := f.w.Write(context.Background(), b)
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if res.Through != b.Last() {
				t.Errorf("through: got %d, want %d", res.Through, b.Last())
			}
			got := make(map[int64]string)
			for _, r := range res.Rejected {
				got[r.Offset] = r.Reason
				if r.Err == nil || !strings.Contains(r.Err.Error(), tt.wantErr) {
					t.Errorf("rejected offset %d: got error %v, want one containing %q", r.Offset, r.Err, tt.wantErr)
				}
				if len(r.Err.Error()) > 2*maxDetail {
					t.Errorf("rejected offset %d: error of %d bytes, want it cut near %d", r.Offset, len(r.Err.Error()), maxDetail)
				}
			}
			if !maps.Equal(got, tt.wantReason) {
				t.Errorf("rejected: got %v, want %v", got, tt.wantReason)
			}
			var want []string
			for i, ev := range evs {
				if _, rejected := tt.wantReason[int64(i)]; !rejected {
					want = append(want, ev.Id)
				}
			}
			f.checkOnce(t, want)
			for reason, n := range countReasons(tt.wantReason) {
				if got := testutil.ToFloat64(f.w.metrics.rejected.WithLabelValues(reason)); got != float64(n) {
					t.Errorf("rejected_total{reason=%s}: got %v, want %d", reason, got, n)
				}
			}
			st := f.intake.Stats()
			if st.EntriesTruncated != 0 {
				t.Errorf("truncated by the intake: got %d logs, want none", st.EntriesTruncated)
			}
			if tt.maxRequests > 0 && st.Requests > tt.maxRequests {
				t.Errorf("requests: got %d, want at most %d", st.Requests, tt.maxRequests)
			}
		})
	}
}

// countReasons counts the rejections by reason.
func countReasons(byOffset map[int64]string) map[string]int {
	out := make(map[string]int)
	for _, r := range byOffset {
		out[r]++
	}
	return out
}

// TestRejectedErrorIsIntakeError checks that a 400's detail reaches the
// dead letter as an *IntakeError.
func TestRejectedErrorIsIntakeError(t *testing.T) {
	f := newFixture(t, ddintake.Limits{})
	if _, err := f.intake.Inject(ddintake.Fault{Kind: ddintake.KindPoison, Match: "evt-00001"}); err != nil {
		t.Fatal(err)
	}
	res, err := f.w.Write(context.Background(), batchOf(0, events(2)...))
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if len(res.Rejected) != 1 {
		t.Fatalf("rejected: got %v, want one", res.Rejected)
	}
	var ie *IntakeError
	if !errors.As(res.Rejected[0].Err, &ie) || ie.Code != 400 || !strings.Contains(ie.Detail, `entry 0: message contains poison`) {
		t.Errorf("rejection error: got %#v, want an IntakeError 400 with the intake's body", res.Rejected[0].Err)
	}
}

// TestIntakeRefusingEverything: an intake (or a proxy before it) that
// answers 400 to every request does not get the batch dead-lettered entry
// by entry: after maxRefusedRun entries refused alone, Write fails and
// rejects nothing; once the intake accepts again, the same batch is
// delivered whole.
func TestIntakeRefusingEverything(t *testing.T) {
	f := newFixture(t, ddintake.Limits{})
	if _, err := f.intake.Inject(ddintake.Fault{Kind: ddintake.KindStatus, Status: 400}); err != nil {
		t.Fatal(err)
	}
	evs := events(1000)
	b := batchOf(0, evs...)
	_, err := f.w.Write(context.Background(), b)
	if err == nil || !strings.Contains(err.Error(), "refusing requests, not entries") {
		t.Fatalf("Write against an intake that refuses everything: got %v, want the refusing-requests error", err)
	}
	var se *sink.RetryAfterError
	if errors.As(err, &se) {
		t.Errorf("the error is a RetryAfterError; want a plain retryable error")
	}
	// Halving 1000 entries down to singles takes 10 requests; then each
	// single refused comes with a few more halvings.
	if got := f.intake.Stats().Requests; got > 3*maxRefusedRun {
		t.Errorf("%d requests before giving up; want at most %d", got, 3*maxRefusedRun)
	}
	f.intake.ClearFaults()
	res, err := f.w.Write(context.Background(), b)
	if err != nil {
		t.Fatalf("Write once the intake accepts: %v", err)
	}
	if len(res.Rejected) != 0 || res.Through != b.Last() {
		t.Fatalf("result %+v; want everything through %d and nothing rejected", res, b.Last())
	}
	f.checkOnce(t, ids(evs))
}

// TestProxyAnswering413: an intake or a proxy that answers 413 to a single
// log (at most 1 MB, which Datadog never refuses as too large alone) does
// not get it dead-lettered: the Write fails, rejects nothing, and the
// logs it delivered before stay delivered; once the path accepts again,
// the same batch is delivered whole, each event once.
func TestProxyAnswering413(t *testing.T) {
	tests := []struct {
		name   string
		events func() []*auditv1.Event
		// refuse reports whether the proxy answers 413 to a request body.
		refuse func(body []byte) bool
		// wantFirst is how many events the failed Write delivered.
		wantFirst   int
		maxRequests int
	}{
		{
			name:        "413 to everything",
			events:      func() []*auditv1.Event { return events(1000) },
			refuse:      func([]byte) bool { return true },
			maxRequests: 11, // 1000 halved down to one log
		},
		{
			// As nginx does with its default client_max_body_size, at a
			// smaller scale: one log is over the proxy's limit, not Datadog's.
			name: "413 over a proxy's body limit below one log",
			events: func() []*auditv1.Event {
				evs := events(5)
				withData(evs[2], 10_000)
				return evs
			},
			refuse:      func(body []byte) bool { return len(body) > 5_000 },
			wantFirst:   2,
			maxRequests: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, ddintake.Limits{})
			f.proxy.fail = func(_ int, body []byte) int {
				if tt.refuse(body) {
					return http.StatusRequestEntityTooLarge
				}
				return 0
			}
			evs := tt.events()
			b := batchOf(0, evs...)
			res, err := f.w.Write(context.Background(), b)
			if err == nil {
				t.Fatalf("Write through a proxy answering 413 to one log: got %d rejected and no error, want an error", len(res.Rejected))
			}
			if errorKind(err) != plain {
				t.Errorf("error %v: got kind %s, want %s", err, errorKind(err), plain)
			}
			var ie *IntakeError
			if !errors.As(err, &ie) || ie.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("error %v: want it to wrap the 413", err)
			}
			if got := len(f.delivered(t)); got != tt.wantFirst {
				t.Errorf("delivered by the failed Write: got %d events, want %d", got, tt.wantFirst)
			}
			requests := len(f.proxy.bodySizes())
			if requests > tt.maxRequests {
				t.Errorf("requests before giving up: got %d, want at most %d", requests, tt.maxRequests)
			}
			refused := 0
			for _, size := range f.proxy.bodySizes() {
				if tt.refuse(make([]byte, size)) {
					refused++
				}
			}
			if got := testutil.ToFloat64(f.w.metrics.requests.WithLabelValues("413")); got != float64(refused) {
				t.Errorf("requests_total{code=413}: got %v, want %d", got, refused)
			}
			if n := testutil.CollectAndCount(f.w.metrics.rejected); n != 0 {
				t.Errorf("rejected_total: got %d series, want none", n)
			}

			f.proxy.fail = nil
			res, err = f.w.Write(context.Background(), b)
			if err != nil {
				t.Fatalf("Write once the proxy accepts: %v", err)
			}
			if len(res.Rejected) != 0 || res.Through != b.Last() {
				t.Errorf("result: got through %d, %d rejected; want through %d, none rejected", res.Through, len(res.Rejected), b.Last())
			}
			f.checkOnce(t, ids(evs))
		})
	}
}
