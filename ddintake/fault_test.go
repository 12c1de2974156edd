package ddintake

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFaultNextN(t *testing.T) {
	for _, status := range []int{429, 500, 503, 408} {
		t.Run(itoa(status), func(t *testing.T) {
			srv, ts := start(t, Options{})
			if _, err := srv.Inject(Fault{Kind: KindStatus, Status: status, Count: 2}); err != nil {
				t.Fatal(err)
			}
			var got []int
			for i := range 4 {
				r := postLogs(t, ts, fmt.Sprint("m", i))
				got = append(got, r.status)
				if r.status == status {
					if errs := r.errors(t); len(errs) != 1 || errs[0].Status != itoa(status) {
						t.Errorf("request %d errors: got %+v, want one with status %d", i, errs, status)
					}
				}
			}
			if want := []int{status, status, 202, 202}; !slices.Equal(got, want) {
				t.Errorf("statuses: got %v, want %v", got, want)
			}
			if ms := messagesOf(srv.Logs()); !slices.Equal(ms, []string{"m2", "m3"}) {
				t.Errorf("stored: got %q, want [m2 m3]", ms)
			}
			st := srv.Stats()
			if st.Requests != 4 || st.ByStatus[status] != 2 || st.ByStatus[202] != 2 {
				t.Errorf("stats: got %+v, want 4 requests, 2 of %d, 2 of 202", st, status)
			}
			if fs := srv.Faults(); len(fs) != 1 || fs[0].Hits != 2 || fs[0].State != "expired" {
				t.Errorf("fault state: got %+v, want 2 hits, expired", fs)
			}
		})
	}
}

func TestFaultProbabilityIsSeeded(t *testing.T) {
	// run sends 60 requests to a server with a 30% 503 fault and returns which failed.
	run := func(seed uint64) []bool {
		srv, ts := start(t, Options{})
		if _, err := srv.Inject(Fault{Kind: KindStatus, Status: 503, Probability: 0.3, Seed: seed}); err != nil {
			t.Fatal(err)
		}
		failed := make([]bool, 60)
		for i := range failed {
			failed[i] = postLogs(t, ts, "m").status == 503
		}
		if hits := srv.Faults()[0].Hits; hits != count(failed) {
			t.Errorf("seed %d: fault hits %d, want the %d failed requests", seed, hits, count(failed))
		}
		return failed
	}
	first, again, other := run(7), run(7), run(8)
	if !slices.Equal(first, again) {
		t.Errorf("same seed: got %v then %v, want the same hits", first, again)
	}
	if slices.Equal(first, other) {
		t.Errorf("other seed: got the same hits %v, want different ones", other)
	}
	if n := count(first); n < 6 || n > 30 {
		t.Errorf("hits: got %d of 60, want about 18", n)
	}
}

func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func TestFaultRateLimitStormWindow(t *testing.T) {
	clk := newClock()
	srv, ts := start(t, Options{Now: clk.Now})
	if _, err := srv.Inject(Fault{Kind: KindStatus, Status: 429, For: 30 * time.Second, RetryAfter: true, RateLimit: RateLimit{Limit: 500}}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance    time.Duration
		wantStatus int
		wantReset  string
	}{
		{0, 429, "30"},
		{10 * time.Second, 429, "20"},
		{9500 * time.Millisecond, 429, "11"}, // 10.5 s left, rounded up
		{10 * time.Second, 429, "1"},         // 0.5 s left
		{500 * time.Millisecond, 202, ""},    // the window is over
	}
	for i, step := range steps {
		clk.Advance(step.advance)
		got := postLogs(t, ts, fmt.Sprint("m", i))
		if got.status != step.wantStatus {
			t.Fatalf("step %d: status got %d, want %d", i, got.status, step.wantStatus)
		}
		h := got.header
		if reset := h.Get("X-RateLimit-Reset"); reset != step.wantReset {
			t.Errorf("step %d: X-RateLimit-Reset got %q, want %q", i, reset, step.wantReset)
		}
		if step.wantStatus != 429 {
			continue
		}
		if ra := h.Get("Retry-After"); ra != step.wantReset {
			t.Errorf("step %d: Retry-After got %q, want %q", i, ra, step.wantReset)
		}
		if l, p, r := h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Period"), h.Get("X-RateLimit-Remaining"); l != "500" || p != "30" || r != "0" {
			t.Errorf("step %d: limit %q period %q remaining %q, want 500 30 0", i, l, p, r)
		}
	}
	if ms := messagesOf(srv.Logs()); !slices.Equal(ms, []string{"m4"}) {
		t.Errorf("stored: got %q, want [m4]", ms)
	}
}

