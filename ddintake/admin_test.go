package ddintake

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLogsPaging(t *testing.T) {
	srv, ts := start(t, Options{})
	for _, batch := range [][]string{{"a", "b"}, {"c", "d"}, {"e", "f"}} {
		if got := postLogs(t, ts, batch...); got.status != 202 {
			t.Fatalf("post: got %d, want 202", got.status)
		}
	}
	steps := []struct {
		query    string
		want     []string
		wantNext uint64
		wantMore bool
	}{
		{"", []string{"a", "b", "c", "d", "e", "f"}, 6, false},
		{"?since=0&limit=4", []string{"a", "b", "c", "d"}, 4, true},
		{"?since=4&limit=4", []string{"e", "f"}, 6, false},
		{"?since=6", nil, 6, false},
	}
	for _, step := range steps {
		t.Run(step.query, func(t *testing.T) {
			var page LogsPage
			got := send(t, ts, request{method: http.MethodGet, path: "/_intake/logs" + step.query})
			if err := json.Unmarshal(got.body, &page); got.status != 200 || err != nil {
				t.Fatalf("get logs: status %d err %v body %s", got.status, err, got.body)
			}
			if ms := messagesOf(page.Logs); !slices.Equal(ms, step.want) {
				t.Errorf("messages: got %q, want %q", ms, step.want)
			}
			if page.Next != step.wantNext || page.More != step.wantMore {
				t.Errorf("cursor: got next %d more %v, want %d %v", page.Next, page.More, step.wantNext, step.wantMore)
			}
		})
	}

	var page struct {
		Logs []map[string]any `json:"logs"`
	}
	json.Unmarshal(send(t, ts, request{method: http.MethodGet, path: "/_intake/logs?limit=1"}).body, &page)
	for _, field := range []string{"id", "request", "received", "message", "ddsource", "ddtags", "hostname", "service"} {
		if _, ok := page.Logs[0][field]; !ok {
			t.Errorf("log JSON: field %q missing in %v", field, page.Logs[0])
		}
	}

	if got := send(t, ts, request{method: http.MethodDelete, path: "/_intake/logs"}); got.status != 204 {
		t.Fatalf("delete logs: got %d, want 204", got.status)
	}
	if n := len(srv.Logs()); n != 0 {
		t.Fatalf("after delete: got %d logs, want 0", n)
	}
	postLogs(t, ts, "g")
	if logs := srv.Logs(); len(logs) != 1 || logs[0].ID != 7 {
		t.Errorf("after delete: got %+v, want one log with ID 7, IDs are never reused", logs)
	}
}

func TestBadPagingParameters(t *testing.T) {
	_, ts := start(t, Options{})
	for _, q := range []string{"?since=x", "?since=-1", "?limit=many"} {
		if got := send(t, ts, request{method: http.MethodGet, path: "/_intake/logs" + q}); got.status != 400 {
			t.Errorf("%s: got %d, want 400", q, got.status)
		}
	}
}

func TestStatsEndpoint(t *testing.T) {
	_, ts := start(t, Options{})
	postLogs(t, ts, messages("full", 1000)...)
	postLogs(t, ts, messages("full", 1000)...)
	postLogs(t, ts, "a", "b", "c")
	send(t, ts, request{key: "wrong", body: logsBody("x")})
	send(t, ts, request{body: logsBody("x")})

	var st Stats
	got := send(t, ts, request{method: http.MethodGet, path: "/_intake/stats"})
	if err := json.Unmarshal(got.body, &st); err != nil {
		t.Fatalf("decode stats %s: %v", got.body, err)
	}
	want := Stats{
		Requests:          5,
		ByStatus:          map[int]int{202: 3, 403: 1, 401: 1},
		EntriesAccepted:   2003,
		EntriesPerRequest: map[int]int{1000: 2, 3: 1},
	}
	if st.Requests != want.Requests || st.EntriesAccepted != want.EntriesAccepted ||
		!mapsEqual(st.ByStatus, want.ByStatus) || !mapsEqual(st.EntriesPerRequest, want.EntriesPerRequest) {
		t.Errorf("stats: got %+v, want %+v", st, want)
	}
	if !strings.Contains(string(got.body), `"entries_per_request":{"1000":2,"3":1}`) {
		t.Errorf("stats JSON: got %s, want entries_per_request keyed by entry count", got.body)
	}

	send(t, ts, request{method: http.MethodDelete, path: "/_intake/stats"})
	var cleared Stats
	json.Unmarshal(send(t, ts, request{method: http.MethodGet, path: "/_intake/stats"}).body, &cleared)
	if cleared.Requests != 0 || len(cleared.ByStatus) != 0 {
		t.Errorf("stats after delete: got %+v, want zero", cleared)
	}
}

