package ddsink

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/auditstream/auditstream/config"
)

// recordingTransport answers every request with 202 and records it.
type recordingTransport struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	rt.mu.Lock()
	rt.reqs = append(rt.reqs, r)
	rt.mu.Unlock()
	return &http.Response{
		StatusCode: http.StatusAccepted,
		Status:     "202 Accepted",
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(strings.NewReader("{}")),
		Request:    r,
	}, nil
}

func TestEndpoint(t *testing.T) {
	tests := []struct {
		site, url string
		want      string
	}{
		{site: "datadoghq.com", want: "https://http-intake.logs.datadoghq.com/api/v2/logs"},
		{site: "datadoghq.eu", want: "https://http-intake.logs.datadoghq.eu/api/v2/logs"},
		{site: "us3.datadoghq.com", want: "https://http-intake.logs.us3.datadoghq.com/api/v2/logs"},
		{site: "us5.datadoghq.com", want: "https://http-intake.logs.us5.datadoghq.com/api/v2/logs"},
		{site: "ap1.datadoghq.com", want: "https://http-intake.logs.ap1.datadoghq.com/api/v2/logs"},
		{site: "ddog-gov.com", want: "https://http-intake.logs.ddog-gov.com/api/v2/logs"},
		{site: "", want: "https://http-intake.logs.datadoghq.com/api/v2/logs"},
		{url: "http://127.0.0.1:8126", want: "http://127.0.0.1:8126/api/v2/logs"},
		{url: "https://proxy.internal:8443/datadog/", want: "https://proxy.internal:8443/datadog/api/v2/logs"},
		{url: "http://[::1]:9000", want: "http://[::1]:9000/api/v2/logs"},
		// A URL takes precedence over a site.
		{site: "datadoghq.eu", url: "http://localhost:1234", want: "http://localhost:1234/api/v2/logs"},
	}
	for _, tt := range tests {
		t.Run(tt.site+tt.url, func(t *testing.T) {
			rt := &recordingTransport{}
			c := connector(tt.url, keyFile(t, testKey))
			dd(c).Site = tt.site
			w, err := New(Options{Connector: c, HTTPClient: &http.Client{Transport: rt}, Now: now})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if _, err := w.Write(context.Background(), batchOf(0, events(2)...)); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if len(rt.reqs) != 1 {
				t.Fatalf("requests: got %d, want 1", len(rt.reqs))
			}
			r := rt.reqs[0]
			if got := r.URL.String(); got != tt.want {
				t.Errorf("url: got %s, want %s", got, tt.want)
			}
			if got := r.Header.Get("Content-Encoding"); got != "gzip" {
				t.Errorf("Content-Encoding: got %q, want gzip", got)
			}
			if got := r.Header.Get("DD-API-KEY"); got != testKey {
				t.Errorf("DD-API-KEY: got %q, want the key from the file", got)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name    string
		change  func(c *config.Connector)
		wantErr string
	}{
		{"unknown site", func(c *config.Connector) { dd(c).Site = "datadoghq.moon" }, "datadog.site: unknown site"},
		{"ftp url", func(c *config.Connector) { dd(c).URL = "ftp://host" }, "want an http or https url"},
		{"url without host", func(c *config.Connector) { dd(c).URL = "http:///path" }, "no host"},
		{"url with credentials", func(c *config.Connector) { dd(c).URL = "https://user:pw@host" }, "scheme, host, port and path only"},
		{"url with query", func(c *config.Connector) { dd(c).URL = "https://host/?a=b" }, "scheme, host, port and path only"},
		{"no api key", func(c *config.Connector) { dd(c).APIKey = config.Secret{} }, "no datadog api key"},
		{"not datadog", func(c *config.Connector) { c.Settings = nil }, "no datadog connector"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := connector("", "/key")
			tt.change(c)
			_, err := New(Options{Connector: c})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New: got %v, want an error containing %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "pw@") {
				t.Errorf("error %q holds the url's password", err)
			}
		})
	}
}
