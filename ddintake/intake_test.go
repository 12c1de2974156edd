package ddintake

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestIntakeStatus(t *testing.T) {
	ok := logsBody("a", "b")
	tests := []struct {
		name       string
		req        request
		wantStatus int
		wantDetail string // a substring of the first error's detail
		wantLogs   int
	}{
		{name: "array accepted", req: request{key: testKey, body: ok}, wantStatus: 202, wantLogs: 2},
		{name: "single object accepted", req: request{key: testKey, body: []byte(`{"message":"one"}`)}, wantStatus: 202, wantLogs: 1},
		{name: "empty array accepted", req: request{key: testKey, body: []byte(`[]`)}, wantStatus: 202},
		{name: "missing key", req: request{body: ok}, wantStatus: 401, wantDetail: "missing"},
		{name: "wrong key", req: request{key: "nope", body: ok}, wantStatus: 403, wantDetail: "invalid"},
		{name: "malformed JSON", req: request{key: testKey, body: []byte(`[{"message":"a"`)}, wantStatus: 400, wantDetail: "malformed"},
		{name: "empty body", req: request{key: testKey}, wantStatus: 400, wantDetail: "empty"},
		{name: "JSON string", req: request{key: testKey, body: []byte(`"hello"`)}, wantStatus: 400, wantDetail: "malformed"},
		{name: "entry not an object", req: request{key: testKey, body: []byte(`[{"message":"a"},"b"]`)}, wantStatus: 400, wantDetail: "entry 1: not a JSON object"},
		{name: "bad gzip", req: request{key: testKey, encoding: "gzip", body: ok}, wantStatus: 400, wantDetail: "gzip"},
		{name: "truncated gzip", req: request{key: testKey, encoding: "gzip", body: gzipped(ok)[:20]}, wantStatus: 400, wantDetail: "gzip"},
		{name: "bad deflate", req: request{key: testKey, encoding: "deflate", body: []byte{0xff, 0xff, 0xff}}, wantStatus: 400, wantDetail: "deflate"},
		{name: "unknown encoding", req: request{key: testKey, encoding: "br", body: ok}, wantStatus: 400, wantDetail: "Content-Encoding"},
		{name: "payload at the limit", req: request{key: testKey, body: sized(MaxPayloadBytes)}, wantStatus: 202, wantLogs: 1},
		{name: "payload over the limit", req: request{key: testKey, body: sized(MaxPayloadBytes + 1)}, wantStatus: 413, wantDetail: "5000000"},
		{name: "gzip payload over the limit uncompressed", req: request{key: testKey, encoding: "gzip", body: gzipped(sized(MaxPayloadBytes + 1))}, wantStatus: 413, wantDetail: "uncompressed"},
		{name: "1000 entries", req: request{key: testKey, body: logsBody(messages("m", 1000)...)}, wantStatus: 202, wantLogs: 1000},
		{name: "1001 entries", req: request{key: testKey, body: logsBody(messages("m", 1001)...)}, wantStatus: 413, wantDetail: "1001 entries"},
		{name: "wrong method", req: request{method: http.MethodGet, key: testKey}, wantStatus: 405, wantDetail: "GET"},
		{name: "unknown path", req: request{path: "/api/v1/logs", key: testKey, body: ok}, wantStatus: 404, wantDetail: "/api/v1/logs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, ts := start(t, Options{})
			got := send(t, ts, tt.req)
			if got.status != tt.wantStatus {
				t.Fatalf("status: got %d (%s), want %d", got.status, got.body, tt.wantStatus)
			}
			if n := len(srv.Logs()); n != tt.wantLogs {
				t.Errorf("stored logs: got %d, want %d", n, tt.wantLogs)
			}
			if ct := got.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type: got %q, want application/json", ct)
			}
			if tt.wantStatus == 202 {
				if body := strings.TrimSpace(string(got.body)); body != "{}" {
					t.Errorf("body: got %q, want {}", body)
				}
				return
			}
			errs := got.errors(t)
			if len(errs) == 0 {
				t.Fatalf("errors: got none in %s", got.body)
			}
			if want := http.StatusText(tt.wantStatus); errs[0].Status != itoa(tt.wantStatus) || errs[0].Title != want {
				t.Errorf("error: got status %q title %q, want %q %q", errs[0].Status, errs[0].Title, itoa(tt.wantStatus), want)
			}
			if !strings.Contains(errs[0].Detail, tt.wantDetail) {
				t.Errorf("detail: got %q, want it to contain %q", errs[0].Detail, tt.wantDetail)
			}
		})
	}
}