func TestFaultAfterDelaysTheStart(t *testing.T) {
	clk := newClock()
	srv, ts := start(t, Options{Now: clk.Now})
	if _, err := srv.Inject(Fault{Kind: KindStatus, Status: 503, After: 5 * time.Second, For: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	var got []int
	for range 4 {
		got = append(got, postLogs(t, ts, "m").status)
		clk.Advance(3 * time.Second) // at 0 s, 3 s, 6 s and 9 s
	}
	if want := []int{202, 202, 503, 503}; !slices.Equal(got, want) {
		t.Errorf("statuses: got %v, want %v", got, want)
	}
	clk.Advance(time.Second) // 13 s: past the end
	if got := postLogs(t, ts, "m").status; got != 202 {
		t.Errorf("after the window: got %d, want 202", got)
	}
}

func TestFaultCountWithoutWindowReportsConfiguredReset(t *testing.T) {
	srv, ts := start(t, Options{})
	if _, err := srv.Inject(Fault{Kind: KindStatus, Status: 429, Count: 1, RateLimit: RateLimit{Reset: 7 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	got := postLogs(t, ts, "m")
	if got.status != 429 || got.header.Get("X-RateLimit-Reset") != "7" || got.header.Get("X-RateLimit-Period") != "60" {
		t.Errorf("got status %d reset %q period %q, want 429 7 60", got.status, got.header.Get("X-RateLimit-Reset"), got.header.Get("X-RateLimit-Period"))
	}
	if got.header.Get("Retry-After") != "" {
		t.Errorf("Retry-After: got %q, want none without RetryAfter", got.header.Get("Retry-After"))
	}
}

func TestFaultLatency(t *testing.T) {
	const latency = 150 * time.Millisecond
	srv, ts := start(t, Options{})
	if _, err := srv.Inject(Fault{Kind: KindLatency, Latency: latency, Count: 1}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	got := postLogs(t, ts, "slow")
	if elapsed := time.Since(began); elapsed < latency {
		t.Errorf("first request: took %v, want at least %v", elapsed, latency)
	}
	if got.status != 202 {
		t.Errorf("first request: status %d, want 202 once delayed", got.status)
	}
	postLogs(t, ts, "fast")
	if fs := srv.Faults(); fs[0].Hits != 1 {
		t.Errorf("latency hits: got %d, want 1", fs[0].Hits)
	}
	if ms := messagesOf(srv.Logs()); !slices.Equal(ms, []string{"slow", "fast"}) {
		t.Errorf("stored: got %q, want [slow fast]", ms)
	}
}

// A client that gives up during injected latency is counted as canceled,
// and its logs are not stored: a request nobody waits for is not accepted.
func TestFaultLatencyClientGone(t *testing.T) {
	srv, ts := start(t, Options{})
	if _, err := srv.Inject(Fault{Kind: KindLatency, Latency: 2 * time.Second, Count: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/api/v2/logs", bytes.NewReader(logsBody("abandoned")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("DD-API-KEY", testKey)
	if resp, err := ts.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("got status %d; want the client to time out", resp.StatusCode)
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats().Canceled != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v; want the request counted as canceled", srv.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if logs := srv.Logs(); len(logs) != 0 {
		t.Fatalf("stored %d logs of a request whose client was gone", len(logs))
	}
}

func TestFaultLatencyThenStatus(t *testing.T) {
	srv, ts := start(t, Options{})
	srv.Inject(Fault{Kind: KindLatency, Latency: 50 * time.Millisecond, Count: 1})
	srv.Inject(Fault{Kind: KindStatus, Status: 503, Count: 1})
	began := time.Now()
	got := postLogs(t, ts, "m")
	if got.status != 503 || time.Since(began) < 50*time.Millisecond {
		t.Errorf("got %d after %v, want 503 after at least 50ms", got.status, time.Since(began))
	}
}

func TestFaultDropConnection(t *testing.T) {
	srv, ts := start(t, Options{})
	if _, err := srv.Inject(Fault{Kind: KindDrop, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if r, err := trySend(ts, request{key: testKey, body: logsBody("lost")}); err == nil {
		t.Fatalf("dropped request: got status %d, want a transport error", r.status)
	} else if !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
		t.Errorf("dropped request: got error %v, want EOF or reset", err)
	}
	if got := postLogs(t, ts, "kept"); got.status != 202 {
		t.Errorf("next request: got %d, want 202", got.status)
	}
	if ms := messagesOf(srv.Logs()); !slices.Equal(ms, []string{"kept"}) {
		t.Errorf("stored: got %q, want [kept]", ms)
	}
	if st := srv.Stats(); st.Dropped != 1 || st.Requests != 2 {
		t.Errorf("stats: got dropped %d requests %d, want 1 2", st.Dropped, st.Requests)
	}
}

func TestFaultPoison(t *testing.T) {
	srv, ts := start(t, Options{})
	if _, err := srv.Inject(Fault{Kind: KindPoison, Match: "POISON"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		messages    []string
		wantStatus  int
		wantIndexes []string
	}{
		{"two bad entries", []string{"ok0", "x POISON x", "ok2", "POISON", "ok4"}, 400, []string{"entry 1:", "entry 3:"}},
		{"left half after a split", []string{"ok0", "x POISON x"}, 400, []string{"entry 1:"}},
		{"clean half", []string{"ok2", "ok4"}, 202, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := postLogs(t, ts, tt.messages...)
			if got.status != tt.wantStatus {
				t.Fatalf("status: got %d, want %d", got.status, tt.wantStatus)
			}
			if tt.wantStatus != 400 {
				return
			}
			errs := got.errors(t)
			if len(errs) != len(tt.wantIndexes) {
				t.Fatalf("errors: got %+v, want %d", errs, len(tt.wantIndexes))
			}
			for i, e := range errs {
				if !strings.HasPrefix(e.Detail, tt.wantIndexes[i]) || e.Status != "400" {
					t.Errorf("error %d: got %+v, want detail starting %q", i, e, tt.wantIndexes[i])
				}
			}
		})
	}
	if ms := messagesOf(srv.Logs()); !slices.Equal(ms, []string{"ok2", "ok4"}) {
		t.Errorf("stored: got %q, want only the clean half", ms)
	}
	if fs := srv.Faults(); fs[0].Hits != 2 {
		t.Errorf("poison hits: got %d, want 2", fs[0].Hits)
	}
}

func TestFaultValidation(t *testing.T) {
	tests := []struct {
		name  string
		fault Fault
	}{
		{"unknown kind", Fault{Kind: "boom"}},
		{"status not an error", Fault{Kind: KindStatus, Status: 200}},
		{"latency without duration", Fault{Kind: KindLatency}},
		{"poison without match", Fault{Kind: KindPoison}},
		{"probability over one", Fault{Kind: KindDrop, Probability: 1.5}},
		{"negative count", Fault{Kind: KindDrop, Count: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := New(Options{})
			if _, err := srv.Inject(tt.fault); err == nil {
				t.Errorf("Inject(%+v): got no error, want one", tt.fault)
			}
			if n := len(srv.Faults()); n != 0 {
				t.Errorf("faults: got %d, want 0", n)
			}
		})
	}
}
