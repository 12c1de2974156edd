package ddsink

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/auditstream/auditstream/ddintake"
)

// TestRequestsAreGzipped checks that the requests the intake gets are
// gzip-compressed, and decode to the JSON the Writer measured.
func TestRequestsAreGzipped(t *testing.T) {
	f := newFixture(t, ddintake.Limits{})
	evs := events(2500)
	if _, err := f.w.Write(context.Background(), batchOf(0, evs...)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	f.checkOnce(t, ids(evs))
	encodings := f.proxy.contentEncodings()
	if len(encodings) != 3 {
		t.Fatalf("requests: got %d, want 3", len(encodings))
	}
	for i, enc := range encodings {
		if enc != "gzip" {
			t.Errorf("request %d: got Content-Encoding %q, want gzip", i+1, enc)
		}
	}
}

// recorder is a transport that keeps the requests it gets and answers 202.
type recorder struct{ got []*http.Request }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.got = append(r.got, req)
	return &http.Response{StatusCode: http.StatusAccepted, Body: io.NopCloser(strings.NewReader("{}")), Request: req}, nil
}

func TestGzipTransport(t *testing.T) {
	body := []byte(strings.Repeat(`[{"message":"hello"}]`, 100))
	tests := []struct {
		name         string
		body         []byte
		encoding     string
		wantEncoding string
		wantGzip     bool
	}{
		{"a body is compressed", body, "", "gzip", true},
		{"an encoded body passes", body, "deflate", "deflate", false},
		{"no body passes", nil, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			tr := &gzipTransport{next: rec, level: 6}
			var rd io.Reader
			if tt.body != nil {
				rd = bytes.NewBuffer(tt.body)
			}
			req, err := http.NewRequest(http.MethodPost, "http://intake.test/api/v2/logs", rd)
			if err != nil {
				t.Fatal(err)
			}
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			req.Header.Set("Content-Length", "123")
			if _, err := tr.RoundTrip(req); err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			if len(rec.got) != 1 {
				t.Fatalf("requests sent: got %d, want 1", len(rec.got))
			}
			sent := rec.got[0]
			if got := sent.Header.Get("Content-Encoding"); got != tt.wantEncoding {
				t.Errorf("Content-Encoding: got %q, want %q", got, tt.wantEncoding)
			}
			if !tt.wantGzip {
				if sent != req {
					t.Errorf("request: got a new one, want the same passed on")
				}
				return
			}
			if req.Header.Get("Content-Encoding") != "" {
				t.Errorf("the caller's request was changed: Content-Encoding %q", req.Header.Get("Content-Encoding"))
			}
			for _, read := range []func() (io.ReadCloser, error){
				func() (io.ReadCloser, error) { return sent.Body, nil },
				sent.GetBody,
			} {
				rc, err := read()
				if err != nil {
					t.Fatal(err)
				}
				z, err := io.ReadAll(rc)
				if err != nil {
					t.Fatal(err)
				}
				if int64(len(z)) != sent.ContentLength {
					t.Errorf("ContentLength: got %d, want the %d bytes sent", sent.ContentLength, len(z))
				}
				got, err := gunzip(z)
				if err != nil || !bytes.Equal(got, tt.body) {
					t.Errorf("body: got %q (%v), want the original gzip-compressed", got, err)
				}
			}
		})
	}
}

// TestCompressionLevel checks that the connector's compression_level is
// the level of the bodies sent: level 9 makes a smaller body than level 1
// of the same logs, and both decode to the same JSON.
func TestCompressionLevel(t *testing.T) {
	evs := events(1000)
	bodies := map[int][]byte{}
	for _, level := range []int{1, 9} {
		rec := &recorder{}
		c := connector("http://intake.test", keyFile(t, testKey))
		dd(c).CompressionLevel = level
		w, err := New(Options{Connector: c, Now: now, HTTPClient: &http.Client{Transport: rec}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(context.Background(), batchOf(0, evs...)); err != nil {
			t.Fatalf("level %d: Write: %v", level, err)
		}
		if len(rec.got) != 1 {
			t.Fatalf("level %d: requests: got %d, want 1", level, len(rec.got))
		}
		b, err := io.ReadAll(rec.got[0].Body)
		if err != nil {
			t.Fatal(err)
		}
		bodies[level] = b
	}
	if len(bodies[9]) >= len(bodies[1]) {
		t.Errorf("level 9 body %d bytes, level 1 body %d: want level 9 smaller", len(bodies[9]), len(bodies[1]))
	}
	a, err := gunzip(bodies[1])
	if err != nil {
		t.Fatal(err)
	}
	b, err := gunzip(bodies[9])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("levels 1 and 9 decode to different bodies (%d and %d bytes)", len(a), len(b))
	}
	c := connector("http://intake.test", keyFile(t, testKey))
	dd(c).CompressionLevel = 10
	if _, err := New(Options{Connector: c}); err == nil || !strings.Contains(err.Error(), "compression_level: 10 is not a gzip level") {
		t.Errorf("level 10: got %v, want an error naming compression_level 10", err)
	}
}