func TestIntakeWrongMethodAllowHeader(t *testing.T) {
	_, ts := start(t, Options{})
	got := send(t, ts, request{method: http.MethodPut, key: testKey, body: logsBody("a")})
	if got.status != 405 || got.header.Get("Allow") != "POST" {
		t.Errorf("got status %d Allow %q, want 405 Allow POST", got.status, got.header.Get("Allow"))
	}
}

func TestIntakeEncodings(t *testing.T) {
	body := logsBody("first", "second")
	tests := []struct {
		name     string
		encoding string
		body     []byte
	}{
		{"none", "", body},
		{"identity", "identity", body},
		{"gzip", "gzip", gzipped(body)},
		{"gzip upper case", "GZIP", gzipped(body)},
		{"deflate (zlib)", "deflate", zlibbed(body)},
		{"deflate (raw)", "deflate", rawDeflated(body)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, ts := start(t, Options{})
			got := send(t, ts, request{key: testKey, encoding: tt.encoding, body: tt.body})
			if got.status != 202 {
				t.Fatalf("status: got %d (%s), want 202", got.status, got.body)
			}
			if ms := messagesOf(srv.Logs()); !slices.Equal(ms, []string{"first", "second"}) {
				t.Errorf("messages: got %q, want [first second]", ms)
			}
			st := srv.Stats()
			if st.BytesReceived != int64(len(tt.body)) || st.BytesDecoded != int64(len(body)) {
				t.Errorf("bytes: got received %d decoded %d, want %d %d", st.BytesReceived, st.BytesDecoded, len(tt.body), len(body))
			}
		})
	}
}

func TestIntakeLogFields(t *testing.T) {
	clk := newClock()
	srv, ts := start(t, Options{Now: clk.Now})
	recent := clk.Now().Add(-time.Hour)
	old := clk.Now().Add(-19 * time.Hour)
	body := `[
		{"message":"m1","ddsource":"src","ddtags":"a:1,b:2","hostname":"host","service":"svc",
		 "timestamp":` + itoa(int(recent.UnixMilli())) + `,"project":"p1","nested":{"k":[1,2]}},
		{"message":"m2","timestamp":"` + old.Format(time.RFC3339) + `"}
	]`
	got := send(t, ts, request{path: "/api/v2/logs?ddtags=env:ci", key: testKey, body: []byte(body)})
	if got.status != 202 {
		t.Fatalf("status: got %d (%s), want 202", got.status, got.body)
	}
	logs := srv.Logs()
	if len(logs) != 2 {
		t.Fatalf("logs: got %d, want 2", len(logs))
	}
	l := logs[0]
	if l.Message != "m1" || l.Source != "src" || l.Hostname != "host" || l.Service != "svc" {
		t.Errorf("reserved fields: got %+v", l)
	}
	if want := []string{"a:1", "b:2", "env:ci"}; !slices.Equal(l.TagList(), want) {
		t.Errorf("tags: got %q, want %q", l.TagList(), want)
	}
	if !l.Timestamp.Equal(recent.Truncate(time.Millisecond)) || l.TooOld {
		t.Errorf("timestamp: got %v too old %v, want %v and not too old", l.Timestamp, l.TooOld, recent)
	}
	var project string
	if found, err := l.Attribute("project", &project); !found || err != nil || project != "p1" {
		t.Errorf("attribute project: got %q found %v err %v, want p1", project, found, err)
	}
	if string(l.Attributes) != `{"nested":{"k":[1,2]},"project":"p1","timestamp":`+itoa(int(recent.UnixMilli()))+`}` {
		t.Errorf("attributes: got %s", l.Attributes)
	}
	if l.ID != 1 || l.Request != 1 || !l.Received.Equal(clk.Now()) {
		t.Errorf("bookkeeping: got id %d request %d received %v, want 1 1 %v", l.ID, l.Request, l.Received, clk.Now())
	}
	if m2 := logs[1]; !m2.TooOld || m2.ID != 2 || m2.Request != 1 || !slices.Equal(m2.TagList(), []string{"env:ci"}) {
		t.Errorf("second log: got too old %v id %d request %d tags %q, want true 2 1 [env:ci]", m2.TooOld, m2.ID, m2.Request, m2.TagList())
	}
	if st := srv.Stats(); st.EntriesTooOld != 1 {
		t.Errorf("stats too old: got %d, want 1", st.EntriesTooOld)
	}
}

