package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/proto/record"
)

func ev(id, project, action string, tenants ...string) event {
	return event{id: id, meta: record.Meta{Project: project, Action: action, Tenants: tenants},
		hour: time.Date(2026, 11, 29, 21, 0, 0, 0, time.UTC)}
}

func TestTargetsApplyEachFilter(t *testing.T) {
	tenantless := true
	p := &config.Pipeline{Connectors: []config.Connector{
		{ID: "s3-all", Type: config.TypeS3, Filter: config.Filter{
			Actions: config.Patterns{Exclude: []string{"TokenRefreshed"}}, Tenantless: &tenantless}},
		{ID: "s3-t1", Type: config.TypeS3, Filter: config.Filter{Tenants: config.Patterns{Include: []string{"T0001"}}}},
		{ID: "dd", Type: config.TypeDatadog, Filter: config.Filter{
			Tenants: config.Patterns{Include: []string{"T000*"}, Exclude: []string{"T0009"}},
			Actions: config.Patterns{Include: []string{"Login*"}}}},
	}}
	evs := []event{
		ev("a", "p", "LoginSucceed", "T0001"),
		ev("b", "p", "TokenRefreshed", "T0001"),
		ev("c", "p", "LoginFailed", "T0001", "T0009"), // exclude wins over a co-tenant
		ev("d", "p", "UserCreated"),                   // tenantless
		ev("e", "p", "LoginSucceed", "T0020"),
	}
	ts, err := targets(p, evs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"s3-all": {"a", "c", "d", "e"},
		"s3-t1":  {"a", "b", "c"},
		"dd":     {"a"},
	}
	for _, tg := range ts {
		var got []string
		for id := range tg.want {
			got = append(got, id)
		}
		slices.Sort(got)
		if !slices.Equal(got, want[tg.id]) {
			t.Errorf("%s: got %v, want %v", tg.id, got, want[tg.id])
		}
	}
	if got := nowhere(append(evs, ev("f", "p", "TokenRefreshed")), ts); got != 1 {
		t.Errorf("routed nowhere: got %d, want 1", got)
	}
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name     string
		typ      config.ConnectorType
		want     []string
		seen     map[string]int
		earlier  int
		unread   int
		problems int
		result   result
	}{
		{name: "complete", typ: config.TypeS3, want: []string{"a", "b"}, seen: map[string]int{"a": 1, "b": 1}, earlier: 7,
			result: result{Expected: 2, Delivered: 2, Earlier: 7}},
		{name: "missing", typ: config.TypeS3, want: []string{"a", "b"}, seen: map[string]int{"a": 1}, problems: 1,
			result: result{Expected: 2, Delivered: 1, Missing: 1}},
		{name: "misrouted", typ: config.TypeS3, want: []string{"a"}, seen: map[string]int{"a": 1, "x": 1}, problems: 1,
			result: result{Expected: 1, Delivered: 1, Unexpected: 1}},
		{name: "duplicated in S3", typ: config.TypeS3, want: []string{"a"}, seen: map[string]int{"a": 3}, problems: 1,
			result: result{Expected: 1, Delivered: 1, Duplicates: 2}},
		{name: "duplicated in Datadog is allowed", typ: config.TypeDatadog, want: []string{"a"}, seen: map[string]int{"a": 2},
			result: result{Expected: 1, Delivered: 1, Duplicates: 1}},
		{name: "unreadable", typ: config.TypeDatadog, want: []string{"a"}, seen: map[string]int{"a": 1}, unread: 1, problems: 1,
			result: result{Expected: 1, Delivered: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := &target{id: "c", typ: tt.typ, want: map[string]bool{}, seen: tt.seen, earlier: tt.earlier, unreadable: tt.unread}
			for _, id := range tt.want {
				tg.want[id] = true
			}
			got := tg.evaluate()
			if len(got.Problems) != tt.problems {
				t.Errorf("problems: got %q, want %d", got.Problems, tt.problems)
			}
			got.Problems = nil
			tt.result.Connector, tt.result.Type = "c", string(tt.typ)
			if fmt.Sprint(got) != fmt.Sprint(tt.result) {
				t.Errorf("got %+v, want %+v", got, tt.result)
			}
			if v := (verdict{Connectors: []result{tg.evaluate()}}); v.ok() != (tt.problems == 0) {
				t.Errorf("verdict ok: got %v, want %v", v.ok(), tt.problems == 0)
			}
		})
	}
}

func TestIsObjectOf(t *testing.T) {
	tests := []struct {
		key, connector string
		want           bool
	}{
		{"audit/p/2026/11/29/21/s3-archive-3-00000000000000001234.ndjson.gz", "s3-archive", true},
		{"s3-archive-12-00000000000000000000.ndjson.gz", "s3-archive", true},
		{"audit/p/2026/11/29/21/s3-archive-2-3-00000000000000001234.ndjson.gz", "s3-archive", false}, // connector s3-archive-2
		{"audit/p/2026/11/29/21/s3-archive-3-00000000000000001234.ndjson.gz", "s3", false},
		{"audit/p/2026/11/29/21/s3-archive-3-1234.ndjson.gz", "s3-archive", false},
		{"audit/_manifests/s3-archive/3/00000000000000001234.json", "s3-archive", false},
	}
	for _, tt := range tests {
		if got := isObjectOf(tt.key, tt.connector); got != tt.want {
			t.Errorf("isObjectOf(%q, %q): got %v, want %v", tt.key, tt.connector, got, tt.want)
		}
	}
}

