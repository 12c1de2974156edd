package ddintake_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadog"
	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV2"

	"github.com/auditstream/auditstream/ddintake"
)

// clientContext returns a context that points datadog-api-client-go at ts with key.
func clientContext(ts *httptest.Server, key string) context.Context {
	ctx := context.WithValue(context.Background(), datadog.ContextAPIKeys, map[string]datadog.APIKey{
		"apiKeyAuth": {Key: key},
	})
	ctx = context.WithValue(ctx, datadog.ContextServerIndex, 1)
	return context.WithValue(ctx, datadog.ContextServerVariables, map[string]string{
		"name":     strings.TrimPrefix(ts.URL, "http://"),
		"protocol": "http",
	})
}

// TestDatadogClientCompatibility submits logs through the official Go client, the
// one the Datadog sink uses, and checks the server took them as Datadog would.
func TestDatadogClientCompatibility(t *testing.T) {
	srv := ddintake.New(ddintake.Options{APIKeys: []string{"right"}})
	var encodings []string // the Content-Encoding of each request, as sent
	var mu sync.Mutex
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		encodings = append(encodings, r.Header.Get("Content-Encoding"))
		mu.Unlock()
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)

	cfg := datadog.NewConfiguration()
	cfg.RetryConfiguration.EnableRetry = false
	api := datadogV2.NewLogsApi(datadog.NewAPIClient(cfg))

	items := []datadogV2.HTTPLogItem{
		{
			Message:  `{"id":"evt-1","action":"user.login"}`,
			Ddsource: datadog.PtrString("auditstream"),
			Ddtags:   datadog.PtrString("project:p1,tenant:t1"),
			Hostname: datadog.PtrString("sink-0"),
			Service:  datadog.PtrString("auditstream"),
			AdditionalProperties: map[string]any{
				"timestamp": "2025-06-01T12:00:00Z",
			},
		},
		{Message: `{"id":"evt-2","action":"user.logout"}`},
	}

	tests := []struct {
		name       string
		key        string
		encoding   datadogV2.ContentEncoding
		wantStatus int // 0: accepted
	}{
		{"gzip accepted", "right", datadogV2.CONTENTENCODING_GZIP, 0},
		{"deflate accepted", "right", datadogV2.CONTENTENCODING_DEFLATE, 0},
		{"wrong key rejected", "wrong", datadogV2.CONTENTENCODING_GZIP, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.ClearLogs()
			mu.Lock()
			encodings = nil
			mu.Unlock()
			opts := *datadogV2.NewSubmitLogOptionalParameters().
				WithContentEncoding(tt.encoding).
				WithDdtags("env:ci")
			_, resp, err := api.SubmitLog(clientContext(ts, tt.key), items, opts)

			if tt.wantStatus != 0 {
				var apiErr datadog.GenericOpenAPIError
				if !errors.As(err, &apiErr) {
					t.Fatalf("SubmitLog: got error %v, want a GenericOpenAPIError", err)
				}
				model, ok := apiErr.Model().(datadogV2.HTTPLogErrors)
				if !ok || len(model.Errors) != 1 || model.Errors[0].GetStatus() != "403" || resp.StatusCode != tt.wantStatus {
					t.Errorf("error model: got %#v (status %d), want one HTTPLogError with status 403", apiErr.Model(), resp.StatusCode)
				}
				if n := len(srv.Logs()); n != 0 {
					t.Errorf("stored: got %d logs, want none", n)
				}
				return
			}

			if err != nil {
				t.Fatalf("SubmitLog: %v", err)
			}
			mu.Lock()
			if want := []string{string(tt.encoding)}; !slices.Equal(encodings, want) {
				t.Errorf("Content-Encoding sent: got %q, want %q", encodings, want)
			}
			mu.Unlock()
			if resp.StatusCode != 202 {
				t.Errorf("status: got %d, want 202", resp.StatusCode)
			}
			logs := srv.Logs()
			if got := len(logs); got != 2 {
				t.Fatalf("stored: got %d logs, want 2", got)
			}
			first := logs[0]
			if first.Message != items[0].Message || first.Source != "auditstream" || first.Hostname != "sink-0" || first.Service != "auditstream" {
				t.Errorf("first log: got %+v", first)
			}
			if want := []string{"project:p1", "tenant:t1", "env:ci"}; !slices.Equal(first.TagList(), want) {
				t.Errorf("first log tags: got %q, want %q", first.TagList(), want)
			}
			if first.Timestamp.IsZero() || first.Timestamp.Format("2006-01-02T15:04:05Z07:00") != "2025-06-01T12:00:00Z" {
				t.Errorf("first log timestamp: got %v, want 2025-06-01T12:00:00Z", first.Timestamp)
			}
			if logs[1].Message != items[1].Message {
				t.Errorf("second log message: got %q, want %q", logs[1].Message, items[1].Message)
			}
		})
	}
}

// TestDatadogClientHonoursRateLimitReset checks that the official client, with its
// retries on, reads this server's 429 the way it reads Datadog's: it waits the
// X-RateLimit-Reset seconds and then succeeds.
func TestDatadogClientHonoursRateLimitReset(t *testing.T) {
	// The client's own backoff starts at 2s, so a longer reset shows it was read.
	const reset = 3 * time.Second
	srv := ddintake.New(ddintake.Options{APIKeys: []string{"right"}})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	if _, err := srv.Inject(ddintake.Fault{Kind: ddintake.KindStatus, Status: 429, Count: 1, RateLimit: ddintake.RateLimit{Reset: reset}}); err != nil {
		t.Fatal(err)
	}

	cfg := datadog.NewConfiguration()
	cfg.RetryConfiguration.EnableRetry = true
	api := datadogV2.NewLogsApi(datadog.NewAPIClient(cfg))
	opts := *datadogV2.NewSubmitLogOptionalParameters().WithContentEncoding(datadogV2.CONTENTENCODING_GZIP)

	began := time.Now()
	_, resp, err := api.SubmitLog(clientContext(ts, "right"), []datadogV2.HTTPLogItem{{Message: "after the storm"}}, opts)
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("SubmitLog: got %v, want 202 after one retry", err)
	}
	if waited := time.Since(began); waited < reset {
		t.Errorf("retry: came after %v, want at least the %v reset", waited, reset)
	}
	st := srv.Stats()
	if st.ByStatus[429] != 1 || st.ByStatus[202] != 1 || len(srv.Logs()) != 1 {
		t.Errorf("stats: got %v and %d logs, want one 429, one 202 and one log", st.ByStatus, len(srv.Logs()))
	}
}
