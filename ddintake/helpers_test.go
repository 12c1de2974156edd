package ddintake

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKey is the API key the test servers accept.
const testKey = "test-api-key"

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start serves a new Server with opts on an httptest.Server. Without keys in opts,
// the server accepts testKey.
func start(t *testing.T, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	if opts.APIKeys == nil {
		opts.APIKeys = []string{testKey}
	}
	srv := New(opts)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return srv, ts
}

// reply is what a request got back.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// errors decodes the errors body of r.
func (r reply) errors(t *testing.T) []APIError {
	t.Helper()
	var body ErrorBody
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("decode errors body %q: %v", r.body, err)
	}
	return body.Errors
}

// request is one request to send to a test server.
type request struct {
	method   string // POST when empty
	path     string // /api/v2/logs when empty
	key      string // no DD-API-KEY header when empty
	encoding string // no Content-Encoding header when empty
	body     []byte
}

// send sends req to ts and reads the reply. It fails the test on a transport error.
func send(t *testing.T, ts *httptest.Server, req request) reply {
	t.Helper()
	r, err := trySend(ts, req)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	return r
}

// trySend sends req to ts and returns the reply or the transport error.
func trySend(ts *httptest.Server, req request) (reply, error) {
	if req.method == "" {
		req.method = http.MethodPost
	}
	if req.path == "" {
		req.path = "/api/v2/logs"
	}
	hr, err := http.NewRequest(req.method, ts.URL+req.path, bytes.NewReader(req.body))
	if err != nil {
		return reply{}, err
	}
	hr.Header.Set("Content-Type", "application/json")
	if req.key != "" {
		hr.Header.Set("DD-API-KEY", req.key)
	}
	if req.encoding != "" {
		hr.Header.Set("Content-Encoding", req.encoding)
	}
	resp, err := ts.Client().Do(hr)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// postLogs sends messages as one JSON array with the test key and returns the reply.
func postLogs(t *testing.T, ts *httptest.Server, messages ...string) reply {
	t.Helper()
	return send(t, ts, request{key: testKey, body: logsBody(messages...)})
}

// logsBody returns a JSON array of logs with the given messages.
func logsBody(messages ...string) []byte {
	entries := make([]map[string]any, 0, len(messages))
	for _, m := range messages {
		entries = append(entries, map[string]any{
			"message": m, "ddsource": "auditstream", "service": "audit", "hostname": "h1", "ddtags": "env:test",
		})
	}
	body, err := json.Marshal(entries)
	if err != nil {
		panic(err)
	}
	return body
}

// messages returns n distinct messages with the prefix.
func messages(prefix string, n int) []string {
	ms := make([]string, n)
	for i := range ms {
		ms[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return ms
}

// messagesOf returns the messages of logs.
func messagesOf(logs []Log) []string {
	ms := make([]string, 0, len(logs))
	for _, l := range logs {
		ms = append(ms, l.Message)
	}
	return ms
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zlibbed(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func rawDeflated(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// sized returns a JSON array with one log whose encoding is exactly n bytes.
func sized(n int) []byte {
	const frame = `[{"message":""}]`
	return []byte(`[{"message":"` + strings.Repeat("a", n-len(frame)) + `"}]`)
}

func itoa(n int) string { return strconv.Itoa(n) }