func TestIntakeTruncatesLargeLogs(t *testing.T) {
	big := strings.Repeat("é", MaxLogBytes) // two bytes a rune: 2 MB
	tests := []struct {
		name          string
		messages      []string
		wantTruncated []bool
	}{
		{"single log", []string{big}, []bool{true}},
		{"only the large log of a batch", []string{"small", big, "small too"}, []bool{false, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, ts := start(t, Options{})
			got := send(t, ts, request{key: testKey, encoding: "gzip", body: gzipped(logsBody(tt.messages...))})
			if got.status != 202 {
				t.Fatalf("status: got %d (%s), want 202", got.status, got.body)
			}
			logs := srv.Logs()
			for i, l := range logs {
				if l.Truncated != tt.wantTruncated[i] {
					t.Errorf("log %d truncated: got %v, want %v", i, l.Truncated, tt.wantTruncated[i])
				}
				if l.Truncated {
					if len(l.Message) > MaxLogBytes || len(l.Message) < MaxLogBytes-1000 {
						t.Errorf("log %d message: got %d bytes, want just under %d", i, len(l.Message), MaxLogBytes)
					}
					if !strings.HasPrefix(big, l.Message) {
						t.Errorf("log %d message: not a prefix of the original, or cut inside a rune", i)
					}
				} else if l.Message != tt.messages[i] {
					t.Errorf("log %d message: got %q, want %q", i, l.Message, tt.messages[i])
				}
			}
			if st := srv.Stats(); st.EntriesTruncated != 1 {
				t.Errorf("stats truncated: got %d, want 1", st.EntriesTruncated)
			}
		})
	}
}

func TestSetAPIKeys(t *testing.T) {
	srv, ts := start(t, Options{APIKeys: []string{"old"}})
	steps := []struct {
		name       string
		setKeys    []string // replaces the keys first when not nil
		key        string
		wantStatus int
	}{
		{name: "new key rejected at first", key: "new", wantStatus: 403},
		{name: "old key accepted", key: "old", wantStatus: 202},
		{name: "new key accepted once set", setKeys: []string{"new"}, key: "new", wantStatus: 202},
		{name: "old key rejected once replaced", key: "old", wantStatus: 403},
		{name: "every key rejected with none set", setKeys: []string{}, key: "new", wantStatus: 403},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if step.setKeys != nil {
				srv.SetAPIKeys(step.setKeys...)
			}
			got := send(t, ts, request{key: step.key, body: logsBody("x")})
			if got.status != step.wantStatus {
				t.Errorf("status: got %d, want %d", got.status, step.wantStatus)
			}
		})
	}
}

func TestIntakeConcurrentRequests(t *testing.T) {
	srv, ts := start(t, Options{})
	const clients, batches, perBatch = 8, 10, 50
	errc := make(chan error, clients)
	for c := range clients {
		go func() {
			for b := range batches {
				r, err := trySend(ts, request{key: testKey, encoding: "gzip", body: gzipped(logsBody(messages(itoa(c*batches+b), perBatch)...))})
				if err == nil && r.status != 202 {
					err = &rejection{status: r.status, detail: string(r.body)}
				}
				if err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range clients {
		if err := <-errc; err != nil {
			t.Fatalf("client: %v", err)
		}
	}
	logs := srv.Logs()
	if len(logs) != clients*batches*perBatch {
		t.Fatalf("logs: got %d, want %d", len(logs), clients*batches*perBatch)
	}
	seen := make(map[string]bool)
	for i, l := range logs {
		if l.ID != uint64(i+1) {
			t.Fatalf("log %d: got ID %d, want %d", i, l.ID, i+1)
		}
		seen[l.Message] = true
	}
	if len(seen) != len(logs) {
		t.Errorf("distinct messages: got %d, want %d", len(seen), len(logs))
	}
	if st := srv.Stats(); st.EntriesPerRequest[perBatch] != clients*batches || st.ByStatus[202] != clients*batches {
		t.Errorf("stats: got %d requests of %d entries and %d accepted, want %d", st.EntriesPerRequest[perBatch], perBatch, st.ByStatus[202], clients*batches)
	}
}