func TestDirs(t *testing.T) {
	late := ev("b", "proj-b", "X")
	late.hour = time.Date(2026, 11, 29, 22, 0, 0, 0, time.UTC)
	got := dirs([]event{ev("a", "proj-a", "X"), ev("c", "proj-a", "Y"), late, ev("d", "_manifests", "X")})
	want := []string{"_invalid/2026/11/29/21/", "proj-a/2026/11/29/21/", "proj-b/2026/11/29/22/"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestReadPublished(t *testing.T) {
	good := `{"id":"a","projectId":"p","action":"LoginSucceed","tenants":["T0001"],"occurred":"2026-11-29T21:34:56Z"}` + "\n\n" +
		`{"id":"b","projectId":"p","action":"UserCreated","occurred":"2026-11-29T22:00:00Z"}` + "\n"
	evs, err := readPublished(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].id != "a" || evs[0].meta.Tenants[0] != "T0001" || evs[0].hour.Hour() != 21 || evs[1].hour.Hour() != 22 {
		t.Errorf("got %+v", evs)
	}
	for name, in := range map[string]string{
		"not an event": `{"id":"a","tenant":"x"}`,
		"no id":        `{"projectId":"p"}`,
		"twice":        `{"id":"a"}` + "\n" + `{"id":"a"}`,
	} {
		if _, err := readPublished(strings.NewReader(in)); err == nil {
			t.Errorf("%s: got no error", name)
		}
	}
}

// intake serves GET /_intake/logs as the intake test server does, from a
// list of messages, at most limit a page.
func intake(t *testing.T, messages []string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_intake/logs" {
			http.NotFound(w, r)
			return
		}
		since, _ := strconv.Atoi(r.URL.Query().Get("since"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		type log struct {
			ID      uint64 `json:"id"`
			Message string `json:"message"`
		}
		page := struct {
			Logs []log  `json:"logs"`
			Next uint64 `json:"next"`
			More bool   `json:"more"`
		}{Logs: []log{}, Next: uint64(since)}
		for i := since; i < len(messages); i++ {
			if len(page.Logs) == limit {
				page.More = true
				break
			}
			page.Logs = append(page.Logs, log{ID: uint64(i + 1), Message: messages[i]})
			page.Next = uint64(i + 1)
		}
		_ = json.NewEncoder(w).Encode(page)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestIntakePollPagesAndResumes(t *testing.T) {
	var msgs []string
	for i := range pageSize + 3 {
		msgs = append(msgs, fmt.Sprintf(`{"id":"e%d","action":"LoginSucceed"}`, i))
	}
	msgs = append(msgs, `{"id":"old"}`, `{"id":"e0"}`, `{"id":`) // an earlier run's, a duplicate, a truncated one
	srv := intake(t, msgs)
	published := map[string]bool{}
	tg := &target{id: "dd", typ: config.TypeDatadog, want: map[string]bool{}, seen: map[string]int{}}
	for i := range pageSize + 3 {
		published[fmt.Sprintf("e%d", i)] = true
		tg.want[fmt.Sprintf("e%d", i)] = true
	}
	r := &intakeReader{hc: srv.Client(), base: srv.URL}
	if err := r.poll(context.Background(), tg, published); err != nil {
		t.Fatal(err)
	}
	if err := r.poll(context.Background(), tg, published); err != nil { // nothing new: nothing counted twice
		t.Fatal(err)
	}
	got := tg.evaluate()
	if got.Delivered != pageSize+3 || got.Duplicates != 1 || got.Earlier != 1 || tg.unreadable != 1 {
		t.Errorf("got %+v, unreadable %d; want %d delivered, 1 duplicate, 1 earlier, 1 unreadable", got, tg.unreadable, pageSize+3)
	}
}

func TestIntakePollUnreachable(t *testing.T) {
	srv := intake(t, nil)
	srv.Close()
	r := &intakeReader{hc: srv.Client(), base: srv.URL}
	tg := &target{id: "dd", want: map[string]bool{}, seen: map[string]int{}}
	if err := r.poll(context.Background(), tg, nil); err == nil {
		t.Error("got no error from a closed intake")
	}
}

func TestAwait(t *testing.T) {
	tests := []struct {
		name string
		// arrives is the poll at which the event arrives; 0: never.
		arrives  int
		err      error
		wantSeen bool
		wantErr  bool
	}{
		{name: "arrives while waiting", arrives: 3, wantSeen: true},
		{name: "never arrives", arrives: 0},
		{name: "destination unreadable", arrives: 1, err: errors.New("403"), wantSeen: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := &target{id: "c", want: map[string]bool{"a": true}, seen: map[string]int{}}
			polls := 0
			p := func(context.Context, *target) error {
				polls++
				if polls == tt.arrives {
					tg.add("a", true)
				}
				return tt.err
			}
			err := await(context.Background(), []*target{tg}, []poller{p}, 200*time.Millisecond, 10*time.Millisecond, io.Discard)
			if got := tg.complete(); got != tt.wantSeen {
				t.Errorf("complete: got %v, want %v", got, tt.wantSeen)
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("err: got %v, want error %v", err, tt.wantErr)
			}
			if tt.wantSeen && !tt.wantErr && polls != tt.arrives {
				t.Errorf("polls: got %d, want %d (stop once complete)", polls, tt.arrives)
			}
		})
	}
}
