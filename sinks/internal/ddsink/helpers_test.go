package ddsink

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/ddintake"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/sinks/internal/batch"
)

// testKey is the API key the test intakes accept.
const testKey = "test-api-key-0123456789"

// epoch is when the test events begin; the clocks of the tests read
// epoch+now.
var epoch = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// now is the fixed time the Writer and the intake read in the tests.
func now() time.Time { return epoch.Add(time.Hour) }

// event returns the i-th test event: a unique id, two tenants, and an
// occurred time i milliseconds after epoch.
func event(i int) *auditv1.Event {
	return &auditv1.Event{
		Id:        fmt.Sprintf("evt-%05d", i),
		ProjectId: "proj-1",
		Action:    "user.login",
		Tenants:   []string{"t1", "t2"},
		ActorId:   "actor-1",
		Occurred:  timestamppb.New(epoch.Add(time.Duration(i) * time.Millisecond)),
	}
}

// events returns test events 0 to n-1.
func events(n int) []*auditv1.Event {
	out := make([]*auditv1.Event, n)
	for i := range out {
		out[i] = event(i)
	}
	return out
}

// withData returns ev with a data field of n bytes, to make its log large.
func withData(ev *auditv1.Event, n int) *auditv1.Event {
	ev.Data = &structpb.Struct{Fields: map[string]*structpb.Value{
		"blob": structpb.NewStringValue(strings.Repeat("x", n)),
	}}
	return ev
}

// batchOf returns a batch of partition 3 holding evs at offsets from first.
func batchOf(first int64, evs ...*auditv1.Event) *batch.Batch {
	b := &batch.Batch{Topic: "audit.connector.dd", Partition: 3, Start: first}
	for i, ev := range evs {
		size := proto.Size(ev)
		b.Items = append(b.Items, batch.Item{Offset: first + int64(i), Event: ev, Size: size})
		b.Bytes += size
	}
	return b
}

// keyFile writes key to a new file and returns its path.
func keyFile(t testing.TB, key string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dd-api-key")
	writeKey(t, path, key)
	return path
}

// writeKey replaces the key in the file at path.
func writeKey(t testing.TB, path, key string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// dd is a test connector's datadog block.
func dd(c *config.Connector) *Config { return c.Settings.(*Config) }

// connector returns a Datadog connector sending to url with the key read
// from keyPath.
func connector(url, keyPath string) *config.Connector {
	return &config.Connector{
		ID:   "dd-test",
		Type: config.TypeDatadog,
		Settings: &Config{
			URL:      url,
			APIKey:   config.Secret{File: keyPath},
			Service:  "audit-svc",
			Source:   "auditstream",
			Hostname: "sink-0",
			Tags:     []string{"env:test", "team:sec"},
		},
	}
}

// fixture is a Writer wired to an intake test server.
type fixture struct {
	intake  *ddintake.Server
	proxy   *proxy
	url     string
	keyPath string
	reg     *prometheus.Registry
	w       *Writer
}

// newFixture starts an intake with limits behind a recording proxy and
// returns a Writer that sends to it with the accepted key.
func newFixture(t *testing.T, limits ddintake.Limits) *fixture {
	t.Helper()
	f := &fixture{
		intake: ddintake.New(ddintake.Options{APIKeys: []string{testKey}, Limits: limits, Now: now}),
		reg:    prometheus.NewRegistry(),
	}
	f.proxy = &proxy{next: f.intake}
	ts := httptest.NewServer(f.proxy)
	t.Cleanup(ts.Close)
	f.url = ts.URL
	f.keyPath = keyFile(t, testKey)
	w, err := New(Options{Connector: connector(f.url, f.keyPath), Registerer: f.reg, Now: now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.w = w
	return f
}

// delivered returns how many times the intake stored each event id, read
// back from the logs' messages.
func (f *fixture) delivered(t *testing.T) map[string]int {
	t.Helper()
	got := make(map[string]int)
	for _, l := range f.intake.Logs() {
		got[messageEvent(t, l.Message).GetId()]++
	}
	return got
}

// checkOnce fails t unless the intake holds each of want exactly once and
// nothing else.
func (f *fixture) checkOnce(t *testing.T, want []string) {
	t.Helper()
	got := f.delivered(t)
	for _, id := range want {
		if got[id] != 1 {
			t.Errorf("event %s: delivered %d times, want once", id, got[id])
		}
	}
	if len(got) != len(want) {
		t.Errorf("delivered %d distinct events, want %d", len(got), len(want))
	}
}

// ids returns the ids of evs.
func ids(evs []*auditv1.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.GetId()
	}
	return out
}

// proxy forwards requests to next, recording each request's URL and
// decoded body size. fail, when set, may answer a request itself with a
// status instead: it sees the request's number (from 1) and decoded body,
// under the proxy's lock.
type proxy struct {
	next http.Handler
	fail func(n int, body []byte) int

	mu        sync.Mutex
	sizes     []int
	encodings []string // each request's Content-Encoding
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body := raw
	if r.Header.Get("Content-Encoding") == "gzip" {
		if body, err = gunzip(raw); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	p.mu.Lock()
	p.sizes = append(p.sizes, len(body))
	p.encodings = append(p.encodings, r.Header.Get("Content-Encoding"))
	code := 0
	if p.fail != nil {
		code = p.fail(len(p.sizes), body)
	}
	p.mu.Unlock()
	if code != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"errors":[{"status":"%d","title":"%s","detail":"injected by the test proxy"}]}`, code, http.StatusText(code))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	p.next.ServeHTTP(w, r)
}

// contentEncodings returns the Content-Encoding of every request so far.
func (p *proxy) contentEncodings() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.encodings...)
}

// bodySizes returns the decoded size of every request so far.
func (p *proxy) bodySizes() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.sizes...)
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}