func mapsEqual(a, b map[int]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestControlFaults(t *testing.T) {
	clk := newClock()
	srv, ts := start(t, Options{Now: clk.Now})
	body := `[
		{"kind":"status","status":429,"for":"30s","retry_after":true,"rate_limit":{"limit":10}},
		{"kind":"poison","match":"BAD","count":1}
	]`
	got := send(t, ts, request{path: "/_intake/faults", body: []byte(body)})
	var ids InjectedFaults
	if err := json.Unmarshal(got.body, &ids); got.status != 201 || err != nil || !slices.Equal(ids.IDs, []int{1, 2}) {
		t.Fatalf("inject: got %d %s, want 201 with ids [1 2]", got.status, got.body)
	}

	clk.Advance(12 * time.Second)
	if r := postLogs(t, ts, "m"); r.status != 429 || r.header.Get("X-RateLimit-Reset") != "18" || r.header.Get("Retry-After") != "18" {
		t.Errorf("during storm: got %d reset %q, want 429 18", r.status, r.header.Get("X-RateLimit-Reset"))
	}

	var page FaultsPage
	json.Unmarshal(send(t, ts, request{method: http.MethodGet, path: "/_intake/faults"}).body, &page)
	if len(page.Faults) != 2 || page.Faults[0].State != "active" || page.Faults[0].Hits != 1 ||
		page.Faults[0].Fault.For != 30*time.Second || page.Faults[1].Fault.Match != "BAD" {
		t.Errorf("faults: got %+v", page.Faults)
	}

	if r := send(t, ts, request{method: http.MethodDelete, path: "/_intake/faults/1"}); r.status != 204 {
		t.Fatalf("remove fault 1: got %d, want 204", r.status)
	}
	if r := send(t, ts, request{method: http.MethodDelete, path: "/_intake/faults/1"}); r.status != 404 {
		t.Errorf("remove fault 1 again: got %d, want 404", r.status)
	}
	if r := postLogs(t, ts, "ok", "BAD"); r.status != 400 {
		t.Errorf("poisoned: got %d, want 400", r.status)
	}
	if r := postLogs(t, ts, "ok", "BAD"); r.status != 202 {
		t.Errorf("poison used up: got %d, want 202", r.status)
	}

	send(t, ts, request{path: "/_intake/faults", body: []byte(`{"kind":"drop"}`)})
	if r := send(t, ts, request{method: http.MethodDelete, path: "/_intake/faults"}); r.status != 204 || len(srv.Faults()) != 0 {
		t.Errorf("clear faults: got %d and %d faults, want 204 and none", r.status, len(srv.Faults()))
	}
}

func TestControlFaultsRejectBadInput(t *testing.T) {
	tests := []struct{ name, body string }{
		{"not JSON", `{`},
		{"unknown field", `{"kind":"status","status":503,"cont":2}`},
		{"bad duration", `{"kind":"status","status":503,"for":"soon"}`},
		{"invalid fault", `{"kind":"status","status":200}`},
		{"one invalid of two", `[{"kind":"drop"},{"kind":"poison"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, ts := start(t, Options{})
			if got := send(t, ts, request{path: "/_intake/faults", body: []byte(tt.body)}); got.status != 400 {
				t.Errorf("status: got %d, want 400", got.status)
			}
			if n := len(srv.Faults()); n != 0 {
				t.Errorf("faults: got %d injected, want none", n)
			}
		})
	}
}

func TestFaultJSONRoundTrip(t *testing.T) {
	in := Fault{
		Kind: KindStatus, Status: 429, RetryAfter: true, Count: 3, Probability: 0.25, Seed: 9,
		After: time.Second, For: 90 * time.Second,
		RateLimit: RateLimit{Limit: 5, Period: time.Minute, Reset: 2 * time.Second},
	}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"for":"1m30s"`) {
		t.Errorf("JSON: got %s, want durations as strings", data)
	}
	var out Fault
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("round trip: got %+v, want %+v", out, in)
	}
	var secs Fault
	json.Unmarshal([]byte(`{"kind":"latency","latency":0.5}`), &secs)
	if secs.Latency != 500*time.Millisecond {
		t.Errorf("latency in seconds: got %v, want 500ms", secs.Latency)
	}
}

func TestControlAPIKeys(t *testing.T) {
	_, ts := start(t, Options{APIKeys: []string{"old"}})
	if got := send(t, ts, request{key: "new", body: logsBody("x")}); got.status != 403 {
		t.Fatalf("before: got %d, want 403", got.status)
	}
	if got := send(t, ts, request{method: http.MethodPut, path: "/_intake/api-keys", body: []byte(`{"keys":["new"]}`)}); got.status != 204 {
		t.Fatalf("put keys: got %d, want 204", got.status)
	}
	if got := send(t, ts, request{key: "new", body: logsBody("x")}); got.status != 202 {
		t.Errorf("after: got %d, want 202", got.status)
	}
	if got := send(t, ts, request{key: "old", body: logsBody("x")}); got.status != 403 {
		t.Errorf("old key after: got %d, want 403", got.status)
	}
}

func TestControlResetAndHealth(t *testing.T) {
	srv, ts := start(t, Options{})
	postLogs(t, ts, "a")
	srv.Inject(Fault{Kind: KindDrop})
	if got := send(t, ts, request{path: "/_intake/reset"}); got.status != 204 {
		t.Fatalf("reset: got %d, want 204", got.status)
	}
	if len(srv.Logs()) != 0 || len(srv.Faults()) != 0 || srv.Stats().Requests != 0 {
		t.Errorf("after reset: got %d logs, %d faults, %d requests, want none", len(srv.Logs()), len(srv.Faults()), srv.Stats().Requests)
	}
	if got := postLogs(t, ts, "b"); got.status != 202 {
		t.Errorf("keys after reset: got %d, want 202", got.status)
	}
	if got := send(t, ts, request{method: http.MethodGet, path: "/healthz"}); got.status != 200 {
		t.Errorf("healthz: got %d, want 200", got.status)
	}
}

func TestControlWrongMethod(t *testing.T) {
	_, ts := start(t, Options{})
	got := send(t, ts, request{method: http.MethodPut, path: "/_intake/logs"})
	if got.status != 405 || got.header.Get("Allow") != "GET, DELETE" {
		t.Errorf("got %d Allow %q, want 405 Allow \"GET, DELETE\"", got.status, got.header.Get("Allow"))
	}
}

func TestHundredThousandLogs(t *testing.T) {
	srv, ts := start(t, Options{})
	const requests, perRequest = 100, 1000
	for r := range requests {
		body := gzipped(logsBody(messages(itoa(r), perRequest)...))
		if got := send(t, ts, request{key: testKey, encoding: "gzip", body: body}); got.status != 202 {
			t.Fatalf("request %d: got %d, want 202", r, got.status)
		}
	}
	var page LogsPage
	json.Unmarshal(send(t, ts, request{method: http.MethodGet, path: "/_intake/logs?since=99990"}).body, &page)
	if ms := messagesOf(page.Logs); len(ms) != 10 || ms[9] != "99-999" || page.Next != requests*perRequest {
		t.Errorf("last page: got %d logs ending %q, next %d, want 10 ending 99-999, next %d", len(ms), ms, page.Next, requests*perRequest)
	}
	if st := srv.Stats(); st.EntriesAccepted != requests*perRequest || st.EntriesPerRequest[perRequest] != requests {
		t.Errorf("stats: got %d entries, %d full requests, want %d, %d", st.EntriesAccepted, st.EntriesPerRequest[perRequest], requests*perRequest, requests)
	}
}
