package status

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestAdminURL(t *testing.T) {
	for _, tc := range []struct{ listen, want string }{
		{"127.0.0.1:9464", "http://127.0.0.1:9464"},
		{":9465", "http://127.0.0.1:9465"},
		{"0.0.0.0:9466", "http://127.0.0.1:9466"},
		{"127.0.0.1:0", ""},
		{"", ""},
		{"nonsense", ""},
	} {
		got, why := adminURL("http", tc.listen)
		if got != tc.want || (got == "") == (why == "") {
			t.Errorf("adminURL(%q) = %q, %q; want %q and a reason only when empty", tc.listen, got, why, tc.want)
		}
	}
}

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `# HELP x y
auditstream_router_transactions_total{result="commit"} 12
auditstream_router_transactions_total{result="abort"} 1
auditstream_sink_last_write_timestamp_seconds{connector="a"} 1.7e+09
auditstream_sink_last_write_timestamp_seconds_other 5
`)
	}))
	defer srv.Close()
	ss, err := scrape(context.Background(), srv.Client(), "", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		want  []string
		value float64
	}{
		{"auditstream_router_transactions_total", []string{`result="commit"`}, 12},
		{"auditstream_router_transactions_total", nil, 13},
		{"auditstream_sink_last_write_timestamp_seconds", nil, 1.7e9},
	} {
		if got, ok := sum(ss, tc.name, tc.want...); !ok || got != tc.value {
			t.Errorf("sum(%s %v) = %v, %v; want %v", tc.name, tc.want, got, ok, tc.value)
		}
	}
}
